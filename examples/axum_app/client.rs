//! Who is asking: the [`Client`] extractor builds the
//! [`RequestContext`] that handlers pass to
//! [`Authenticator::with_context`](twofa_verify::Authenticator::with_context),
//! so the library's per-client limits and its events see the visitor.
//!
//! The IP is the socket's peer address (the server must be served with
//! `into_make_service_with_connect_info::<SocketAddr>()`, as `main.rs`
//! does). Behind a reverse proxy every socket is the proxy's, so with
//! `TRUST_PROXY=1` the right-most address of `X-Forwarded-For` is used
//! instead: that is the one the proxy appended, while everything to its
//! left was written by the client and proves nothing. Without that setting
//! the header is ignored, since anyone can send it.
//!
//! The extractor never fails: a request without connection info (a test
//! driving the router with `oneshot`) gets a context without an IP, and
//! then no per-client limit applies to it.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::{HeaderMap, header, request::Parts};
use twofa_verify::RequestContext;

use super::AppState;

/// The visitor's IP address and user agent, for
/// `state.auth.with_context(client.0)`.
#[derive(Debug, Clone)]
pub struct Client(pub RequestContext);

impl Client {
    /// The context of a request with these headers, from a socket peer
    /// (`None` when unknown), trusting `X-Forwarded-For` when `trust_proxy`.
    pub fn from_parts(headers: &HeaderMap, peer: Option<IpAddr>, trust_proxy: bool) -> Self {
        let forwarded = if trust_proxy {
            // Absent or unparsable: the socket's address, never a guess.
            client_ip::rightmost_x_forwarded_for(headers).ok()
        } else {
            None
        };
        let mut ctx = RequestContext::new();
        if let Some(ip) = forwarded.or(peer) {
            ctx = ctx.with_ip(ip);
        }
        if let Some(ua) = headers.get(header::USER_AGENT) {
            // The library drops control characters and cuts it short.
            ctx = ctx.with_user_agent(&String::from_utf8_lossy(ua.as_bytes()));
        }
        Client(ctx)
    }
}

impl FromRequestParts<AppState> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        // Also finds axum's `MockConnectInfo`, which tests may install.
        let peer = ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
            .await
            .ok()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(Self::from_parts(
            &parts.headers,
            peer,
            state.config.trust_proxy,
        ))
    }
}
