//! The Lua scripts behind the operations that read, decide and write.
//!
//! Redis runs a script as one atomic step: no other command runs in
//! between, on any connection, so of racing callers exactly one sees the
//! state before its write. Each single-entry script touches one key
//! (`KEYS[1]`). `redis::Script` sends `EVALSHA`
//! and, when the server does not know the script yet (first use, restart,
//! `SCRIPT FLUSH`), loads it and retries.
//!
//! Entries are laid out as `codec` describes: 20 digits of expiry, then the
//! body. The compound operations' scripts (in `attempt`) touch several
//! keys: a Redis Cluster would need them in one hash slot. Times and
//! `advance` numbers arrive as 20-digit sortable strings and
//! are compared by [`PRELUDE`]'s `before`, in two exact 10-digit halves
//! (Lua's numbers are doubles; string comparison would follow the server's
//! locale). An entry that is not laid out so makes the script fail, which
//! the caller sees as `Error::Store`.

use ::redis::Script;

use super::attempt;

/// Every script starts with these: the comparison, and the primitive
/// operations on one entry (the same as the store's single-key operations),
/// for the scripts to combine.
const PRELUDE: &str = r"
local function before(a, b)
  local ah, bh = tonumber(string.sub(a, 1, 10)), tonumber(string.sub(b, 1, 10))
  if ah ~= bh then return ah < bh end
  return tonumber(string.sub(a, 11, 20)) < tonumber(string.sub(b, 11, 20))
end
local function expiry(entry)
  local e = string.sub(entry, 1, 20)
  if #e ~= 20 or not string.find(e, '^%d+$') then
    error('twofa: malformed state entry')
  end
  return e
end
local function live(entry, now)
  return entry and before(now, expiry(entry))
end
local function get(k, now)
  local cur = redis.call('GET', k)
  if live(cur, now) then return string.sub(cur, 21) end
  return nil
end
local function put(k, exp, body, px)
  redis.call('SET', k, exp .. body, 'PX', px)
end
local function put_if_absent(k, now, exp, body, px)
  if get(k, now) then return false end
  put(k, exp, body, px)
  return true
end
local function count(body)
  return tonumber(body) or 0
end
local function increment(k, now, fresh, extend, px)
  local cur = redis.call('GET', k)
  if not live(cur, now) then
    put(k, fresh, '1', px)
    return 1, fresh
  end
  local n = count(string.sub(cur, 21))
  if n < 9007199254740992 then n = n + 1 end
  if extend then
    put(k, fresh, string.format('%d', n), px)
    return n, fresh
  end
  local exp = expiry(cur)
  redis.call('SET', k, exp .. string.format('%d', n), 'KEEPTTL')
  return n, exp
end
local function release(k, now)
  local cur = redis.call('GET', k)
  if live(cur, now) then
    local n = count(string.sub(cur, 21))
    if n > 0 then
      redis.call('SET', k, expiry(cur) .. string.format('%d', n - 1), 'KEEPTTL')
    end
  end
end
local function advance(k, now, value, exp, px)
  local body = get(k, now)
  if body and #body == 20 and not before(body, value) then return false end
  put(k, exp, value, px)
  return true
end
";

/// `put_if_absent`. ARGV: now, expiry, value, retention (ms). Returns 1 if
/// it wrote.
const PUT_IF_ABSENT: &str = r"
if put_if_absent(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]) then return 1 end
return 0
";

/// `put_if_present`. ARGV: now, expiry, value, retention (ms). Returns 1
/// if it wrote.
const PUT_IF_PRESENT: &str = r"
if not get(KEYS[1], ARGV[1]) then return 0 end
put(KEYS[1], ARGV[2], ARGV[3], ARGV[4])
return 1
";

/// `increment`. ARGV: now, the fresh expiry (now + ttl), '1' to extend,
/// the fresh window's retention (ms). Returns {count, expiry}.
///
/// A kept window keeps its Redis TTL too (`KEEPTTL`): it was set when the
/// window opened, from the same expiry. Counts stop at 2^53, where doubles
/// stop counting.
const INCREMENT: &str = r"
local n, exp = increment(KEYS[1], ARGV[1], ARGV[2], ARGV[3] == '1', ARGV[4])
return {n, exp}
";

/// `release`. ARGV: now. Takes one from a live counter above zero,
/// keeping its expiry and TTL.
const RELEASE: &str = r"
release(KEYS[1], ARGV[1])
return 0
";

/// `advance`. ARGV: now, the number (sortable), the new entry's expiry,
/// its retention (ms). Returns 1 if it wrote.
const ADVANCE: &str = r"
if advance(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]) then return 1 end
return 0
";

/// The compiled scripts (each keeps its SHA-1 for `EVALSHA`).
pub(super) struct Scripts {
    pub(super) put_if_absent: Script,
    pub(super) put_if_present: Script,
    pub(super) increment: Script,
    pub(super) release: Script,
    pub(super) advance: Script,
    pub(super) reserve: Script,
    pub(super) settle: Script,
    pub(super) reserve_and_accept_step: Script,
    pub(super) reserve_and_check_step: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        let with_prelude = |body: &str| Script::new(&format!("{PRELUDE}{body}"));
        let compound =
            |body: &str| Script::new(&format!("{PRELUDE}{}{body}", attempt::COMPOUND_PRELUDE));
        Scripts {
            put_if_absent: with_prelude(PUT_IF_ABSENT),
            put_if_present: with_prelude(PUT_IF_PRESENT),
            increment: with_prelude(INCREMENT),
            release: with_prelude(RELEASE),
            advance: with_prelude(ADVANCE),
            reserve: compound(attempt::RESERVE),
            settle: compound(attempt::SETTLE),
            reserve_and_accept_step: compound(attempt::RESERVE_AND_ACCEPT_STEP),
            reserve_and_check_step: compound(attempt::RESERVE_AND_CHECK_STEP),
        }
    }
}
