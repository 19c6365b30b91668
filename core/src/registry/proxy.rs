//! Which proxy a registry is reached through: `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`
//! and `NO_PROXY` (each also lower-case), read as curl and Go read them.
//!
//! - An `https://` registry goes through `HTTPS_PROXY`, a plain-HTTP one through
//!   `HTTP_PROXY`; `ALL_PROXY` serves either when its own variable is unset. HTTPS is
//!   tunnelled with `CONNECT`; credentials in the proxy URL
//!   (`http://user:password@proxy:3128`) are sent as `Proxy-Authorization`.
//! - `NO_PROXY` is a comma-separated list: `*` (no proxy at all), a host name (that
//!   host and its subdomains; a leading `.` is allowed), an IP address, or a CIDR
//!   block (`10.0.0.0/8`, `fd00::/8`); any entry may end in `:PORT` to match that
//!   port only.
//! - Unlike Go, loopback addresses are not exempt unless `NO_PROXY` says so, as in
//!   curl: a proxy on the same machine (a test proxy, a local forwarder) may carry them.
//!
//! The HTTP library reads the same variables itself, with other rules (the first one
//! set, whatever the scheme; no CIDR), so the client always sets the decision made here.

use std::net::IpAddr;

/// The proxy URL for a registry reached as `scheme://host[:port]`, or `None` for a
/// direct connection. `env` reads a variable (the process environment in production).
pub(crate) fn proxy_for(scheme: &str, host: &str, port: u16, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let var = |upper: &str| env(upper).or_else(|| env(&upper.to_ascii_lowercase())).filter(|v| !v.trim().is_empty());
    let proxy = match scheme {
        "https" => var("HTTPS_PROXY"),
        _ => var("HTTP_PROXY"),
    }
    .or_else(|| var("ALL_PROXY"))?;
    if var("NO_PROXY").is_some_and(|list| bypassed(&list, host, port)) {
        return None;
    }
    Some(proxy.trim().to_string())
}

/// Whether `NO_PROXY`'s `list` names `host` (a name or an IP, IPv6 with or without
/// brackets) on `port`.
pub(crate) fn bypassed(list: &str, host: &str, port: u16) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    let ip: Option<IpAddr> = host.parse().ok();
    list.split(',').map(str::trim).filter(|e| !e.is_empty()).any(|entry| {
        if entry == "*" {
            return true;
        }
        let (pattern, entry_port) = split_port(entry);
        if entry_port.is_some_and(|p| p != port) {
            return false;
        }
        let pattern = pattern.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        if let Some((net, bits)) = pattern.split_once('/') {
            return match (ip, net.parse::<IpAddr>(), bits.parse::<u8>()) {
                (Some(ip), Ok(net), Ok(bits)) => in_block(ip, net, bits),
                _ => false,
            };
        }
        if let Ok(pattern_ip) = pattern.parse::<IpAddr>() {
            return ip == Some(pattern_ip);
        }
        let domain = pattern.trim_start_matches("*.").trim_start_matches('.');
        !domain.is_empty() && (host == domain || host.ends_with(&format!(".{domain}")))
    })
}

/// `entry` without a trailing `:PORT`, and the port. An IPv6 address alone has colons
/// but no port: only `[v6]:PORT` or a single colon counts.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        if let Some((addr, tail)) = rest.split_once(']') {
            return (addr, tail.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    match entry.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => match port.parse() {
            Ok(p) => (name, Some(p)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

/// Whether `ip` is in `net/bits`.
fn in_block(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn each_scheme_has_its_variable_and_all_proxy_serves_both() {
        let vars = [("HTTPS_PROXY", "http://secure:3128"), ("http_proxy", "http://plain:3128")];
        assert_eq!(proxy_for("https", "r.example", 443, &env(&vars)).as_deref(), Some("http://secure:3128"));
        assert_eq!(proxy_for("http", "r.example", 80, &env(&vars)).as_deref(), Some("http://plain:3128"));
        let all = [("ALL_PROXY", "http://all:1")];
        assert_eq!(proxy_for("https", "r", 443, &env(&all)).as_deref(), Some("http://all:1"));
        assert_eq!(proxy_for("https", "r", 443, &env(&[])), None);
        let upper_wins = [("HTTPS_PROXY", "http://upper:1"), ("https_proxy", "http://lower:1")];
        assert_eq!(proxy_for("https", "r", 443, &env(&upper_wins)).as_deref(), Some("http://upper:1"));
        let bypass = [("HTTPS_PROXY", "http://p:1"), ("no_proxy", "r.example")];
        assert_eq!(proxy_for("https", "r.example", 443, &env(&bypass)), None);
    }

    #[test]
    fn no_proxy_matches_names_suffixes_ips_blocks_and_ports() {
        let cases: &[(&str, &str, u16, bool)] = &[
            ("*", "anything", 443, true),
            ("example.com", "example.com", 443, true),
            ("example.com", "registry.example.com", 443, true),
            ("example.com", "badexample.com", 443, false),
            (".example.com", "registry.example.com", 443, true),
            ("*.example.com", "registry.example.com", 443, true),
            ("Example.COM", "registry.example.com", 443, true),
            ("10.0.0.0/8", "10.1.2.3", 5000, true),
            ("10.0.0.0/8", "11.1.2.3", 5000, false),
            ("127.0.0.1/32", "127.0.0.1", 5000, true),
            ("10.0.0.0/8", "registry.example.com", 443, false),
            ("fd00::/8", "fd12::1", 443, true),
            ("fd00::/8", "[fd12::1]", 443, true),
            ("::1", "::1", 443, true),
            ("127.0.0.1", "127.0.0.1", 5000, true),
            ("127.0.0.1", "127.0.0.2", 5000, false),
            ("127.0.0.1:5000", "127.0.0.1", 5000, true),
            ("127.0.0.1:5000", "127.0.0.1", 5001, false),
            ("[::1]:5000", "::1", 5000, true),
            ("a.example, 127.0.0.1 ,", "127.0.0.1", 1, true),
            ("", "127.0.0.1", 1, false),
            ("10.0.0.0/99", "10.0.0.1", 1, false),
        ];
        for (list, host, port, want) in cases {
            assert_eq!(bypassed(list, host, *port), *want, "NO_PROXY={list:?} host {host} port {port}");
        }
    }
}
