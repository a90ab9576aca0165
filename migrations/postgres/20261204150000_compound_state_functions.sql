-- The compound state operations (`StateStore::reserve_attempt`,
-- `settle_attempt`, `reserve_attempt_and_accept_step`,
-- `reserve_attempt_and_check_step`) as functions, so that each is one
-- statement: one round trip instead of a transaction of several.
--
-- Each function runs the steps of `store::attempt::reference` one for one,
-- over helpers that are the store's primitive statements (the same SQL as
-- `src/store/sql/state.rs`). A function call is one statement and so runs in
-- one transaction; its first step takes the same transaction-scoped advisory
-- lock on the lockout's counter key that the multi-statement version took,
-- so the compound operations of one account still run one after the other.
-- Inside, every statement sees the rows as the statements before it left
-- them and locks the rows it writes until the end, as before.
--
-- Times are milliseconds since the Unix epoch. The caller computes every
-- end (now + a window, now + a wait) and every gate value: the functions
-- compare and choose, and never do arithmetic on times.
--
-- The crate's own names (the table, these functions) resolve through the
-- caller's search_path, as the store's other statements do: a store given
-- its own schema finds its own table and functions there. Built-in
-- functions are named `pg_catalog.*`, and every operator's operands have
-- the exact types of a built-in one, so that no overload a role could
-- create in a schema on that path (a world-writable `public` before
-- PostgreSQL 15) is a better match than the built-in and chosen instead.
--
-- These functions are for the store's own single-statement calls: one
-- called inside a longer transaction of the caller's would hold the
-- lockout's advisory lock, and (unless `p_synchronous`) make that whole
-- transaction's commit asynchronous, until it ends.

-- The helpers are PL/pgSQL, as the operations are: PL/pgSQL keeps each
-- statement's plan for the session, where a SQL-language function that
-- writes would be planned again at every call.

-- `StateStore::get`, for a gate: the gate's value while it holds (a value
-- that is not 9 bytes reads as a lock until the entry expires, as
-- `Lockout::read_gate` does), else NULL.
CREATE OR REPLACE FUNCTION twofa_gate_held(p_key TEXT, p_now BIGINT) RETURNS BYTEA
LANGUAGE plpgsql AS $$
DECLARE
    v_value BYTEA;
BEGIN
    SELECT value INTO v_value FROM twofa_state WHERE key = p_key AND expires_at > p_now;
    IF v_value IS NULL
       OR (pg_catalog.length(v_value) = 9
           AND ('x' || pg_catalog.encode(substring(v_value FROM 1 FOR 8), 'hex'))::bit(64)::bigint <= p_now)
    THEN
        RETURN NULL;
    END IF;
    RETURN v_value;
END
$$;

-- `StateStore::put`.
CREATE OR REPLACE FUNCTION twofa_put(p_key TEXT, p_value BYTEA, p_expires_at BIGINT) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO twofa_state (key, value, num, expires_at) VALUES (p_key, p_value, 0, p_expires_at)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, num = 0,
        expires_at = excluded.expires_at;
END
$$;

-- `StateStore::put_if_absent`: true if it wrote.
CREATE OR REPLACE FUNCTION twofa_put_if_absent(
    p_key TEXT, p_value BYTEA, p_expires_at BIGINT, p_now BIGINT
) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO twofa_state (key, value, num, expires_at) VALUES (p_key, p_value, 0, p_expires_at)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, num = 0,
        expires_at = excluded.expires_at
    WHERE twofa_state.expires_at <= p_now;
    RETURN FOUND;
END
$$;

-- `StateStore::take`: removes the entry, live or expired; returns it if live.
CREATE OR REPLACE FUNCTION twofa_take(p_key TEXT, p_now BIGINT) RETURNS BYTEA
LANGUAGE plpgsql AS $$
DECLARE
    v_value BYTEA;
    v_expires_at BIGINT;
BEGIN
    DELETE FROM twofa_state WHERE key = p_key RETURNING value, expires_at
    INTO v_value, v_expires_at;
    IF v_expires_at > p_now THEN
        RETURN v_value;
    END IF;
    RETURN NULL;
END
$$;

-- `StateStore::increment`: the count after it, and the window's end.
CREATE OR REPLACE FUNCTION twofa_increment(
    p_key TEXT, p_fresh_end BIGINT, p_extend BOOLEAN, p_now BIGINT,
    OUT o_count BIGINT, OUT o_expires_at BIGINT
)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO twofa_state AS s (key, value, num, expires_at) VALUES (p_key, '', 1, p_fresh_end)
    ON CONFLICT (key) DO UPDATE SET
        num = CASE WHEN s.expires_at > p_now THEN s.num + 1 ELSE 1 END,
        expires_at = CASE WHEN s.expires_at > p_now AND NOT p_extend
                          THEN s.expires_at ELSE excluded.expires_at END
    RETURNING s.num, s.expires_at INTO o_count, o_expires_at;
END
$$;

-- `StateStore::release`.
CREATE OR REPLACE FUNCTION twofa_release(p_key TEXT, p_now BIGINT) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE twofa_state SET num = num - 1 WHERE key = p_key AND expires_at > p_now AND num > 0;
END
$$;

-- `StateStore::advance`: true if it wrote.
CREATE OR REPLACE FUNCTION twofa_advance(
    p_key TEXT, p_value BIGINT, p_expires_at BIGINT, p_now BIGINT
) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO twofa_state (key, value, num, expires_at) VALUES (p_key, '', p_value, p_expires_at)
    ON CONFLICT (key) DO UPDATE SET num = excluded.num, expires_at = excluded.expires_at
    WHERE twofa_state.expires_at <= p_now OR twofa_state.num < excluded.num;
    RETURN FOUND;
END
$$;

-- The lockout and budgets of one attempt (`AttemptSpec`), as the
-- reservation and the settlements take them.
--
-- Budgets: their keys, their windows' fresh ends (now + window) and their
-- maxima, in the spec's order. Waits: for the k-th gate, its end
-- (now + wait) and its value (`Lockout::gate_value`); the last repeats.

-- The first step of every compound operation: the lockout's advisory lock,
-- held to the end of the statement's transaction, so that the compound
-- operations of one account run one after the other. Unless
-- `p_synchronous`, the transaction then commits without waiting for its WAL
-- to reach the disk (`synchronous_commit = off` for this transaction only):
-- other sessions see it at once, as always; a crash of the server can lose
-- the last fraction of a second of these short-lived entries, as a Redis
-- state store can (see `PostgresStore::synchronous_state_commits`).
CREATE OR REPLACE FUNCTION twofa_begin_compound(p_counter TEXT, p_synchronous BOOLEAN)
RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(p_counter, 0::bigint));
    IF NOT p_synchronous THEN
        PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
    END IF;
END
$$;

-- `reference::release_budgets` over the first `p_upto` budgets.
CREATE OR REPLACE FUNCTION twofa_release_budgets(p_keys TEXT[], p_upto INT, p_now BIGINT)
RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. p_upto LOOP
        PERFORM twofa_release(p_keys[i], p_now);
    END LOOP;
END
$$;

-- `reference::succeed`.
CREATE OR REPLACE FUNCTION twofa_succeed(
    p_gate TEXT, p_counter TEXT, p_gates TEXT, p_budget_keys TEXT[], p_now BIGINT
) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM twofa_state WHERE key = p_counter;
    DELETE FROM twofa_state WHERE key = p_gates;
    DELETE FROM twofa_state WHERE key = p_gate;
    PERFORM twofa_release_budgets(p_budget_keys, pg_catalog.cardinality(p_budget_keys), p_now);
END
$$;

-- `reference::hand_back`.
CREATE OR REPLACE FUNCTION twofa_hand_back(
    p_gate TEXT, p_counter TEXT, p_gates TEXT, p_budget_keys TEXT[], p_gated BOOLEAN,
    p_now BIGINT
) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM twofa_release(p_counter, p_now);
    IF p_gated THEN
        PERFORM twofa_release(p_gates, p_now);
        DELETE FROM twofa_state WHERE key = p_gate;
    END IF;
    PERFORM twofa_release_budgets(p_budget_keys, pg_catalog.cardinality(p_budget_keys), p_now);
END
$$;

-- `reference::reserve_attempt`, after the advisory lock.
--
-- o_kind: 0 held (o_gate: the gate's value, or NULL when it ended
-- meanwhile), 1 rate limited (o_budget: the 0-based index, o_budget_end:
-- its window's end), 2 admitted (o_failures, o_gated, o_counts).
CREATE OR REPLACE FUNCTION twofa_reserve_steps(
    p_now BIGINT, p_gate TEXT, p_counter TEXT, p_gates TEXT,
    p_memory_end BIGINT, p_threshold BIGINT,
    p_budget_keys TEXT[], p_budget_ends BIGINT[], p_budget_maxima BIGINT[],
    p_wait_ends BIGINT[], p_wait_values BYTEA[],
    OUT o_kind INT, OUT o_gate BYTEA, OUT o_budget INT, OUT o_budget_end BIGINT,
    OUT o_failures BIGINT, OUT o_gated BOOLEAN, OUT o_counts BIGINT[]
)
LANGUAGE plpgsql AS $$
DECLARE
    v_budgets INT := pg_catalog.cardinality(p_budget_keys);
    v_count BIGINT;
    v_end BIGINT;
    v_k BIGINT;
    v_wait INT;
BEGIN
    o_gate := twofa_gate_held(p_gate, p_now);
    IF o_gate IS NOT NULL THEN
        o_kind := 0;
        RETURN;
    END IF;
    o_counts := '{}';
    FOR i IN 1 .. v_budgets LOOP
        SELECT o_count, o_expires_at INTO v_count, v_end
        FROM twofa_increment(p_budget_keys[i], p_budget_ends[i], false, p_now);
        o_counts := pg_catalog.array_append(o_counts, v_count);
        IF v_count > p_budget_maxima[i] THEN
            PERFORM twofa_release_budgets(p_budget_keys, i, p_now);
            o_kind := 1;
            o_budget := i - 1;
            o_budget_end := v_end;
            RETURN;
        END IF;
    END LOOP;
    SELECT o_count INTO v_count FROM twofa_increment(p_counter, p_memory_end, true, p_now);
    o_kind := 2;
    IF v_count < p_threshold THEN
        o_failures := v_count;
        o_gated := false;
        RETURN;
    END IF;
    -- Provisional: the first gate's wait, raised below once this attempt
    -- knows which gate it is.
    IF NOT twofa_put_if_absent(p_gate, p_wait_values[1], p_wait_ends[1], p_now) THEN
        -- Another attempt set the gate meanwhile: hand everything back.
        PERFORM twofa_release(p_counter, p_now);
        PERFORM twofa_release_budgets(p_budget_keys, v_budgets, p_now);
        o_kind := 0;
        o_gate := twofa_gate_held(p_gate, p_now);
        o_counts := NULL;
        RETURN;
    END IF;
    SELECT o_count INTO v_k FROM twofa_increment(p_gates, p_memory_end, true, p_now);
    v_wait := least(v_k, pg_catalog.cardinality(p_wait_ends));
    IF p_wait_values[v_wait] <> p_wait_values[1] THEN
        PERFORM twofa_put(p_gate, p_wait_values[v_wait], p_wait_ends[v_wait]);
    END IF;
    o_failures := least(p_threshold::NUMERIC + v_k::NUMERIC - 1::NUMERIC,
                        9223372036854775807::NUMERIC)::BIGINT;
    o_gated := true;
END
$$;

-- `StateStore::reserve_attempt`: twofa_reserve_steps' row.
CREATE OR REPLACE FUNCTION twofa_reserve_attempt(
    p_now BIGINT, p_gate TEXT, p_counter TEXT, p_gates TEXT,
    p_memory_end BIGINT, p_threshold BIGINT,
    p_budget_keys TEXT[], p_budget_ends BIGINT[], p_budget_maxima BIGINT[],
    p_wait_ends BIGINT[], p_wait_values BYTEA[], p_synchronous BOOLEAN,
    OUT o_kind INT, OUT o_gate BYTEA, OUT o_budget INT, OUT o_budget_end BIGINT,
    OUT o_failures BIGINT, OUT o_gated BOOLEAN, OUT o_counts BIGINT[], OUT o_outcome INT
)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM twofa_begin_compound(p_counter, p_synchronous);
    SELECT * INTO o_kind, o_gate, o_budget, o_budget_end, o_failures, o_gated, o_counts
    FROM twofa_reserve_steps(p_now, p_gate, p_counter, p_gates, p_memory_end, p_threshold,
                             p_budget_keys, p_budget_ends, p_budget_maxima,
                             p_wait_ends, p_wait_values);
END
$$;

-- `StateStore::settle_attempt`. p_mode: 's' succeeded, 'r' released,
-- 'p' released then put (p_key, p_value, p_expires_at), 't' succeeded if
-- p_key is taken. Returns the taken value.
CREATE OR REPLACE FUNCTION twofa_settle_attempt(
    p_now BIGINT, p_gate TEXT, p_counter TEXT, p_gates TEXT, p_budget_keys TEXT[],
    p_mode TEXT, p_gated BOOLEAN, p_key TEXT, p_value BYTEA, p_expires_at BIGINT,
    p_synchronous BOOLEAN
) RETURNS BYTEA
LANGUAGE plpgsql AS $$
DECLARE
    v_taken BYTEA;
BEGIN
    PERFORM twofa_begin_compound(p_counter, p_synchronous);
    IF p_mode = 's' THEN
        PERFORM twofa_succeed(p_gate, p_counter, p_gates, p_budget_keys, p_now);
    ELSIF p_mode = 'r' THEN
        PERFORM twofa_hand_back(p_gate, p_counter, p_gates, p_budget_keys, p_gated, p_now);
    ELSIF p_mode = 'p' THEN
        PERFORM twofa_hand_back(p_gate, p_counter, p_gates, p_budget_keys, p_gated, p_now);
        PERFORM twofa_put(p_key, p_value, p_expires_at);
    ELSIF p_mode = 't' THEN
        v_taken := twofa_take(p_key, p_now);
        IF v_taken IS NOT NULL THEN
            PERFORM twofa_succeed(p_gate, p_counter, p_gates, p_budget_keys, p_now);
        ELSE
            PERFORM twofa_hand_back(p_gate, p_counter, p_gates, p_budget_keys, p_gated, p_now);
        END IF;
    ELSE
        RAISE EXCEPTION 'twofa: unknown settlement %', p_mode;
    END IF;
    RETURN v_taken;
END
$$;

-- `StateStore::reserve_attempt_and_accept_step` (p_take set) and
-- `reserve_attempt_and_check_step` (p_take NULL): twofa_reserve_steps' row,
-- with o_outcome when admitted: 1 accepted, 2 replayed, 3 gone.
CREATE OR REPLACE FUNCTION twofa_reserve_attempt_and_step(
    p_now BIGINT, p_gate TEXT, p_counter TEXT, p_gates TEXT,
    p_memory_end BIGINT, p_threshold BIGINT,
    p_budget_keys TEXT[], p_budget_ends BIGINT[], p_budget_maxima BIGINT[],
    p_wait_ends BIGINT[], p_wait_values BYTEA[],
    p_step_key TEXT, p_step BIGINT, p_step_expires_at BIGINT, p_take TEXT,
    p_synchronous BOOLEAN,
    OUT o_kind INT, OUT o_gate BYTEA, OUT o_budget INT, OUT o_budget_end BIGINT,
    OUT o_failures BIGINT, OUT o_gated BOOLEAN, OUT o_counts BIGINT[], OUT o_outcome INT
)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM twofa_begin_compound(p_counter, p_synchronous);
    SELECT * INTO o_kind, o_gate, o_budget, o_budget_end, o_failures, o_gated, o_counts
    FROM twofa_reserve_steps(p_now, p_gate, p_counter, p_gates, p_memory_end, p_threshold,
                             p_budget_keys, p_budget_ends, p_budget_maxima,
                             p_wait_ends, p_wait_values);
    IF o_kind <> 2 THEN
        RETURN;
    END IF;
    IF NOT twofa_advance(p_step_key, p_step, p_step_expires_at, p_now) THEN
        o_outcome := 2;
    ELSIF p_take IS NULL THEN
        PERFORM twofa_hand_back(p_gate, p_counter, p_gates, p_budget_keys, o_gated, p_now);
        o_outcome := 1;
    ELSIF twofa_take(p_take, p_now) IS NOT NULL THEN
        PERFORM twofa_succeed(p_gate, p_counter, p_gates, p_budget_keys, p_now);
        o_outcome := 1;
    ELSE
        PERFORM twofa_hand_back(p_gate, p_counter, p_gates, p_budget_keys, o_gated, p_now);
        o_outcome := 3;
    END IF;
END
$$;
