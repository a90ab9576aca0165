//! The client behind a request: IP address and user agent.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, header, request::Parts};

use crate::context::RequestContext;

/// The [`RequestContext`] of a request: the IP address of the socket peer
/// (axum's [`ConnectInfo<SocketAddr>`], present when the app is served with
/// `into_make_service_with_connect_info::<SocketAddr>()`, or a test's
/// [`MockConnectInfo<SocketAddr>`]) and the `User-Agent` header.
///
/// With `trust_proxy`, the right-most address of the last `X-Forwarded-For`
/// header is used instead of the socket's: that is the one the app's own
/// reverse proxy appended, while everything to its left was written by the
/// client and proves nothing. Only turn it on behind a proxy that appends
/// that header, since anyone else can send it. An absent or unparsable
/// header falls back to the socket's address. Without either, the context
/// has no IP and no per-client limit applies.
pub fn request_context(parts: &Parts, trust_proxy: bool) -> RequestContext {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .or_else(|| {
            parts
                .extensions
                .get::<MockConnectInfo<SocketAddr>>()
                .map(|MockConnectInfo(addr)| addr.ip())
        });
    context_from(&parts.headers, peer, trust_proxy)
}

fn context_from(headers: &HeaderMap, peer: Option<IpAddr>, trust_proxy: bool) -> RequestContext {
    let forwarded = if trust_proxy {
        client_ip::rightmost_x_forwarded_for(headers).ok()
    } else {
        None
    };
    let mut ctx = RequestContext::new();
    if let Some(ip) = forwarded.or(peer) {
        ctx = ctx.with_ip(ip);
    }
    if let Some(ua) = headers.get(header::USER_AGENT) {
        // RequestContext drops control characters and cuts it short.
        ctx = ctx.with_user_agent(&String::from_utf8_lossy(ua.as_bytes()));
    }
    ctx
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn forwarded_for_only_when_trusted_and_right_most() {
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "6.6.6.6, 203.0.113.9"),
            ("user-agent", "curl/8"),
        ]);
        let untrusted = context_from(&h, Some(peer), false);
        assert_eq!(untrusted.ip(), Some(peer));
        assert_eq!(untrusted.user_agent(), Some("curl/8"));
        let trusted = context_from(&h, Some(peer), true);
        assert_eq!(trusted.ip(), Some("203.0.113.9".parse().unwrap()));

        let garbage = headers(&[("x-forwarded-for", "6.6.6.6, not-an-ip")]);
        assert_eq!(context_from(&garbage, Some(peer), true).ip(), Some(peer));
        assert_eq!(context_from(&HeaderMap::new(), None, true).ip(), None);
    }

    #[test]
    fn socket_address_from_connect_info() {
        let mut req = axum::http::Request::new(());
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 4], 5000))));
        let (parts, ()) = req.into_parts();
        assert_eq!(
            request_context(&parts, false).ip(),
            Some("192.0.2.4".parse().unwrap())
        );
    }
}
