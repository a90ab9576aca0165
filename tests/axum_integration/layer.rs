//! `AuthLayer`: the site's URL decides the cookies, and a router without
//! the layer fails loudly.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use tower::ServiceExt;
use twofa_verify::axum::{AuthConfig, RequireUser, WebError};
use twofa_verify::clock::ManualClock;
use twofa_verify::{ConsoleSms, MemoryStore};

use super::app::{GOOD, Jar, app_at};

/// Over https every cookie is `Secure` and `__Host-`; the browser that
/// sends them back is logged in.
#[tokio::test]
async fn an_https_site_gets_secure_host_cookies() {
    let app = app_at(
        "https://site.example",
        MemoryStore::new(),
        AuthConfig::new(),
        ManualClock::starting_now(),
        ConsoleSms::quiet(),
    );
    app.user("alice").await;
    let mut jar = Jar::default();
    // The anonymous CSRF nonce of the login form.
    let (status, _, _) = jar.get(&app, "/form").await;
    assert_eq!(status, StatusCode::OK);
    let nonce = jar.last_set.join("\n");
    assert!(nonce.starts_with("__Host-twofa_csrf="), "{nonce}");
    assert!(
        nonce.contains("Secure") && nonce.contains("HttpOnly"),
        "{nonce}"
    );
    let (status, _, _) = jar
        .post(&app, "/login", &[("username", "alice"), ("password", GOOD)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let session = jar
        .last_set
        .iter()
        .find(|l| l.starts_with("__Host-twofa_session="))
        .unwrap_or_else(|| panic!("{:?}", jar.last_set));
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(attr), "{session}");
    }
    assert!(!session.contains("Domain"), "{session}");
    assert_eq!(jar.home(&app).await, StatusCode::OK);
}

/// The extractors without the layer: a 500 whose logged error names the
/// missing layer, not a silent failure.
#[tokio::test]
async fn a_router_without_the_layer_answers_500_and_says_why() {
    let app = app_at(
        "http://localhost",
        MemoryStore::new(),
        AuthConfig::new(),
        ManualClock::starting_now(),
        ConsoleSms::quiet(),
    );
    let bare: Router = Router::new()
        .route(
            "/",
            get(|RequireUser(u): RequireUser| async move { u.username }),
        )
        .with_state(app.auth.clone());
    let resp = bare
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let logged = WebError::NoSessionLayer.to_string();
    assert!(logged.contains("AuthLayer"), "{logged}");
}
