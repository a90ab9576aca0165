//! Redirects: only to paths on this site, and never with a `Location` value
//! that cannot be sent (a 500 that would also drop the session).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;

/// Longest `next` accepted, in bytes.
const MAX_LEN: usize = 512;

/// Where to go when a target is refused.
const HOME: &str = "/";

/// A path on this site, safe in a `Location` header: one leading `/` (never
/// `//` or `/\`, which browsers read as another host), visible ASCII only,
/// no backslash, and none of that hidden behind percent-encoding either.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalPath(String);

impl LocalPath {
    /// `raw` when it is such a path, else `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.is_empty() || raw.len() > MAX_LEN {
            return None;
        }
        // Visible ASCII: no controls, no whitespace (browsers drop tabs and
        // newlines, so `/\t/evil.example` becomes `//evil.example`), and
        // nothing a header value cannot hold.
        if !raw.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') || !single_slash(raw) {
            return None;
        }
        // The same rules after percent-decoding (`/%2F/x`, `/%09/x`,
        // `/%5C`), for whatever decodes the path once more. Bytes that are
        // not UTF-8 become U+FFFD, which is harmless.
        let decoded = percent_decode_str(raw).decode_utf8_lossy();
        let clean = decoded
            .chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && c != '\\');
        (clean && single_slash(&decoded)).then(|| LocalPath(raw.to_owned()))
    }

    /// The home page.
    pub fn home() -> Self {
        LocalPath(HOME.to_owned())
    }

    /// The path.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `303 See Other` to this path.
    pub fn see_other(&self) -> Response {
        // The checks above leave only visible ASCII, which a header value
        // always accepts; the fallback keeps that a fact rather than a hope.
        let location =
            HeaderValue::from_str(&self.0).unwrap_or_else(|_| HeaderValue::from_static(HOME));
        (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
    }
}

/// Starts with exactly one `/`, not followed by a backslash.
fn single_slash(s: &str) -> bool {
    s.starts_with('/') && !s.starts_with("//") && !s.starts_with("/\\")
}

/// The `next` target after a login, when it is a path on this site.
pub fn safe_next(next: Option<&str>) -> Option<String> {
    next.and_then(LocalPath::parse).map(|p| p.0)
}

/// `303 See Other` to `to` if it is a path on this site, else to the home
/// page (logged: every caller passes a path it built).
pub fn see_other(to: &str) -> Response {
    LocalPath::parse(to)
        .unwrap_or_else(|| {
            tracing::warn!(target_len = to.len(), "refused redirect target");
            LocalPath::home()
        })
        .see_other()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_site_paths() {
        for ok in [
            "/",
            "/user/a",
            "/user/%C3%A9l%C3%A8ve",
            "/edit_profile?x=1&y=%2F#top",
            "/a/b/../c",
            "/a:b",
            "/login?next=%2Fuser%2Fa",
        ] {
            assert_eq!(safe_next(Some(ok)).as_deref(), Some(ok), "{ok:?}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        let long = format!("/{}", "a".repeat(MAX_LEN));
        for bad in [
            "",
            "user/a",
            "//evil.example",
            "/\\evil.example",
            "/a\\b",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/%09/evil.example",
            "/%0A",
            "/%0d%0aSet-Cookie:x=1",
            "/%00",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "/%5Cevil.example",
            "/a%5Cb",
            "/a%20b",
            "/a b",
            "/a%C2%A0b",
            "/a%E2%80%A8b",
            " /a",
            "/a ",
            "/é",
            "https://evil.example/",
            "javascript:alert(1)",
            "/\u{7f}",
            long.as_str(),
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(safe_next(None), None);
        // Percent-encoded bytes that are not UTF-8 are fine as they are.
        assert_eq!(safe_next(Some("/a%FF")).as_deref(), Some("/a%FF"));
    }

    #[test]
    fn see_other_falls_back_home() {
        let loc = |r: Response| r.headers()[header::LOCATION].to_str().unwrap().to_owned();
        assert_eq!(loc(see_other("/user/a%2Db")), "/user/a%2Db");
        assert_eq!(loc(see_other("/user/a%20")), "/");
        assert_eq!(loc(see_other("/\n")), "/");
        assert_eq!(loc(see_other("//evil.example")), "/");
        assert_eq!(see_other("/é").status(), StatusCode::SEE_OTHER);
    }

    /// Strings made of the characters that matter here, so most start
    /// with `/` and many come close to an escape.
    fn tricky() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("/".to_owned()),
            Just("\\".to_owned()),
            Just("%2F".to_owned()),
            Just("%5C".to_owned()),
            Just("%09".to_owned()),
            Just("%0A".to_owned()),
            Just("%FF".to_owned()),
            Just("%".to_owned()),
            Just(":".to_owned()),
            Just("@".to_owned()),
            Just(".".to_owned()),
            Just("?".to_owned()),
            Just("#".to_owned()),
            "[a-z]{1,3}",
            any::<char>().prop_map(String::from),
        ];
        prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn next_stays_on_the_site(
            s in prop_oneof![any::<String>(), tricky(), tricky().prop_map(|t| format!("/{t}"))]
        ) {
            if let Some(r) = safe_next(Some(&s)) {
                prop_assert!(r.starts_with('/') && !r.starts_with("//"), "{r:?}");
                prop_assert!(!r.chars().any(|c| c.is_control() || c == '\\'), "{r:?}");
                prop_assert!(HeaderValue::from_str(&r).is_ok(), "{r:?}");
                let base = url::Url::parse("https://site.example/").unwrap();
                let joined = base.join(&r).unwrap();
                prop_assert_eq!(joined.scheme(), "https");
                prop_assert_eq!(joined.host_str(), Some("site.example"), "{:?}", r);
                prop_assert_eq!(joined.port(), None);
                prop_assert_eq!(joined.username(), "");
            }
        }
    }
}
