//! `METRICS=1`: the authenticator's counters as Prometheus text on a
//! listener of their own, bound to loopback; the site's port does not
//! serve them, and they name no user.

use super::*;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn metrics_are_served_on_loopback_only_and_name_no_user() {
    let handle = axum_app::metrics::install().unwrap();
    let state = axum_app::state_for_tests_with(
        demo_support::Options::default(),
        axum_app::Config {
            metrics: true,
            ..axum_app::Config::for_tests()
        },
    )
    .await
    .unwrap();
    let mut c = Client::with_state(state);
    c.register("kim").await;
    c.login("kim").await.redirect("/user/kim");
    c.post("/logout", &[]).await;
    c.post(
        "/login",
        &[("username", "kim"), ("password", "wrong horse")],
    )
    .await;

    // Not on the site's own port.
    assert_eq!(c.get("/metrics").await.status, StatusCode::NOT_FOUND);

    let listener = axum_app::metrics::listen(0).await.unwrap();
    let addr = listener.local_addr().unwrap();
    assert!(addr.ip().is_loopback(), "{addr}");
    axum_app::metrics::spawn(listener, handle);
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    for series in [
        "twofa_logins_total{outcome=\"success\",factor=\"none\"} 1",
        "twofa_logins_total{outcome=\"failure\",factor=\"none\"} 1",
        "twofa_events_total{event=\"registered\"} 1",
    ] {
        assert!(text.contains(series), "{series} missing:\n{text}");
    }
    for personal in ["kim", "example.com"] {
        assert!(!text.contains(personal), "{personal} in:\n{text}");
    }
}
