-- The reserving compound operations read `Lockout::hold` too: a gate that
-- an operator sets and clears (an operator's lock of the account), checked
-- before the lockout's own gate, never set or cleared by an attempt.
--
-- These are new overloads, one argument longer (`p_hold`, NULL when the
-- attempt has no account), of the functions of
-- `20261204150000_compound_state_functions`, which stay for instances of
-- the crate that still call them during a rolling upgrade. Each reads the
-- hold, then runs the old function unchanged. The hold is read before the
-- advisory lock: no compound operation writes it, and the operator's
-- writes do not take that lock, so reading it after would order nothing
-- more.
--
-- Built-ins and the crate's own names resolve as in that migration.

-- `StateStore::reserve_attempt` with a hold.
CREATE OR REPLACE FUNCTION twofa_reserve_attempt(
    p_now BIGINT, p_gate TEXT, p_counter TEXT, p_gates TEXT,
    p_memory_end BIGINT, p_threshold BIGINT,
    p_budget_keys TEXT[], p_budget_ends BIGINT[], p_budget_maxima BIGINT[],
    p_wait_ends BIGINT[], p_wait_values BYTEA[], p_synchronous BOOLEAN, p_hold TEXT,
    OUT o_kind INT, OUT o_gate BYTEA, OUT o_budget INT, OUT o_budget_end BIGINT,
    OUT o_failures BIGINT, OUT o_gated BOOLEAN, OUT o_counts BIGINT[], OUT o_outcome INT
)
LANGUAGE plpgsql AS $$
BEGIN
    o_gate := twofa_gate_held(p_hold, p_now);
    IF o_gate IS NOT NULL THEN
        o_kind := 0;
        RETURN;
    END IF;
    SELECT * INTO o_kind, o_gate, o_budget, o_budget_end, o_failures, o_gated, o_counts, o_outcome
    FROM twofa_reserve_attempt(p_now, p_gate, p_counter, p_gates, p_memory_end, p_threshold,
                               p_budget_keys, p_budget_ends, p_budget_maxima,
                               p_wait_ends, p_wait_values, p_synchronous);
END
$$;

-- `StateStore::reserve_attempt_and_accept_step` and
-- `reserve_attempt_and_check_step` with a hold.
CREATE OR REPLACE FUNCTION twofa_reserve_attempt_and_step(
    p_now BIGINT, p_gate TEXT, p_counter TEXT, p_gates TEXT,
    p_memory_end BIGINT, p_threshold BIGINT,
    p_budget_keys TEXT[], p_budget_ends BIGINT[], p_budget_maxima BIGINT[],
    p_wait_ends BIGINT[], p_wait_values BYTEA[],
    p_step_key TEXT, p_step BIGINT, p_step_expires_at BIGINT, p_take TEXT,
    p_synchronous BOOLEAN, p_hold TEXT,
    OUT o_kind INT, OUT o_gate BYTEA, OUT o_budget INT, OUT o_budget_end BIGINT,
    OUT o_failures BIGINT, OUT o_gated BOOLEAN, OUT o_counts BIGINT[], OUT o_outcome INT
)
LANGUAGE plpgsql AS $$
BEGIN
    o_gate := twofa_gate_held(p_hold, p_now);
    IF o_gate IS NOT NULL THEN
        o_kind := 0;
        RETURN;
    END IF;
    SELECT * INTO o_kind, o_gate, o_budget, o_budget_end, o_failures, o_gated, o_counts, o_outcome
    FROM twofa_reserve_attempt_and_step(p_now, p_gate, p_counter, p_gates, p_memory_end,
                                        p_threshold, p_budget_keys, p_budget_ends,
                                        p_budget_maxima, p_wait_ends, p_wait_values,
                                        p_step_key, p_step, p_step_expires_at, p_take,
                                        p_synchronous);
END
$$;
