//! Redirects: only to paths on this site (the library's
//! [`LocalPath`] rules), and never with a `Location` value that cannot be
//! sent (a 500 that would also drop the session).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
pub use twofa_verify::web::{LocalPath, safe_next};

/// `303 See Other` to `to` if it is a path on this site, else to the home
/// page (logged: every caller passes a path it built).
pub fn see_other(to: &str) -> Response {
    let path = LocalPath::or_home(to);
    // A `LocalPath` is visible ASCII, which a header value always
    // accepts; the fallback keeps that a fact rather than a hope.
    let location =
        HeaderValue::from_str(path.as_str()).unwrap_or_else(|_| HeaderValue::from_static("/"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn see_other_falls_back_home() {
        let loc = |r: Response| r.headers()[header::LOCATION].to_str().unwrap().to_owned();
        assert_eq!(loc(see_other("/user/a%2Db")), "/user/a%2Db");
        assert_eq!(loc(see_other("/user/a%20")), "/");
        assert_eq!(loc(see_other("/\n")), "/");
        assert_eq!(loc(see_other("//evil.example")), "/");
        assert_eq!(see_other("/é").status(), StatusCode::SEE_OTHER);
    }
}
