//! Network powers: HTTP GET on contexts that declare `network_read` (or `network_write`),
//! POST and PUT on contexts that declare `network_write`.
//!
//! Every request, and every redirect hop, goes through one guard before a connection is
//! made:
//!
//! 1. the URL is `http` or `https`, without user name or password;
//! 2. the host is not on the operator's `net.deny_hosts`, and is on `net.allow_hosts`
//!    when that list is not empty;
//! 3. the host is resolved here, once, and every address it resolves to must be public:
//!    loopback, private, link-local, CGNAT, multicast, unspecified, broadcast, reserved and
//!    cloud-metadata addresses (also in their IPv4-mapped, NAT64 and 6to4 IPv6 forms) are
//!    refused unless the operator sets `net.allow_private`;
//! 4. the client then connects to exactly those addresses: its resolver answers only for
//!    the checked host, with the checked addresses, so there is no second lookup a DNS
//!    server could answer differently.
//!
//! Redirects are followed here (the client's own redirect policy is off), so each hop is
//! checked like the first; when a redirect leaves the origin, every header the caller gave
//! is dropped unless the operator lists it in `net.cross_origin_headers` (credentials:
//! `Authorization`, `Cookie`, `Proxy-Authorization` never cross). Bodies are read up to
//! `min(max_bytes, net.max_body)` bytes. No proxy from the environment is used.

use super::{Ctx, NetRead, NetWrite};
use crate::error::{CapError, ErrorKind};
use crate::settings::{NetPolicy, glob_matches};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Redirects followed in one call before giving up.
pub const MAX_REDIRECTS: usize = 10;

/// Request headers whose values are secrets: never logged, and dropped on a redirect to
/// another origin.
pub const SENSITIVE_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

/// Request headers airun sets itself; a call may not set them.
const RESERVED_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-connection",
];

/// What to send: the URL, the request headers, the time limit and the body limit.
#[derive(Debug, Clone)]
pub struct HttpRequest<'a> {
    /// An `http` or `https` URL.
    pub url: &'a str,
    /// Request headers, by name.
    pub headers: &'a [(String, String)],
    /// Time limit for the whole exchange (all hops); the call's own limit still applies.
    pub timeout: Duration,
    /// Most bytes of the body to read; the operator's `net.max_body` applies too.
    pub max_bytes: Option<u64>,
}

/// A method that sends a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendMethod {
    /// HTTP POST.
    Post,
    /// HTTP PUT.
    Put,
}

/// What came back.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// Response headers in the order received, names in lowercase.
    pub headers: Vec<(String, String)>,
    /// The body, at most the byte limit.
    pub body: Vec<u8>,
    /// True when the body was longer than the byte limit and was cut.
    pub truncated: bool,
    /// The URL of the response (after redirects).
    pub final_url: String,
    /// Redirects followed.
    pub redirects: usize,
}

/// Why `ip` is not a public address (e.g. "a loopback address"), or `None` when it is.
pub fn address_class(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_class(v4),
        IpAddr::V6(v6) => v6_class(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], bits: u32) -> bool {
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

const V4_METADATA: [Ipv4Addr; 4] = [
    Ipv4Addr::new(169, 254, 169, 254), // AWS, GCP, Azure, OpenStack, ...
    Ipv4Addr::new(168, 63, 129, 16),   // Azure wire server
    Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
    Ipv4Addr::new(192, 0, 0, 192),     // Oracle Cloud
];

fn v4_class(ip: Ipv4Addr) -> Option<&'static str> {
    let classes: [([u8; 4], u32, &'static str); 14] = [
        ([0, 0, 0, 0], 8, "an unspecified (0.0.0.0/8) address"),
        ([127, 0, 0, 0], 8, "a loopback address"),
        ([10, 0, 0, 0], 8, "a private address"),
        ([172, 16, 0, 0], 12, "a private address"),
        ([192, 168, 0, 0], 16, "a private address"),
        ([169, 254, 0, 0], 16, "a link-local address"),
        ([100, 64, 0, 0], 10, "a shared (CGNAT) address"),
        ([224, 0, 0, 0], 4, "a multicast address"),
        ([255, 255, 255, 255], 32, "the broadcast address"),
        ([240, 0, 0, 0], 4, "a reserved address"),
        ([192, 0, 0, 0], 24, "a reserved (IETF protocol) address"),
        ([192, 0, 2, 0], 24, "a reserved (documentation) address"),
        ([198, 18, 0, 0], 15, "a reserved (benchmarking) address"),
        ([198, 51, 100, 0], 24, "a reserved (documentation) address"),
    ];
    if V4_METADATA.contains(&ip) {
        return Some("a cloud metadata address");
    }
    if in_v4(ip, [203, 0, 113, 0], 24) {
        return Some("a reserved (documentation) address");
    }
    classes
        .iter()
        .find(|(net, bits, _)| in_v4(ip, *net, *bits))
        .map(|(_, _, class)| *class)
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, bits: u32) -> bool {
    let mask = if bits == 0 {
        0
    } else {
        u128::MAX << (128 - bits)
    };
    u128::from(ip) & mask == u128::from(net) & mask
}

fn v6_class(ip: Ipv6Addr) -> Option<&'static str> {
    let embedded = |hi: usize| {
        let s = ip.segments();
        Ipv4Addr::new(
            (s[hi] >> 8) as u8,
            s[hi] as u8,
            (s[hi + 1] >> 8) as u8,
            s[hi + 1] as u8,
        )
    };
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return Some("a cloud metadata address");
    }
    if ip.is_unspecified() {
        return Some("an unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    // IPv4-mapped (::ffff:a.b.c.d): judged as the IPv4 address it reaches.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_class(v4);
    }
    let s = ip.segments();
    // IPv4-compatible (::a.b.c.d), deprecated: nothing public uses it.
    if s[..6] == [0; 6] {
        return Some("a deprecated IPv4-compatible address");
    }
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach the IPv4 address inside.
    if in_v6(ip, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96) {
        return v4_class(embedded(6));
    }
    if in_v6(ip, Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        return v4_class(embedded(1));
    }
    let classes: [(Ipv6Addr, u32, &'static str); 8] = [
        (
            Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
            48,
            "a private (local NAT64) address",
        ),
        (
            Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
            7,
            "a private (unique local) address",
        ),
        (
            Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
            10,
            "a link-local address",
        ),
        (
            Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
            10,
            "a private (site-local) address",
        ),
        (
            Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
            8,
            "a multicast address",
        ),
        (
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
            32,
            "a reserved (documentation) address",
        ),
        (
            Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
            64,
            "a reserved (discard) address",
        ),
        (
            Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
            32,
            "a Teredo tunnel address",
        ),
    ];
    classes
        .iter()
        .find(|(net, bits, _)| in_v6(ip, *net, *bits))
        .map(|(_, _, class)| *class)
}

const PRIVATE_HINT: &str = "airun connects only to public addresses; the operator can allow private networks with net.allow_private = true in the policy file";

/// A URL that passed the guard, with the addresses to connect to.
#[derive(Debug, Clone)]
pub(crate) struct Admitted {
    /// The URL.
    pub url: Url,
    /// The host as written in the URL (a name, or an IP address without brackets).
    pub host: String,
    /// The checked addresses; empty for an IP address host (nothing to resolve).
    pub addrs: Vec<SocketAddr>,
}

/// The URL's host for matching (lowercase, no trailing dot, no IPv6 brackets) and, when
/// it is an IP address, that address.
fn url_host(url: &Url) -> Option<(String, Option<IpAddr>)> {
    let raw = url.host_str()?;
    let bare = raw
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(raw);
    match bare.parse::<IpAddr>() {
        Ok(ip) => Some((ip.to_string(), Some(ip))),
        Err(_) => Some((bare.trim_end_matches('.').to_ascii_lowercase(), None)),
    }
}

/// The address a connection to `ip` really reaches, for matching the operator's lists:
/// an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, `::ffff:7f00:1`) is its IPv4 address,
/// and the unspecified address (`0.0.0.0`, `::`) is this machine's loopback.
pub fn connected_address(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    }
}

/// The operator's `net.deny_hosts` rule that matches `name` (a host name, or an address
/// as [`connected_address`] gives it), if one does. Rules may write IPv6 addresses in
/// brackets, and addresses in any spelling: they are compared as addresses.
fn deny_rule<'p>(policy: &'p NetPolicy, name: &str) -> Option<&'p String> {
    let as_ip = name.parse::<IpAddr>().ok().map(connected_address);
    policy.deny_hosts.iter().find(|g| {
        let rule = g.to_ascii_lowercase();
        let bare = rule
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(&rule);
        match (as_ip, bare.parse::<IpAddr>()) {
            (Some(ip), Ok(rule_ip)) => ip == connected_address(rule_ip),
            _ => glob_matches(bare, name),
        }
    })
}

fn denied_host(host: &str, shown: &str, rule: &str) -> CapError {
    let via = if host == shown {
        String::new()
    } else {
        format!(" (it reaches {shown})")
    };
    CapError::new(
        ErrorKind::DeniedPolicy,
        format!("the host `{host}`{via} is on the operator's deny list (net.deny_hosts: `{rule}`)"),
    )
    .with_field("url")
    .with_hint("choose another host; the operator decides this list")
}

/// Checks the URL's scheme, credentials and host lists (everything but the addresses).
pub(crate) fn check_url(url: &Url, policy: &NetPolicy) -> Result<String, CapError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(CapError::new(
            ErrorKind::DeniedPolicy,
            format!(
                "`{url}` uses the `{}` scheme; only http and https are allowed",
                url.scheme()
            ),
        )
        .with_field("url")
        .with_hint("use an http:// or https:// URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(CapError::invalid_field(
            "url",
            "contains a user name or password; credentials in a URL would be written to the audit log",
        )
        .with_hint("send credentials in an Authorization header instead (headers are redacted in the audit log)"));
    }
    let Some((host, _)) = url_host(url) else {
        return Err(
            CapError::invalid_field("url", format!("`{url}` has no host"))
                .with_hint("write a full URL such as https://example.com/path"),
        );
    };
    // An address is matched as the address it reaches (`[::ffff:127.0.0.1]` and
    // `0.0.0.0` are 127.0.0.1); names are matched again on their addresses in `admit`.
    if let Some(rule) = deny_rule(policy, &host) {
        let reached = host
            .parse::<IpAddr>()
            .map(|ip| connected_address(ip).to_string())
            .unwrap_or_else(|_| host.clone());
        return Err(denied_host(&host, &reached, rule));
    }
    if !policy.allow_hosts.is_empty()
        && !policy
            .allow_hosts
            .iter()
            .any(|g| glob_matches(&g.to_ascii_lowercase(), &host))
    {
        return Err(CapError::new(
            ErrorKind::DeniedPolicy,
            format!("the host `{host}` is not on the operator's allow list (net.allow_hosts)"),
        )
        .with_field("url")
        .with_hint(format!("allowed hosts: {}", policy.allow_hosts.join(", "))));
    }
    Ok(host)
}

/// Refuses an address that is not public, unless the policy allows private networks.
pub(crate) fn check_addr(host: &str, ip: IpAddr, policy: &NetPolicy) -> Result<(), CapError> {
    if policy.allow_private {
        return Ok(());
    }
    let Some(class) = address_class(ip) else {
        return Ok(());
    };
    let message = if host == ip.to_string() {
        format!("refused to connect to {ip}: it is {class}")
    } else {
        format!("refused to connect to `{host}`: it resolves to {ip}, {class}")
    };
    Err(CapError::new(ErrorKind::DeniedPolicy, message)
        .with_field("url")
        .with_hint(PRIVATE_HINT))
}

/// The guard for one hop: URL checks, then resolution and address checks, all before any
/// connection. `lookup` resolves a host name (the real one is the system resolver).
pub(crate) async fn admit<F, Fut>(
    url: Url,
    policy: &NetPolicy,
    lookup: F,
) -> Result<Admitted, CapError>
where
    F: FnOnce(String, u16) -> Fut,
    Fut: std::future::Future<Output = std::io::Result<Vec<SocketAddr>>>,
{
    let host = check_url(&url, policy)?;
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs = match url_host(&url).and_then(|(_, ip)| ip) {
        Some(ip) => {
            check_addr(&host, ip, policy)?;
            Vec::new()
        }
        None => {
            let addrs = lookup(host.clone(), port).await.map_err(|e| {
                CapError::execution(format!("cannot resolve the host `{host}`: {e}"))
                    .with_field("url")
                    .with_hint("check the host name in the URL")
            })?;
            if addrs.is_empty() {
                return Err(
                    CapError::execution(format!("the host `{host}` has no address"))
                        .with_field("url")
                        .with_hint("check the host name in the URL"),
                );
            }
            // Every address must pass: a name that also resolves to a private address is
            // refused, whichever address the connection would have used.
            for a in &addrs {
                check_addr(&host, a.ip(), policy)?;
                let reached = connected_address(a.ip());
                // The deny list holds for the address connected to, not only the name.
                if let Some(rule) = deny_rule(policy, &reached.to_string()) {
                    return Err(denied_host(&host, &reached.to_string(), rule));
                }
            }
            addrs
        }
    };
    Ok(Admitted { url, host, addrs })
}

async fn system_lookup(host: String, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    let mut v: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await?
        .collect();
    v.dedup();
    Ok(v)
}

/// The next URL of a redirect response, or `None` when it is not a redirect to follow.
pub(crate) fn redirect_target(
    current: &Url,
    status: u16,
    location: Option<&str>,
) -> Result<Option<Url>, CapError> {
    if !matches!(status, 301 | 302 | 303 | 307 | 308) {
        return Ok(None);
    }
    let Some(location) = location else {
        return Ok(None);
    };
    current.join(location).map(Some).map_err(|e| {
        CapError::execution(format!(
            "`{current}` redirected to `{location}`, which is not a valid URL: {e}"
        ))
        .with_hint("pass follow_redirects: false to see the redirect response itself")
    })
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// A resolver that answers only for the checked host, with the checked addresses.
struct Pinned {
    host: String,
    addrs: Vec<SocketAddr>,
}

impl reqwest::dns::Resolve for Pinned {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let asked = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        let result: Result<reqwest::dns::Addrs, Box<dyn std::error::Error + Send + Sync>> =
            if asked == self.host {
                Ok(Box::new(self.addrs.clone().into_iter()))
            } else {
                Err(format!("airun resolves `{asked}` only through its network guard").into())
            };
        Box::pin(std::future::ready(result))
    }
}

/// Installs the TLS crypto provider once per process.
fn tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Another part of the process may have installed one already; that one is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn client_for(hop: &Admitted, timeout: Duration) -> Result<reqwest::Client, CapError> {
    tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Pinned {
            host: hop.host.clone(),
            addrs: hop.addrs.clone(),
        })
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!("airun/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| CapError::execution(format!("cannot set up the HTTP client: {}", chain(&e))))
}

/// The error and its causes, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

fn request_error(e: &reqwest::Error, url: &Url, timeout: Duration) -> CapError {
    if e.is_timeout() {
        return CapError::new(
            ErrorKind::Timeout,
            format!(
                "`{url}` did not answer within {} seconds",
                timeout.as_secs()
            ),
        )
        .with_hint("try again later, or raise timeout_seconds");
    }
    if e.is_connect() {
        return CapError::execution(format!("cannot connect to `{url}`: {}", chain(e)))
            .with_hint("check the URL; the server may be down or not listening on that port");
    }
    CapError::execution(format!("the request to `{url}` failed: {}", chain(e)))
}

/// Turns the call's headers into a header map, refusing names airun sets itself.
fn header_map(
    headers: &[(String, String)],
    refuse_content_type: bool,
) -> Result<HeaderMap, CapError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let hn = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            CapError::invalid_field(
                "headers",
                format!("has `{name}`, which is not a valid header name"),
            )
            .with_hint("header names are letters, digits and - (e.g. Accept, X-Api-Key)")
        })?;
        if RESERVED_HEADERS.contains(&hn.as_str()) {
            return Err(CapError::invalid_field(
                "headers",
                format!("sets `{name}`, which airun sets itself"),
            )
            .with_hint("leave this header out"));
        }
        if refuse_content_type && hn == reqwest::header::CONTENT_TYPE {
            return Err(CapError::invalid_field("headers", "sets Content-Type")
                .with_hint("give the content type with the content_type input"));
        }
        // The value is never repeated in an error: it may be a secret.
        let mut hv = HeaderValue::from_str(value).map_err(|_| {
            CapError::invalid_field(
                "headers",
                format!("has a value for `{name}` that is not valid in a header"),
            )
            .with_hint("header values are visible ASCII text without line breaks")
        })?;
        if SENSITIVE_HEADERS.contains(&hn.as_str()) {
            hv.set_sensitive(true);
        }
        map.append(hn, hv);
    }
    Ok(map)
}

fn parse_url(raw: &str) -> Result<Url, CapError> {
    Url::parse(raw).map_err(|e| {
        CapError::invalid_field("url", format!("is not a valid URL ({e})"))
            .with_hint("write a full URL such as https://example.com/path")
    })
}

/// One exchange: the request and what the pipeline gives it (policy, cancel flag, deadline).
struct Exchange<'a> {
    policy: &'a NetPolicy,
    cancel: &'a AtomicBool,
    method: Method,
    url: Url,
    headers: HeaderMap,
    /// The names of the headers the caller gave (not those airun sets).
    caller_headers: Vec<HeaderName>,
    body: Option<Vec<u8>>,
    follow: bool,
    cap: u64,
    timeout: Duration,
}

impl Exchange<'_> {
    /// On a redirect to another origin: every header the caller gave is dropped (a custom
    /// `X-Api-Key` is as secret as `Authorization`), except those the operator lists in
    /// `net.cross_origin_headers`; credentials and cookies never cross.
    fn drop_headers_across_origins(&mut self) {
        for name in std::mem::take(&mut self.caller_headers) {
            let keep = !SENSITIVE_HEADERS.contains(&name.as_str())
                && self
                    .policy
                    .cross_origin_headers
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(name.as_str()));
            if keep {
                self.caller_headers.push(name);
            } else {
                self.headers.remove(&name);
            }
        }
    }

    async fn run(mut self) -> Result<HttpResponse, CapError> {
        let mut redirects = 0;
        loop {
            let hop = admit(self.url.clone(), self.policy, system_lookup).await?;
            let client = client_for(&hop, self.timeout)?;
            let mut rb = client
                .request(self.method.clone(), hop.url.clone())
                .headers(self.headers.clone());
            if let Some(body) = &self.body {
                rb = rb.body(body.clone());
            }
            let mut resp = rb
                .send()
                .await
                .map_err(|e| request_error(&e, &hop.url, self.timeout))?;
            let status = resp.status().as_u16();
            if self.follow {
                let location = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok());
                if let Some(next) = redirect_target(&hop.url, status, location)? {
                    redirects += 1;
                    if redirects > MAX_REDIRECTS {
                        return Err(CapError::execution(format!(
                            "stopped after {MAX_REDIRECTS} redirects (the last one from `{}` to `{next}`)",
                            hop.url
                        ))
                        .with_hint("the server may redirect in a loop; pass follow_redirects: false to see the first response"));
                    }
                    if !same_origin(&hop.url, &next) {
                        self.drop_headers_across_origins();
                    }
                    self.url = next;
                    continue;
                }
            }
            let headers = resp
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let mut body: Vec<u8> = Vec::new();
            let mut truncated = false;
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| request_error(&e, &hop.url, self.timeout))?
            {
                if self.cancel.load(Ordering::Relaxed) {
                    return Err(CapError::new(
                        ErrorKind::Cancelled,
                        "the call was cancelled",
                    ));
                }
                let room = (self.cap as usize).saturating_sub(body.len());
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    truncated = true;
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            return Ok(HttpResponse {
                status,
                headers,
                body,
                truncated,
                final_url: hop.url.to_string(),
                redirects,
            });
        }
    }
}

/// Runs `fut` to completion on a private current-thread runtime (on a helper thread when
/// the caller is itself inside a Tokio runtime, where blocking is not allowed).
fn block_on<F>(fut: F) -> Result<F::Output, CapError>
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    let run = move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CapError::execution(format!("cannot start the network runtime: {e}")))?;
        let out = rt.block_on(fut);
        // A DNS lookup still running on the blocking pool is not waited for.
        rt.shutdown_background();
        Ok(out)
    };
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| {
            s.spawn(run)
                .join()
                .unwrap_or_else(|_| Err(CapError::execution("the network thread failed")))
        })
    } else {
        run()
    }
}

impl<P> Ctx<'_, P> {
    fn http_exchange(
        &self,
        method: Method,
        req: &HttpRequest<'_>,
        body: Option<(&str, Vec<u8>)>,
        follow: bool,
    ) -> Result<HttpResponse, CapError> {
        let policy = &self.env.settings.net;
        let url = parse_url(req.url)?;
        let mut headers = header_map(req.headers, body.is_some())?;
        let caller_headers: Vec<HeaderName> = headers.keys().cloned().collect();
        let body = match body {
            Some((content_type, bytes)) => {
                let ct = HeaderValue::from_str(content_type).map_err(|_| {
                    CapError::invalid_field("content_type", "is not a valid Content-Type value")
                        .with_hint("e.g. application/json or text/plain; charset=utf-8")
                })?;
                headers.insert(reqwest::header::CONTENT_TYPE, ct);
                Some(bytes)
            }
            None => None,
        };
        let cap = req
            .max_bytes
            .map_or(policy.max_body, |m| m.min(policy.max_body));
        let left = self.env.deadline.saturating_duration_since(Instant::now());
        let timeout = req.timeout.min(left).max(Duration::from_millis(1));
        let cancel = self.env.cancel;
        let exchange = Exchange {
            policy,
            cancel,
            method,
            url,
            headers,
            caller_headers,
            body,
            follow,
            cap,
            timeout,
        };
        let shown_timeout = req.timeout.min(left);
        block_on(async move {
            let watch_cancel = async {
                while !cancel.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            };
            tokio::select! {
                r = tokio::time::timeout(timeout, exchange.run()) => r.unwrap_or_else(|_| {
                    Err(CapError::new(
                        ErrorKind::Timeout,
                        format!("the request did not finish within {} seconds", shown_timeout.as_secs().max(1)),
                    )
                    .with_hint("try again later, raise timeout_seconds, or ask for less with max_bytes"))
                }),
                () = watch_cancel => Err(CapError::new(ErrorKind::Cancelled, "the call was cancelled")),
            }
        })?
    }
}

/// Network read power.
impl<P> Ctx<'_, P> {
    /// Sends a GET request through the network guard and reads the response, following
    /// redirects (each hop checked again, at most [`MAX_REDIRECTS`]) when asked.
    pub fn http_get(
        &self,
        req: &HttpRequest<'_>,
        follow_redirects: bool,
    ) -> Result<HttpResponse, CapError>
    where
        P: NetRead,
    {
        self.http_exchange(Method::GET, req, None, follow_redirects)
    }
}

/// Network write power.
impl<P> Ctx<'_, P> {
    /// Sends a POST or PUT request with a body through the network guard. Redirects are
    /// not followed: the body was approved for this URL only, so a 3xx response is
    /// returned as it is (its `location` header says where the server points).
    pub fn http_send(
        &self,
        method: SendMethod,
        req: &HttpRequest<'_>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<HttpResponse, CapError>
    where
        P: NetWrite,
    {
        let m = match method {
            SendMethod::Post => Method::POST,
            SendMethod::Put => Method::PUT,
        };
        self.http_exchange(m, req, Some((content_type, body)), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Option<&'static str> {
        address_class(s.parse().unwrap())
    }

    #[test]
    fn classifies_ipv4() {
        assert_eq!(v4("127.0.0.1"), Some("a loopback address"));
        assert_eq!(v4("127.255.0.9"), Some("a loopback address"));
        assert_eq!(v4("10.0.0.1"), Some("a private address"));
        assert_eq!(v4("172.16.0.1"), Some("a private address"));
        assert_eq!(v4("172.31.255.255"), Some("a private address"));
        assert_eq!(v4("172.32.0.1"), None);
        assert_eq!(v4("192.168.1.1"), Some("a private address"));
        assert_eq!(v4("169.254.169.254"), Some("a cloud metadata address"));
        assert_eq!(v4("169.254.1.1"), Some("a link-local address"));
        assert_eq!(v4("100.64.0.1"), Some("a shared (CGNAT) address"));
        assert_eq!(v4("100.127.255.255"), Some("a shared (CGNAT) address"));
        assert_eq!(v4("100.128.0.1"), None);
        assert_eq!(v4("224.0.0.1"), Some("a multicast address"));
        assert_eq!(v4("0.0.0.0"), Some("an unspecified (0.0.0.0/8) address"));
        assert_eq!(v4("255.255.255.255"), Some("the broadcast address"));
        assert_eq!(v4("168.63.129.16"), Some("a cloud metadata address"));
        assert_eq!(v4("8.8.8.8"), None);
        assert_eq!(v4("93.184.216.34"), None);
    }

    #[test]
    fn classifies_ipv6_and_its_ipv4_forms() {
        assert_eq!(v4("::1"), Some("a loopback address"));
        assert_eq!(v4("::"), Some("an unspecified address"));
        assert_eq!(v4("fc00::1"), Some("a private (unique local) address"));
        assert_eq!(v4("fd12:3456::1"), Some("a private (unique local) address"));
        assert_eq!(v4("fd00:ec2::254"), Some("a cloud metadata address"));
        assert_eq!(v4("fe80::1"), Some("a link-local address"));
        assert_eq!(v4("ff02::1"), Some("a multicast address"));
        assert_eq!(v4("::ffff:127.0.0.1"), Some("a loopback address"));
        assert_eq!(v4("::ffff:10.0.0.1"), Some("a private address"));
        assert_eq!(
            v4("::ffff:169.254.169.254"),
            Some("a cloud metadata address")
        );
        assert_eq!(v4("::ffff:8.8.8.8"), None);
        assert_eq!(
            v4("::127.0.0.1"),
            Some("a deprecated IPv4-compatible address")
        );
        assert_eq!(v4("64:ff9b::a00:1"), Some("a private address"));
        assert_eq!(v4("64:ff9b::808:808"), None);
        assert_eq!(v4("2002:a9fe:a9fe::1"), Some("a cloud metadata address"));
        assert_eq!(v4("2606:4700:4700::1111"), None);
    }

    fn policy(allow_private: bool) -> NetPolicy {
        NetPolicy {
            allow_private,
            ..NetPolicy::default()
        }
    }

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// A resolver for the tests: a fixed answer, and a record that it was asked.
    fn answer(
        ips: &'static [&'static str],
    ) -> impl FnOnce(String, u16) -> std::future::Ready<std::io::Result<Vec<SocketAddr>>> {
        move |_, port| {
            std::future::ready(Ok(ips
                .iter()
                .map(|ip| SocketAddr::new(ip.parse().unwrap(), port))
                .collect()))
        }
    }

    #[test]
    fn a_redirect_to_a_private_address_is_refused_at_its_hop() {
        let from = Url::parse("https://public.example/start").unwrap();
        let p = policy(false);
        let first =
            run(admit(from.clone(), &p, answer(&["93.184.216.34"]))).expect("public first hop");
        assert_eq!(first.addrs, vec!["93.184.216.34:443".parse().unwrap()]);
        for (location, class) in [
            ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
            ("http://10.0.0.1/", "private"),
            ("http://[::1]:8080/", "loopback"),
            ("http://[::ffff:127.0.0.1]/", "loopback"),
        ] {
            let next = redirect_target(&from, 302, Some(location))
                .unwrap()
                .expect("a redirect");
            let err = run(admit(next, &p, answer(&[]))).expect_err(location);
            assert_eq!(err.kind, ErrorKind::DeniedPolicy, "{location}");
            assert!(err.message.contains(class), "{location}: {}", err.message);
        }
        // A name that resolves to a private address, as a DNS-rebinding server would answer.
        let next = redirect_target(&from, 307, Some("http://rebind.example/"))
            .unwrap()
            .unwrap();
        let err = run(admit(next, &p, answer(&["93.184.216.34", "127.0.0.1"]))).unwrap_err();
        assert_eq!(err.kind, ErrorKind::DeniedPolicy);
        assert!(
            err.message
                .contains("resolves to 127.0.0.1, a loopback address"),
            "{}",
            err.message
        );
    }

    #[test]
    fn relative_redirects_and_non_redirects() {
        let from = Url::parse("http://a.example/x/y?q=1").unwrap();
        assert_eq!(
            redirect_target(&from, 301, Some("/z"))
                .unwrap()
                .unwrap()
                .as_str(),
            "http://a.example/z"
        );
        assert_eq!(redirect_target(&from, 200, Some("/z")).unwrap(), None);
        assert_eq!(redirect_target(&from, 302, None).unwrap(), None);
    }

    #[test]
    fn url_checks() {
        let p = NetPolicy {
            deny_hosts: vec!["*.internal".into()],
            allow_hosts: vec!["*.example.com".into(), "db.internal".into()],
            ..NetPolicy::default()
        };
        let check = |u: &str| check_url(&Url::parse(u).unwrap(), &p);
        assert_eq!(
            check("https://api.example.com/").unwrap(),
            "api.example.com"
        );
        assert_eq!(
            check("https://API.Example.COM./").unwrap(),
            "api.example.com"
        );
        assert_eq!(
            check("https://db.internal/").unwrap_err().kind,
            ErrorKind::DeniedPolicy
        );
        assert!(
            check("https://other.org/")
                .unwrap_err()
                .message
                .contains("not on the operator's allow list")
        );
        assert_eq!(
            check("file:///etc/passwd").unwrap_err().kind,
            ErrorKind::DeniedPolicy
        );
        assert_eq!(
            check("ftp://api.example.com/").unwrap_err().kind,
            ErrorKind::DeniedPolicy
        );
        assert_eq!(
            check("https://user:pw@api.example.com/").unwrap_err().kind,
            ErrorKind::InvalidInput
        );
    }

    #[test]
    fn deny_rules_match_the_address_reached_in_any_spelling() {
        let p = NetPolicy {
            deny_hosts: vec!["127.0.0.1".into(), "[::1]".into(), "*.corp".into()],
            allow_private: true,
            ..NetPolicy::default()
        };
        for reached in [
            "127.0.0.1",
            "0.0.0.0",
            "::ffff:127.0.0.1",
            "::ffff:7f00:1",
            "::1",
            "::",
            "0:0:0:0:0:0:0:1",
        ] {
            assert!(deny_rule(&p, reached).is_some(), "{reached}");
        }
        for other in ["127.0.0.2", "::2", "10.0.0.1", "example.org"] {
            assert!(deny_rule(&p, other).is_none(), "{other}");
        }
        assert!(deny_rule(&p, "db.corp").is_some());
        assert_eq!(
            connected_address("::ffff:10.1.2.3".parse().unwrap()),
            "10.1.2.3".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn allow_private_admits_loopback() {
        let url = Url::parse("http://127.0.0.1:9/").unwrap();
        assert!(run(admit(url.clone(), &policy(true), answer(&[]))).is_ok());
        assert!(run(admit(url, &policy(false), answer(&[]))).is_err());
    }

    #[test]
    fn sensitive_headers_are_marked_and_reserved_ones_refused() {
        let h = header_map(&[("Authorization".into(), "Bearer x".into())], false).unwrap();
        assert!(h.get("authorization").unwrap().is_sensitive());
        let e = header_map(&[("Host".into(), "evil.example".into())], false).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        let e = header_map(&[("X-Bad".into(), "line\nbreak".into())], false).unwrap_err();
        assert!(!e.message.contains("break"));
    }

    #[test]
    fn same_origin_needs_scheme_host_and_port() {
        let a = Url::parse("http://a.example/x").unwrap();
        assert!(same_origin(
            &a,
            &Url::parse("http://a.example:80/y").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("https://a.example/x").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("http://a.example:8080/x").unwrap()
        ));
        assert!(!same_origin(&a, &Url::parse("http://b.example/x").unwrap()));
    }
}
