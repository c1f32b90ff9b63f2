//! The SSRF guard: which addresses Ballotwatch refuses to connect to.
//!
//! A feed, or a redirect from one, must not be able to make Ballotwatch probe the network it
//! runs in (the council's intranet, a cloud metadata endpoint, a router's admin page). Unless
//! `[ingest] allow_private_addresses = true`, the fetcher refuses every address that is not
//! globally routable: loopback, private (RFC 1918), link-local, shared/CGNAT, IPv6 unique-local
//! and site-local, multicast, broadcast, unspecified, documentation, benchmarking and reserved
//! ranges. IPv6 addresses that embed an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64 and
//! 6to4) are judged by the IPv4 address inside them.
//!
//! The guard is applied in three places: IP-literal URLs before a request is sent, the host of
//! every redirect hop that is an IP literal, and every address a host name resolves to (in the
//! fetcher's own DNS resolver, so the check and the connection use the same addresses). Host
//! names are never trusted by name: `localhost` is refused because it resolves to loopback.

use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// The advice every refusal ends with.
pub(crate) const ALLOW_HINT: &str = "set [ingest] allow_private_addresses = true to allow";

/// Why an address is refused, as a phrase that reads after "a"/"an": `"a private address"`.
///
/// Returns `None` for globally routable addresses, which the guard allows.
pub fn blocked_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => blocked_v6(v6),
    }
}

/// True when the guard allows connecting to `ip` with `allow_private_addresses` off.
pub fn is_public(ip: IpAddr) -> bool {
    blocked_reason(ip).is_none()
}

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let reason = if ip.is_unspecified() {
        "an unspecified address"
    } else if a == 0 {
        "a \"this network\" address (0.0.0.0/8)"
    } else if ip.is_loopback() {
        "a loopback address"
    } else if ip.is_private() {
        "a private address"
    } else if ip.is_link_local() {
        "a link-local address"
    } else if a == 100 && (b & 0b1100_0000) == 64 {
        "a shared (carrier-grade NAT) address"
    } else if ip.is_broadcast() {
        "a broadcast address"
    } else if ip.is_multicast() {
        "a multicast address"
    } else if ip.is_documentation() {
        "a documentation address"
    } else if a == 198 && (b & 0xfe) == 18 {
        "a benchmarking address"
    } else if a == 192 && b == 0 && c == 0 {
        "a reserved (IETF protocol assignment) address"
    } else if a >= 240 {
        "a reserved address"
    } else {
        return None;
    };
    Some(reason)
}

fn blocked_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let seg = ip.segments();
    // IPv4-mapped ::ffff:a.b.c.d: the connection really goes to the IPv4 address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return blocked_v4(v4);
    }
    let reason = if ip.is_unspecified() {
        "an unspecified address"
    } else if ip.is_loopback() {
        "a loopback address"
    } else if seg[..6] == [0; 6] {
        // IPv4-compatible ::a.b.c.d (deprecated): judge by the embedded address.
        let v4 = Ipv4Addr::new(
            (seg[6] >> 8) as u8,
            seg[6] as u8,
            (seg[7] >> 8) as u8,
            seg[7] as u8,
        );
        return blocked_v4(v4).or(Some("a reserved (IPv4-compatible) address"));
    } else if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64 well-known prefix 64:ff9b::/96: the gateway connects to the embedded address.
        let v4 = Ipv4Addr::new(
            (seg[6] >> 8) as u8,
            seg[6] as u8,
            (seg[7] >> 8) as u8,
            seg[7] as u8,
        );
        return blocked_v4(v4);
    } else if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2] == 1 {
        "a private (local-use NAT64) address"
    } else if seg[0] == 0x2002 {
        // 6to4 2002:a.b.c.d::/48: judge by the embedded IPv4 address.
        let v4 = Ipv4Addr::new(
            (seg[1] >> 8) as u8,
            seg[1] as u8,
            (seg[2] >> 8) as u8,
            seg[2] as u8,
        );
        return blocked_v4(v4);
    } else if (seg[0] & 0xfe00) == 0xfc00 {
        "a unique-local address"
    } else if (seg[0] & 0xffc0) == 0xfe80 {
        "a link-local address"
    } else if (seg[0] & 0xffc0) == 0xfec0 {
        "a site-local address"
    } else if ip.is_multicast() {
        "a multicast address"
    } else if (seg[0] == 0x2001 && seg[1] == 0x0db8) || (seg[0] == 0x3fff && seg[1] < 0x1000) {
        "a documentation address"
    } else if seg[..4] == [0x100, 0, 0, 0] {
        "a reserved (discard-only) address"
    } else {
        return None;
    };
    Some(reason)
}

/// An IP literal in a URL that the guard refuses; shown as a reason such as `"10.0.0.5 is a
/// private address; set [ingest] allow_private_addresses = true to allow"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ip} is {why}; {ALLOW_HINT}")]
pub(crate) struct BlockedLiteral {
    /// The address.
    pub ip: IpAddr,
    /// What sort of address it is.
    pub why: &'static str,
}

/// Checks a URL whose host is an IP literal; host names pass (the resolver checks them).
pub(crate) fn check_url_host(url: &Url, allow_private: bool) -> Result<(), BlockedLiteral> {
    if allow_private {
        return Ok(());
    }
    let ip = match url.host() {
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(Host::Domain(_)) | None => return Ok(()),
    };
    match blocked_reason(ip) {
        Some(why) => Err(BlockedLiteral { ip, why }),
        None => Ok(()),
    }
}

/// The error the resolver gives when every address of a host is refused.
///
/// The fetcher finds it in reqwest's error chain and turns it into
/// [`FetchError::Blocked`](crate::fetcher::FetchError::Blocked).
#[derive(Debug, Clone)]
pub(crate) struct BlockedAddress {
    /// The host name that was resolved.
    pub host: String,
    /// The first refused address and why it was refused.
    pub ip: IpAddr,
    pub why: &'static str,
}

impl BlockedAddress {
    /// The refusal as a reason phrase for [`FetchError::Blocked`](crate::fetcher::FetchError).
    pub fn reason(&self) -> String {
        format!(
            "`{}` resolves to {}, {}; {ALLOW_HINT}",
            self.host, self.ip, self.why
        )
    }
}

impl fmt::Display for BlockedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason())
    }
}

impl StdError for BlockedAddress {}

/// Removes refused addresses; errs when none is left.
pub(crate) fn filter_addrs(
    host: &str,
    addrs: Vec<SocketAddr>,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, BlockedAddress> {
    if allow_private {
        return Ok(addrs);
    }
    let mut first_refused = None;
    let mut kept = Vec::with_capacity(addrs.len());
    for addr in addrs {
        match blocked_reason(addr.ip()) {
            None => kept.push(addr),
            Some(why) => {
                tracing::debug!(host, ip = %addr.ip(), why, "dropping a resolved address");
                first_refused.get_or_insert((addr.ip(), why));
            }
        }
    }
    match (kept.is_empty(), first_refused) {
        (true, Some((ip, why))) => Err(BlockedAddress {
            host: host.to_string(),
            ip,
            why,
        }),
        _ => Ok(kept),
    }
}

/// A DNS resolver for reqwest that resolves with tokio and drops refused addresses.
///
/// When every address of a name is refused the lookup fails with a [`BlockedAddress`], so the
/// connection is never attempted.
#[derive(Debug, Clone)]
pub(crate) struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if found.is_empty() {
                return Err(format!("`{host}` has no addresses").into());
            }
            let kept = filter_addrs(&host, found, allow_private)?;
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_the_ranges_named_in_the_spec() {
        for (addr, why) in [
            ("127.0.0.1", "a loopback address"),
            ("127.255.0.9", "a loopback address"),
            ("10.0.0.5", "a private address"),
            ("172.16.3.4", "a private address"),
            ("192.168.1.1", "a private address"),
            ("169.254.169.254", "a link-local address"),
            ("100.64.0.1", "a shared (carrier-grade NAT) address"),
            ("100.127.255.255", "a shared (carrier-grade NAT) address"),
            ("224.0.0.1", "a multicast address"),
            ("0.0.0.0", "an unspecified address"),
            ("192.0.2.10", "a documentation address"),
            ("198.51.100.1", "a documentation address"),
            ("203.0.113.7", "a documentation address"),
            ("255.255.255.255", "a broadcast address"),
            ("::1", "a loopback address"),
            ("::", "an unspecified address"),
            ("fc00::1", "a unique-local address"),
            ("fd12:3456::1", "a unique-local address"),
            ("fe80::1", "a link-local address"),
            ("ff02::1", "a multicast address"),
            ("2001:db8::1", "a documentation address"),
            ("::ffff:127.0.0.1", "a loopback address"),
            ("::ffff:10.1.2.3", "a private address"),
            ("64:ff9b::a00:1", "a private address"),
            ("2002:c0a8:0101::1", "a private address"),
        ] {
            assert_eq!(blocked_reason(ip(addr)), Some(why), "{addr}");
        }
    }

    #[test]
    fn allows_public_addresses() {
        for addr in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.1",
            "151.101.0.81",
            "2a00:1450:4009:80b::200e",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "2002:0808:0808::1",
        ] {
            assert!(is_public(ip(addr)), "{addr}");
        }
    }

    #[test]
    fn url_literals_are_checked_and_names_pass() {
        let u = |s: &str| Url::parse(s).unwrap();
        let err = check_url_host(&u("http://10.0.0.5/feed"), false).unwrap_err();
        assert_eq!(err.why, "a private address");
        assert_eq!(
            err.to_string(),
            "10.0.0.5 is a private address; set [ingest] allow_private_addresses = true to allow"
        );
        assert!(check_url_host(&u("http://[::1]:8080/"), false).is_err());
        assert!(check_url_host(&u("http://[::ffff:127.0.0.1]/"), false).is_err());
        // The url crate normalises odd IPv4 spellings, so they cannot sneak past.
        assert!(check_url_host(&u("http://2130706433/"), false).is_err());
        assert!(check_url_host(&u("http://0x7f.1/"), false).is_err());
        assert!(check_url_host(&u("http://localhost/"), false).is_ok());
        assert!(check_url_host(&u("http://10.0.0.5/"), true).is_ok());
        assert!(check_url_host(&u("https://93.184.215.14/"), false).is_ok());
    }

    #[test]
    fn filter_keeps_public_and_reports_the_first_refusal() {
        let sa = |s: &str| SocketAddr::new(ip(s), 0);
        let kept =
            filter_addrs("mixed.example", vec![sa("10.0.0.1"), sa("1.1.1.1")], false).unwrap();
        assert_eq!(kept, vec![sa("1.1.1.1")]);
        let err =
            filter_addrs("intranet.example", vec![sa("10.0.0.5"), sa("::1")], false).unwrap_err();
        assert_eq!(
            err.reason(),
            "`intranet.example` resolves to 10.0.0.5, a private address; set [ingest] allow_private_addresses = true to allow"
        );
        let all = filter_addrs("x", vec![sa("10.0.0.5")], true).unwrap();
        assert_eq!(all.len(), 1);
    }

    #[tokio::test]
    async fn resolver_refuses_localhost() {
        let r = GuardedResolver {
            allow_private: false,
        };
        let name: Name = "localhost".parse().unwrap();
        let err = match r.resolve(name).await {
            Ok(_) => panic!("localhost must be refused"),
            Err(e) => e,
        };
        let blocked = err
            .downcast_ref::<BlockedAddress>()
            .expect("a BlockedAddress");
        assert!(blocked.ip.is_loopback(), "{blocked}");
        let open = GuardedResolver {
            allow_private: true,
        };
        let addrs: Vec<_> = match open.resolve("localhost".parse().unwrap()).await {
            Ok(a) => a.collect(),
            Err(e) => panic!("{e}"),
        };
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }

    proptest! {
        #[test]
        fn mapped_addresses_are_judged_like_their_ipv4(a: u8, b: u8, c: u8, d: u8) {
            let v4 = Ipv4Addr::new(a, b, c, d);
            prop_assert_eq!(
                blocked_reason(IpAddr::V6(v4.to_ipv6_mapped())),
                blocked_reason(IpAddr::V4(v4))
            );
        }

        #[test]
        fn private_v4_ranges_are_always_blocked(b: u8, c: u8, d: u8) {
            for v4 in [
                Ipv4Addr::new(10, b, c, d),
                Ipv4Addr::new(127, b, c, d),
                Ipv4Addr::new(192, 168, c, d),
                Ipv4Addr::new(169, 254, c, d),
                Ipv4Addr::new(172, 16 + (b % 16), c, d),
                Ipv4Addr::new(100, 64 + (b % 64), c, d),
            ] {
                prop_assert!(!is_public(IpAddr::V4(v4)), "{}", v4);
            }
        }

        #[test]
        fn unique_local_and_link_local_v6_are_always_blocked(x: u16, rest: [u16; 7]) {
            let ula = Ipv6Addr::new(0xfc00 | (x & 0x01ff), rest[0], rest[1], rest[2], rest[3], rest[4], rest[5], rest[6]);
            let ll = Ipv6Addr::new(0xfe80 | (x & 0x003f), rest[0], rest[1], rest[2], rest[3], rest[4], rest[5], rest[6]);
            prop_assert!(!is_public(IpAddr::V6(ula)));
            prop_assert!(!is_public(IpAddr::V6(ll)));
        }
    }
}
