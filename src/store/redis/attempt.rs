//! The compound operations of [`StateStore`](crate::store::StateStore)
//! (`reserve_attempt`, `settle_attempt`, `reserve_attempt_and_accept_step`,
//! `reserve_attempt_and_check_step`)
//! as one Lua script each: the steps of `attempt::reference`, one for one,
//! over the prelude's primitives, so each is atomic and one round trip.
//!
//! The scripts never do arithmetic on times: every expiry, gate end and
//! retention they may need is computed here and passed in (one set per
//! wait of the lockout); the scripts only compare and choose.

use std::time::Duration;

use ::redis::Value;

use super::{RedisStore, codec};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::store::compound_reply;
use crate::store::{
    Admission, AttemptSpec, Lockout, Reservation, Settlement, StepAcceptance, StepCheck,
    StepOutcome,
};

/// Helpers of the compound scripts, after the primitives.
pub(super) const COMPOUND_PRELUDE: &str = r"
local function be_after(a, b)
  for i = 1, 8 do
    local x, y = string.byte(a, i), string.byte(b, i)
    if i == 1 then x = (x + 128) % 256; y = (y + 128) % 256 end
    if x ~= y then return x > y end
  end
  return false
end
local LOCK_FOREVER = string.char(127, 255, 255, 255, 255, 255, 255, 255, 1)
local function gate_held(k, now, now_be)
  local body = get(k, now)
  if not body then return nil end
  if #body ~= 9 then return LOCK_FOREVER end
  if be_after(body, now_be) then return body end
  return nil
end
local function take(k, now)
  local cur = redis.call('GETDEL', k)
  if live(cur, now) then return string.sub(cur, 21) end
  return nil
end
local function release_budgets(now, nb, upto)
  for j = 1, upto do release(KEYS[3 + j], now) end
end
local function succeed(now, nb)
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[1])
  release_budgets(now, nb, nb)
end
local function hand_back(now, nb, gated)
  release(KEYS[2], now)
  if gated then
    release(KEYS[3], now)
    redis.call('DEL', KEYS[1])
  end
  release_budgets(now, nb, nb)
end
-- KEYS: gate, counter, gates, budgets, hold (the gate again when there is
-- none). ARGV: now, now (8 bytes), budgets,
-- memory expiry, memory retention, threshold, waits; per budget: expiry,
-- retention, max; per wait: gate end (sortable), gate value (end, 8 bytes,
-- then the lock flag), retention, '1' if it differs from the first's.
-- Returns {0, gate value or false} | {1, budget index, expiry} |
-- {2, failures, gated, 0, counts...}.
local function reserve(now, now_be)
  local nb = tonumber(ARGV[3])
  local held = gate_held(KEYS[4 + nb], now, now_be) or gate_held(KEYS[1], now, now_be)
  if held then return {0, held} end
  local counts = {}
  for i = 1, nb do
    local a = 8 + 3 * (i - 1)
    local n, exp = increment(KEYS[3 + i], now, ARGV[a], false, ARGV[a + 1])
    counts[i] = n
    if n > tonumber(ARGV[a + 2]) then
      release_budgets(now, nb, i)
      return {1, i - 1, exp}
    end
  end
  local n = increment(KEYS[2], now, ARGV[4], true, ARGV[5])
  local threshold = tonumber(ARGV[6])
  local reply = {2, n, 0, 0}
  if n >= threshold then
    local w = 8 + 3 * nb
    if not put_if_absent(KEYS[1], now, ARGV[w], ARGV[w + 1], ARGV[w + 2]) then
      release(KEYS[2], now)
      release_budgets(now, nb, nb)
      return {0, gate_held(KEYS[1], now, now_be) or false}
    end
    local k = increment(KEYS[3], now, ARGV[4], true, ARGV[5])
    local a = w + 4 * (math.min(k, tonumber(ARGV[7])) - 1)
    if ARGV[a + 3] == '1' then put(KEYS[1], ARGV[a], ARGV[a + 1], ARGV[a + 2]) end
    reply = {2, threshold + k - 1, 1, 0}
  end
  for i = 1, nb do reply[4 + i] = counts[i] end
  return reply
end
";

/// `reserve_attempt`: [`reserve`](COMPOUND_PRELUDE)'s reply.
pub(super) const RESERVE: &str = r"
return reserve(ARGV[1], ARGV[2])
";

/// `settle_attempt`. KEYS: gate, counter, gates, budgets, then the entry
/// to put or take. ARGV: now, budgets, mode (`s` succeeded, `r` released,
/// `p` released then put, `t` succeeded if taken), '1' if gated, then for
/// `p` the entry's expiry, value and retention. Returns the taken value.
pub(super) const SETTLE: &str = r"
local now, nb, mode, gated = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4] == '1'
local extra = KEYS[4 + nb]
if mode == 's' then
  succeed(now, nb)
elseif mode == 'r' then
  hand_back(now, nb, gated)
elseif mode == 'p' then
  hand_back(now, nb, gated)
  put(extra, ARGV[5], ARGV[6], ARGV[7])
else
  local v = take(extra, now)
  if v then
    succeed(now, nb)
    return v
  end
  hand_back(now, nb, gated)
end
return false
";

/// `reserve_attempt_and_accept_step`. KEYS: as for [`RESERVE`], then the
/// step's key and the entry to take. ARGV: as for `RESERVE`, then the step
/// (sortable), its expiry and retention. Returns `reserve`'s reply with
/// the outcome in place 4 when admitted: 1 accepted, 2 replayed, 3 gone.
pub(super) const RESERVE_AND_ACCEPT_STEP: &str = r"
local now = ARGV[1]
local reply = reserve(now, ARGV[2])
if reply[1] ~= 2 then return reply end
local nb = tonumber(ARGV[3])
local s = 8 + 3 * nb + 4 * tonumber(ARGV[7])
if not advance(KEYS[5 + nb], now, ARGV[s], ARGV[s + 1], ARGV[s + 2]) then
  reply[4] = 2
  return reply
end
if take(KEYS[6 + nb], now) then
  succeed(now, nb)
  reply[4] = 1
else
  hand_back(now, nb, reply[3] == 1)
  reply[4] = 3
end
return reply
";

/// `reserve_attempt_and_check_step`. KEYS: as for [`RESERVE`], then the
/// step's key. ARGV: as for [`RESERVE_AND_ACCEPT_STEP`]. Returns
/// `reserve`'s reply with the outcome in place 4 when admitted: 1
/// accepted (the attempt handed back), 2 replayed.
pub(super) const RESERVE_AND_CHECK_STEP: &str = r"
local now = ARGV[1]
local reply = reserve(now, ARGV[2])
if reply[1] ~= 2 then return reply end
local nb = tonumber(ARGV[3])
local s = 8 + 3 * nb + 4 * tonumber(ARGV[7])
if not advance(KEYS[5 + nb], now, ARGV[s], ARGV[s + 1], ARGV[s + 2]) then
  reply[4] = 2
  return reply
end
hand_back(now, nb, reply[3] == 1)
reply[4] = 1
return reply
";

impl RedisStore {
    /// Adds `reserve`'s keys and arguments (see [`COMPOUND_PRELUDE`]) to `inv`.
    fn reserve_args(
        &self,
        inv: &mut ::redis::ScriptInvocation<'_>,
        spec: &AttemptSpec,
        now: Timestamp,
    ) {
        let l = &spec.lockout;
        inv.key(self.key(&l.gate))
            .key(self.key(&l.counter))
            .key(self.key(&l.gates));
        for b in &spec.budgets {
            inv.key(self.key(&b.key));
        }
        // Without a hold, the gate stands in: the key list keeps its shape.
        inv.key(self.key(l.hold.as_deref().unwrap_or(&l.gate)));
        // An empty list waits one second, as the reference does.
        let waits: Vec<Duration> = if l.waits.is_empty() {
            vec![Duration::from_secs(1)]
        } else {
            l.waits.clone()
        };
        let memory_end = now.plus(l.memory);
        inv.arg(codec::sortable(now.as_millis()))
            .arg(now.as_millis().to_be_bytes().as_slice())
            .arg(spec.budgets.len())
            .arg(codec::sortable(memory_end.as_millis()))
            .arg(self.retention(memory_end, now))
            .arg(l.threshold)
            .arg(waits.len());
        for b in &spec.budgets {
            let end = now.plus(b.window);
            inv.arg(codec::sortable(end.as_millis()))
                .arg(self.retention(end, now))
                .arg(b.max);
        }
        let first = l.wait(1);
        for k in 1..=waits.len() {
            let (wait, lock) = l.wait(k as u64);
            let until = now.plus(wait);
            inv.arg(codec::sortable(until.as_millis()))
                .arg(Lockout::gate_value(until, lock).as_slice())
                .arg(self.retention(until, now))
                .arg(if (wait, lock) != first { "1" } else { "0" });
        }
    }

    /// [`StateStore::reserve_attempt`](crate::store::StateStore::reserve_attempt) in one script.
    pub(super) async fn redis_reserve_attempt(
        &self,
        spec: &AttemptSpec,
        now: Timestamp,
    ) -> Result<Admission> {
        let mut inv = self.shared.scripts.reserve.prepare_invoke();
        self.reserve_args(&mut inv, spec, now);
        let reply: Vec<Value> = self.run(&inv).await?;
        Ok(admission(reply, spec, now)?.0)
    }

    /// [`StateStore::settle_attempt`](crate::store::StateStore::settle_attempt) in one script.
    pub(super) async fn redis_settle_attempt(
        &self,
        spec: &AttemptSpec,
        settlement: Settlement<'_>,
        now: Timestamp,
    ) -> Result<Option<Vec<u8>>> {
        let l = &spec.lockout;
        let mut inv = self.shared.scripts.settle.prepare_invoke();
        inv.key(self.key(&l.gate))
            .key(self.key(&l.counter))
            .key(self.key(&l.gates));
        for b in &spec.budgets {
            inv.key(self.key(&b.key));
        }
        inv.arg(codec::sortable(now.as_millis()))
            .arg(spec.budgets.len());
        let flag = |gated: bool| if gated { "1" } else { "0" };
        match settlement {
            Settlement::Succeeded => {
                inv.arg("s").arg("0");
            }
            Settlement::Released { gated } => {
                inv.arg("r").arg(flag(gated));
            }
            Settlement::ReleasedThenPut {
                gated,
                key,
                value,
                expires_at,
            } => {
                // `put` has no `now`: its retention is seen from the wall
                // clock, as in `StateStore::put`.
                let wall = crate::clock::Clock::now(&crate::clock::SystemClock);
                inv.key(self.key(key))
                    .arg("p")
                    .arg(flag(gated))
                    .arg(codec::sortable(expires_at.as_millis()))
                    .arg(value)
                    .arg(self.retention(expires_at, wall));
            }
            Settlement::SucceededIfTaken { gated, key } => {
                inv.key(self.key(key)).arg("t").arg(flag(gated));
            }
        }
        self.run(&inv).await
    }

    /// [`StateStore::reserve_attempt_and_accept_step`](crate::store::StateStore::reserve_attempt_and_accept_step)
    /// in one script.
    pub(super) async fn redis_reserve_attempt_and_accept_step(
        &self,
        spec: &AttemptSpec,
        step: StepAcceptance<'_>,
        now: Timestamp,
    ) -> Result<(Admission, Option<StepOutcome>)> {
        let mut inv = self.shared.scripts.reserve_and_accept_step.prepare_invoke();
        self.reserve_args(&mut inv, spec, now);
        inv.key(self.key(step.key))
            .key(self.key(step.take))
            .arg(codec::sortable(step.step))
            .arg(codec::sortable(step.expires_at.as_millis()))
            .arg(self.retention(step.expires_at, now));
        let reply: Vec<Value> = self.run(&inv).await?;
        compound_reply::step_answer(admission(reply, spec, now)?, true, "the Redis step script")
    }

    /// [`StateStore::reserve_attempt_and_check_step`](crate::store::StateStore::reserve_attempt_and_check_step)
    /// in one script.
    pub(super) async fn redis_reserve_attempt_and_check_step(
        &self,
        spec: &AttemptSpec,
        step: StepCheck<'_>,
        now: Timestamp,
    ) -> Result<(Admission, Option<StepOutcome>)> {
        let mut inv = self.shared.scripts.reserve_and_check_step.prepare_invoke();
        self.reserve_args(&mut inv, spec, now);
        inv.key(self.key(step.key))
            .arg(codec::sortable(step.step))
            .arg(codec::sortable(step.expires_at.as_millis()))
            .arg(self.retention(step.expires_at, now));
        let reply: Vec<Value> = self.run(&inv).await?;
        compound_reply::step_answer(admission(reply, spec, now)?, false, "the Redis step script")
    }
}

/// Reads `reserve`'s reply (and the step outcome in place 4, if any).
fn admission(
    reply: Vec<Value>,
    spec: &AttemptSpec,
    now: Timestamp,
) -> Result<(Admission, Option<StepOutcome>)> {
    let bad = || Error::store("unexpected reply from the Redis attempt script");
    let int = |v: &Value| match v {
        Value::Int(n) => u64::try_from(*n).map_err(|_| bad()),
        _ => Err(bad()),
    };
    let bytes = |v: &Value| match v {
        Value::BulkString(b) => Ok(Some(b.clone())),
        Value::Nil => Ok(None),
        _ => Err(bad()),
    };
    match reply.first().map(int).transpose()? {
        Some(0) => {
            let gate = bytes(reply.get(1).ok_or_else(bad)?)?;
            Ok((
                compound_reply::held(gate.as_deref(), &spec.lockout, now),
                None,
            ))
        }
        Some(1) => {
            let budget = usize::try_from(int(reply.get(1).ok_or_else(bad)?)?).map_err(|_| bad())?;
            let exp = bytes(reply.get(2).ok_or_else(bad)?)?.ok_or_else(bad)?;
            let exp = codec::from_sortable(&exp).ok_or_else(bad)?;
            Ok((
                compound_reply::rate_limited(budget, Timestamp::from_millis(exp), now),
                None,
            ))
        }
        Some(2) if reply.len() >= 4 => {
            let failures = int(&reply[1])?;
            let gated = int(&reply[2])? == 1;
            let outcome = compound_reply::step_outcome(int(&reply[3])?).map_err(|()| bad())?;
            let counts = reply[4..].iter().map(int).collect::<Result<Vec<_>>>()?;
            Ok((
                Admission::Admitted(Reservation {
                    failures,
                    gated,
                    counts,
                }),
                outcome,
            ))
        }
        _ => Err(bad()),
    }
}
