//! Who is asking: the client behind a call, for per-client limits and events.

use std::fmt;
use std::net::IpAddr;

use crate::policy::{ClientNetworks, RateLimit};

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
/// IPv6 clients are grouped by their /64 prefix, the smallest block one
/// subscriber usually holds, so rotating addresses inside it does not reset
/// a limit; wider networks (IPv6 /56 and /48, IPv4 /24) have limits of their
/// own, larger by [`Policy::client_networks`](crate::Policy::client_networks).
///
/// ```
/// use std::net::IpAddr;
/// use twofa_verify::RequestContext;
///
/// let ctx = RequestContext::new()
///     .with_ip("::ffff:203.0.113.7".parse()?) // IPv4-mapped: read as IPv4
///     .with_user_agent("Mozilla/5.0\r\nX-Evil: 1");
/// assert_eq!(ctx.ip(), Some("203.0.113.7".parse::<IpAddr>()?));
/// assert_eq!(ctx.user_agent(), Some("Mozilla/5.0X-Evil: 1")); // no control characters
/// assert_eq!(RequestContext::new().ip(), None);
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    ip: Option<IpAddr>,
    user_agent: Option<String>,
}

impl RequestContext {
    /// An empty context: no per-client limits apply until
    /// [`with_ip`](Self::with_ip) gives the client's address (see the
    /// [`RequestContext`] example).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the client's IP address. An IPv4-mapped IPv6 address counts as
    /// the IPv4 address it carries (see the [`RequestContext`] example).
    pub fn with_ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip.to_canonical());
        self
    }

    /// Sets the user agent. Control characters are dropped and the text is
    /// cut to 256 bytes; an empty result is no user agent (see the
    /// [`RequestContext`] example).
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

    /// The client's IP address, when known (see the [`RequestContext`]
    /// example).
    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }

    /// The client's user agent, when known, as sanitised by
    /// [`with_user_agent`](Self::with_user_agent) (see the
    /// [`RequestContext`] example).
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }

    /// The networks per-client limits key on, narrowest first, each with
    /// the bytes of its prefix: for IPv4 the address and its /24, for IPv6
    /// the /64, /56 and /48. Prefix lengths differ (4, 3; 8, 7, 6 bytes),
    /// so no two networks share a key. None when the IP is unknown.
    pub(crate) fn client_networks(&self) -> Vec<(ClientNetwork, Vec<u8>)> {
        match self.ip {
            None => Vec::new(),
            Some(IpAddr::V4(v4)) => {
                let o = v4.octets();
                vec![
                    (ClientNetwork::Ipv4Address, o.to_vec()),
                    (ClientNetwork::Ipv4Slash24, o[..3].to_vec()),
                ]
            }
            Some(IpAddr::V6(v6)) => {
                let o = v6.octets();
                vec![
                    (ClientNetwork::Ipv6Slash64, o[..8].to_vec()),
                    (ClientNetwork::Ipv6Slash56, o[..7].to_vec()),
                    (ClientNetwork::Ipv6Slash48, o[..6].to_vec()),
                ]
            }
        }
    }
}

/// A network around a client, for per-client limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientNetwork {
    /// One IPv4 address.
    Ipv4Address,
    /// Its /24.
    Ipv4Slash24,
    /// One IPv6 /64.
    Ipv6Slash64,
    /// Its /56.
    Ipv6Slash56,
    /// Its /48.
    Ipv6Slash48,
}

impl ClientNetwork {
    /// `limit` for this network: the client's own for an address or /64,
    /// widened by the policy's factor for the networks around it.
    pub(crate) fn limit(self, limit: RateLimit, networks: &ClientNetworks) -> RateLimit {
        let factor = match self {
            ClientNetwork::Ipv4Address | ClientNetwork::Ipv6Slash64 => 1,
            ClientNetwork::Ipv4Slash24 => networks.ipv4_24,
            ClientNetwork::Ipv6Slash56 => networks.ipv6_56,
            ClientNetwork::Ipv6Slash48 => networks.ipv6_48,
        };
        ClientNetworks::widen(limit, factor)
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

    fn keys(ip: &str) -> Vec<(ClientNetwork, Vec<u8>)> {
        RequestContext::new()
            .with_ip(ip.parse().unwrap())
            .client_networks()
    }

    #[test]
    fn ipv6_groups_by_prefix_and_mapped_v4_is_v4() {
        let a = keys("2001:db8:1:2::1");
        let b = keys("2001:db8:1:2:ffff::9");
        let c = keys("2001:db8:1:3::1");
        assert_eq!(a, b);
        assert_ne!(a[0], c[0]);
        // The same /56 and /48.
        assert_eq!(a[1..], c[1..]);
        let mapped = RequestContext::new().with_ip("::ffff:192.0.2.7".parse().unwrap());
        assert_eq!(mapped.ip(), Some("192.0.2.7".parse().unwrap()));
        assert_eq!(
            mapped.client_networks(),
            vec![
                (ClientNetwork::Ipv4Address, vec![192, 0, 2, 7]),
                (ClientNetwork::Ipv4Slash24, vec![192, 0, 2]),
            ]
        );
        assert!(RequestContext::new().client_networks().is_empty());
    }

    /// Each network's key is the prefix of its length; /56 and /48 split
    /// where they should, and no two kinds of network share a key length.
    #[test]
    fn networks_are_the_prefixes_of_their_length() {
        let a = keys("2001:db8:aa:bb01::1");
        let same_56 = keys("2001:db8:aa:bbff::1");
        let other_56 = keys("2001:db8:aa:cc01::1");
        let other_48 = keys("2001:db8:ab:bb01::1");
        assert_ne!(a[0], same_56[0]);
        assert_eq!(a[1], same_56[1]);
        assert_ne!(a[1], other_56[1]);
        assert_eq!(a[2], other_56[2]);
        assert_ne!(a[2], other_48[2]);
        assert_eq!(a[2].1, vec![0x20, 0x01, 0x0d, 0xb8, 0x00, 0xaa]);
        let v4 = keys("198.51.100.7");
        assert_eq!(v4[1], keys("198.51.100.250")[1]);
        assert_ne!(v4[1], keys("198.51.101.7")[1]);
        // Link-local, loopback, unspecified, IPv4-compatible, 6to4: keyed by
        // their bytes like any other address, never a panic.
        for ip in [
            "fe80::1",
            "::1",
            "::",
            "::192.0.2.1",
            "2002:c000:0201::1",
            "0.0.0.0",
        ] {
            let k = keys(ip);
            assert!(!k.is_empty(), "{ip}");
        }
        let mut lengths: Vec<usize> = keys("2001:db8::1")
            .iter()
            .chain(keys("192.0.2.1").iter())
            .map(|(_, k)| k.len())
            .collect();
        lengths.dedup();
        assert_eq!(lengths, vec![8, 7, 6, 4, 3]);
    }

    #[test]
    fn wider_networks_get_wider_limits() {
        let limit = RateLimit::new(10, std::time::Duration::from_secs(60));
        let n = ClientNetworks::default();
        assert_eq!(ClientNetwork::Ipv6Slash64.limit(limit, &n).max, 10);
        assert_eq!(ClientNetwork::Ipv6Slash56.limit(limit, &n).max, 40);
        assert_eq!(ClientNetwork::Ipv6Slash48.limit(limit, &n).max, 160);
        assert_eq!(ClientNetwork::Ipv4Address.limit(limit, &n).max, 10);
        assert_eq!(ClientNetwork::Ipv4Slash24.limit(limit, &n).max, 80);
        let huge = RateLimit::new(u32::MAX, limit.window);
        assert_eq!(ClientNetwork::Ipv6Slash48.limit(huge, &n).max, u32::MAX);
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
