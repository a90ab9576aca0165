//! Who is asking: the client behind a call, for per-client limits and events.

use std::fmt;
use std::net::IpAddr;

/// The longest user agent kept, in bytes; longer ones are cut at a character
/// boundary (a header is attacker-chosen and ends up in logs).
const MAX_USER_AGENT: usize = 256;

/// The client behind a request: its IP address and user agent.
///
/// Pass it with [`Authenticator::with_context`](crate::Authenticator::with_context)
/// on every call an outsider can trigger (login, verify, resend, register,
/// password reset, enrollment). Limits then key on the client as well as on
/// the account, and every event carries it.
///
/// How the IP is found is the application's decision: the socket's peer
/// address, or a header such as `X-Forwarded-For` only when a proxy the
/// application trusts sets it (anyone else can write that header).
///
/// IPv6 clients are grouped by their /64 prefix, the block one subscriber
/// usually holds, so rotating addresses inside it does not reset a limit.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    ip: Option<IpAddr>,
    user_agent: Option<String>,
}

impl RequestContext {
    /// An empty context (no per-client limits apply).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the client's IP address. An IPv4-mapped IPv6 address counts as
    /// the IPv4 address it carries.
    pub fn with_ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip.to_canonical());
        self
    }

    /// Sets the user agent. Control characters are dropped and the text is
    /// cut to 256 bytes; an empty result is no user agent.
    pub fn with_user_agent(mut self, user_agent: &str) -> Self {
        let mut clean = String::with_capacity(user_agent.len().min(MAX_USER_AGENT));
        for c in user_agent.chars().filter(|c| !c.is_control()) {
            if clean.len() + c.len_utf8() > MAX_USER_AGENT {
                break;
            }
            clean.push(c);
        }
        let clean = clean.trim().to_owned();
        self.user_agent = (!clean.is_empty()).then_some(clean);
        self
    }

    /// The client's IP address, when known.
    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }

    /// The client's user agent, when known (sanitised).
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }

    /// The bytes per-client limits key on: the IPv4 address, or the /64
    /// prefix of an IPv6 address. `None` when the IP is unknown.
    pub(crate) fn client_key(&self) -> Option<Vec<u8>> {
        match self.ip? {
            IpAddr::V4(v4) => Some(v4.octets().to_vec()),
            IpAddr::V6(v6) => Some(v6.octets()[..8].to_vec()),
        }
    }
}

impl fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestContext")
            .field("ip", &self.ip)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_groups_by_prefix_and_mapped_v4_is_v4() {
        let a = RequestContext::new().with_ip("2001:db8:1:2::1".parse().unwrap());
        let b = RequestContext::new().with_ip("2001:db8:1:2:ffff::9".parse().unwrap());
        let c = RequestContext::new().with_ip("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a.client_key(), b.client_key());
        assert_ne!(a.client_key(), c.client_key());
        let mapped = RequestContext::new().with_ip("::ffff:192.0.2.7".parse().unwrap());
        assert_eq!(mapped.ip(), Some("192.0.2.7".parse().unwrap()));
        assert_eq!(mapped.client_key(), Some(vec![192, 0, 2, 7]));
        assert_eq!(RequestContext::new().client_key(), None);
    }

    #[test]
    fn user_agent_is_sanitised() {
        let ua = RequestContext::new().with_user_agent("curl/8\r\nX-Evil: 1\u{0}");
        assert_eq!(ua.user_agent(), Some("curl/8X-Evil: 1"));
        let long = RequestContext::new().with_user_agent(&"é".repeat(500));
        assert!(long.user_agent().unwrap().len() <= MAX_USER_AGENT);
        assert_eq!(
            RequestContext::new().with_user_agent(" \n ").user_agent(),
            None
        );
    }
}
