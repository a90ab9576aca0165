//! The Lua scripts behind the operations that read, decide and write.
//!
//! Redis runs a script as one atomic step: no other command runs in
//! between, on any connection, so of racing callers exactly one sees the
//! state before its write. Each script touches one key (`KEYS[1]`), so it
//! would also run on a Redis Cluster node. `redis::Script` sends `EVALSHA`
//! and, when the server does not know the script yet (first use, restart,
//! `SCRIPT FLUSH`), loads it and retries.
//!
//! Entries are laid out as `codec` describes: 20 digits of expiry, then the
//! body. Times and `advance` numbers arrive as 20-digit sortable strings and
//! are compared by [`PRELUDE`]'s `before`, in two exact 10-digit halves
//! (Lua's numbers are doubles; string comparison would follow the server's
//! locale). An entry that is not laid out so makes the script fail, which
//! the caller sees as `Error::Store`.

use ::redis::Script;

/// Helpers every script starts with.
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
";

/// `put_if_absent`. ARGV: now, the new entry, its retention (ms).
/// Returns 1 if it wrote.
const PUT_IF_ABSENT: &str = r"
local cur = redis.call('GET', KEYS[1])
if live(cur, ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
";

/// `increment`. ARGV: now, the fresh expiry (now + ttl), '1' to extend,
/// the fresh window's retention (ms). Returns {count, expiry}.
///
/// A kept window keeps its Redis TTL too (`KEEPTTL`): it was set when the
/// window opened, from the same expiry. Counts stop at 2^53, where doubles
/// stop counting.
const INCREMENT: &str = r"
local cur = redis.call('GET', KEYS[1])
local n = 1
local exp = ARGV[2]
if live(cur, ARGV[1]) then
  n = tonumber(string.sub(cur, 21)) or 0
  if n < 9007199254740992 then n = n + 1 end
  if ARGV[3] ~= '1' then
    exp = expiry(cur)
    redis.call('SET', KEYS[1], exp .. string.format('%d', n), 'KEEPTTL')
    return {n, exp}
  end
end
redis.call('SET', KEYS[1], exp .. string.format('%d', n), 'PX', ARGV[4])
return {n, exp}
";

/// `release`. ARGV: now. Takes one from a live counter above zero,
/// keeping its expiry and TTL.
const RELEASE: &str = r"
local cur = redis.call('GET', KEYS[1])
if live(cur, ARGV[1]) then
  local n = tonumber(string.sub(cur, 21)) or 0
  if n > 0 then
    redis.call('SET', KEYS[1], expiry(cur) .. string.format('%d', n - 1), 'KEEPTTL')
  end
end
return 0
";

/// `advance`. ARGV: now, the number (sortable), the new entry's expiry,
/// its retention (ms). Returns 1 if it wrote.
const ADVANCE: &str = r"
local cur = redis.call('GET', KEYS[1])
if live(cur, ARGV[1]) then
  local stored = string.sub(cur, 21)
  if #stored == 20 and not before(stored, ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[3] .. ARGV[2], 'PX', ARGV[4])
return 1
";

/// The compiled scripts (each keeps its SHA-1 for `EVALSHA`).
pub(super) struct Scripts {
    pub(super) put_if_absent: Script,
    pub(super) increment: Script,
    pub(super) release: Script,
    pub(super) advance: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        let with_prelude = |body: &str| Script::new(&format!("{PRELUDE}{body}"));
        Scripts {
            put_if_absent: with_prelude(PUT_IF_ABSENT),
            increment: with_prelude(INCREMENT),
            release: with_prelude(RELEASE),
            advance: with_prelude(ADVANCE),
        }
    }
}
