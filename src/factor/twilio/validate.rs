//! Shape checks run before a value reaches a URL, a header or Twilio.

use super::errors::config;
use crate::error::Result;

/// `prefix` + 32 hex digits: the shape of every Twilio SID. Checked before a
/// SID is used in a URL path.
pub(super) fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() == 34 && s.starts_with(prefix) && s.as_bytes()[2..].iter().all(u8::is_ascii_hexdigit)
}

/// `+` then 8 to 15 digits, the first not 0.
pub(super) fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// A BCP-47-ish tag: 2–3 letters, then `-` subtags of 2–8 alphanumerics.
pub(super) fn is_locale(s: &str) -> bool {
    let mut parts = s.split('-');
    let lang_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    lang_ok
        && s.len() <= 35
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The base URL without its trailing `/`; refused unless it is an absolute
/// http(s) URL without credentials, query or fragment (it is shown in
/// `Debug` and every request path is appended to it).
pub(super) fn parse_base_url(raw: &str) -> Result<String> {
    let bad = || {
        config(
            "Twilio base URL must be an absolute http(s) URL without credentials, query or fragment",
        )
    };
    let url = reqwest::Url::parse(raw.trim()).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(bad());
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "VE0123456789abcdef0123456789abcdef";

    #[test]
    fn sid_shapes() {
        assert!(is_sid(SID, "VE"));
        assert!(!is_sid("VE0123456789abcdef0123456789abcde", "VE"));
        assert!(!is_sid("VE0123456789abcdef0123456789abcdeg", "VE"));
        assert!(!is_sid("VE0123456789abcdef0123456789abc/..", "VE"));
        assert!(!is_sid("VA0123456789abcdef0123456789abcdef", "VE"));
        assert!(!is_sid("VE0123456789abcdef0123456789abcdé", "VE"));
        assert!(is_e164("+14155552671"));
        assert!(!is_e164("14155552671"));
        assert!(!is_e164("+1415555267a"));
        assert!(is_locale("pt-BR") && is_locale("en") && !is_locale("e") && !is_locale("en_US"));
    }
}
