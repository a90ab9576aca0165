//! How a state entry is laid out in one Redis string, and how long Redis
//! keeps it.
//!
//! An entry is `EXPIRY` followed by its body, where `EXPIRY` is the entry's
//! expiry time (the caller's clock, milliseconds) as a [sortable] number of
//! exactly [`WIDTH`] decimal digits. The body is the value's bytes for
//! `put`/`put_if_absent`, the count in decimal for `increment`, and the
//! number as another sortable field for `advance`.
//!
//! Sortable numbers let the Lua scripts compare 64-bit values exactly:
//! Redis's Lua has only doubles, which cannot hold every `i64`.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::error::{Error, Result};

/// Digits of a sortable number: `u64::MAX` has 20.
pub(super) const WIDTH: usize = 20;

/// Redis never keeps an entry longer than this (about ten years), whatever
/// its expiry: a `PX` beyond what the server's clock can add is refused.
const MAX_RETENTION: Duration = Duration::from_secs(10 * 366 * 24 * 3600);

/// `n` as [`WIDTH`] decimal digits whose order as strings (and as two
/// 10-digit halves, which the scripts compare) is the order of the numbers:
/// the sign bit is flipped, so `i64::MIN` is all zeros.
pub(super) fn sortable(n: i64) -> String {
    format!("{:020}", (n as u64) ^ (1 << 63))
}

/// The inverse of [`sortable`]; `None` unless `s` is exactly [`WIDTH`]
/// ASCII digits of a number that fits.
pub(super) fn from_sortable(s: &[u8]) -> Option<i64> {
    if s.len() != WIDTH || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let u: u64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    Some((u ^ (1 << 63)) as i64)
}

/// An entry holding `value` until `expires_at`.
pub(super) fn entry(expires_at: Timestamp, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(WIDTH + value.len());
    out.extend_from_slice(sortable(expires_at.as_millis()).as_bytes());
    out.extend_from_slice(value);
    out
}

/// The body of `entry` if it is live at `now` (its expiry is after `now`);
/// an entry that is not laid out as [`entry`] writes it is an error.
pub(super) fn live_body(entry: &[u8], now: Timestamp) -> Result<Option<&[u8]>> {
    let expires_at = entry
        .get(..WIDTH)
        .and_then(from_sortable)
        .ok_or_else(|| Error::store("malformed state entry in Redis"))?;
    Ok((expires_at > now.as_millis()).then(|| &entry[WIDTH..]))
}

/// How long Redis keeps an entry that expires at `expires_at`, seen from
/// `reference` (the caller's `now`, or the wall clock when the caller gives
/// none), in milliseconds: the time left plus `grace`, at least `grace`, at
/// most about ten years. The entry's own expiry decides whether it is
/// live; this only bounds how long an expired one takes up memory, so it
/// errs long (clocks of several instances may differ by `grace`).
pub(super) fn retention_ms(expires_at: Timestamp, reference: Timestamp, grace: Duration) -> u64 {
    let left = reference.until(expires_at).min(MAX_RETENTION);
    let total = left.saturating_add(grace);
    u64::try_from(total.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sortable_round_trips_and_orders() {
        let samples = [
            i64::MIN,
            i64::MIN + 1,
            -1_000_000_000_000,
            -1,
            0,
            1,
            9_999_999_999,
            10_000_000_000,
            1_000_000_000_000,
            i64::MAX - 1,
            i64::MAX,
        ];
        for &n in &samples {
            let s = sortable(n);
            assert_eq!(s.len(), WIDTH, "{n}");
            assert_eq!(from_sortable(s.as_bytes()), Some(n));
        }
        for pair in samples.windows(2) {
            let (a, b) = (sortable(pair[0]), sortable(pair[1]));
            assert!(a < b, "{a} < {b}");
            // What the scripts compare: the two 10-digit halves as numbers.
            let halves =
                |s: &str| -> (u64, u64) { (s[..10].parse().unwrap(), s[10..].parse().unwrap()) };
            assert!(halves(&a) < halves(&b));
            assert!(halves(&a).0 < 1 << 53 && halves(&a).1 < 1 << 53);
        }
        assert_eq!(sortable(i64::MIN), "0".repeat(WIDTH));
        assert_eq!(sortable(i64::MAX), u64::MAX.to_string());
    }

    #[test]
    fn malformed_sortables_are_refused() {
        for bad in [
            &b""[..],
            b"123",
            b"1844674407370955161",
            b"18446744073709551616",
            b"99999999999999999999",
            b"-0000000000000000001",
            b"0000000000000000000a",
            b"000000000000000000001",
        ] {
            assert_eq!(from_sortable(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn entries_are_live_until_their_expiry() {
        let t = Timestamp::from_millis(1_000);
        let e = entry(t, b"\x00value\xff");
        assert_eq!(
            live_body(&e, Timestamp::from_millis(999)).unwrap(),
            Some(&b"\x00value\xff"[..])
        );
        assert_eq!(live_body(&e, t).unwrap(), None, "expiry == now is expired");
        assert_eq!(
            live_body(&e, Timestamp::from_millis(i64::MAX)).unwrap(),
            None
        );
        let empty = entry(Timestamp::from_millis(i64::MAX), b"");
        assert_eq!(
            live_body(&empty, Timestamp::from_millis(i64::MIN)).unwrap(),
            Some(&b""[..])
        );
        for bad in [&b""[..], b"short", b"x0000000000000001000value"] {
            assert!(matches!(live_body(bad, t), Err(Error::Store(_))), "{bad:?}");
        }
    }

    #[test]
    fn retention_covers_the_lifetime_plus_grace() {
        let grace = Duration::from_secs(3600);
        let now = Timestamp::from_millis(1_000_000);
        let in_a_minute = now.plus(Duration::from_secs(60));
        assert_eq!(retention_ms(in_a_minute, now, grace), 3_660_000);
        // Expired, or seen from a clock far ahead: grace only.
        assert_eq!(retention_ms(now, in_a_minute, grace), 3_600_000);
        assert_eq!(
            retention_ms(Timestamp::from_millis(i64::MIN), now, grace),
            3_600_000
        );
        // Far future: capped, still more than ten years' worth of days.
        let capped = retention_ms(Timestamp::from_millis(i64::MAX), now, grace);
        assert_eq!(capped, (MAX_RETENTION + grace).as_millis() as u64);
        // Never zero (Redis refuses PX 0).
        assert_eq!(retention_ms(now, now, Duration::ZERO), 1);
    }
}
