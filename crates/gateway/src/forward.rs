//! Forwarding to the chosen instance over HTTP/1.1 with pooled connections: rewrites
//! the request as a proxy must (hop-by-hop headers removed, `X-Forwarded-*` and
//! `Forwarded` set, the original `Host` kept), streams both bodies, and passes
//! `Upgrade` (WebSocket) through by upgrading both sides and copying bytes.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use hyper_util::rt::TokioIo;

use crate::backend::{BackendPool, SendError};
use crate::balance::Permit;

/// How many instances a request tries when instances refuse its connection.
const CONNECT_ATTEMPTS: u32 = 3;
use crate::body::{text_response, Body};
use crate::route::Routed;

/// The client and server addresses of the connection a request came on.
#[derive(Clone, Copy, Debug)]
pub struct ConnInfo {
    /// The client.
    pub remote: SocketAddr,
    /// The gateway's own address on this connection.
    pub local: SocketAddr,
}

/// Headers that describe one hop and are never forwarded (RFC 9110 §7.6.1, plus the
/// de-facto `Proxy-Connection` and `Keep-Alive`).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// The items of a comma-separated list header (`Connection`, `TE`,
/// `Transfer-Encoding`), over all its fields, trimmed; fields that are not text are
/// skipped.
pub(crate) fn list_items<'a>(
    headers: &'a HeaderMap,
    name: HeaderName,
) -> impl DoubleEndedIterator<Item = &'a str> + 'a {
    headers
        .get_all(name)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// True if the list header `name` has the item `token` (case-insensitive).
pub(crate) fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    list_items(headers, name).any(|t| t.eq_ignore_ascii_case(token))
}

/// The `Upgrade` protocol a request asks for, if it is an HTTP/1.1 upgrade request
/// (`Connection: upgrade` and an `Upgrade` header).
pub fn upgrade_protocol(version: Version, headers: &HeaderMap) -> Option<HeaderValue> {
    if version != Version::HTTP_11 {
        return None;
    }
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return None;
    }
    headers.get(header::UPGRADE).cloned()
}

/// True for a header that describes one hop: [`HOP_BY_HOP`] and `Upgrade` (which a
/// proxy only passes on for an upgrade it takes part in).
fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == header::UPGRADE || HOP_BY_HOP.contains(name)
}

/// True if every `Connection` value is `keep-alive` or `close`: options of the
/// connection itself, naming no other header to remove.
fn names_only_connection_options(headers: &HeaderMap) -> bool {
    headers.get_all(header::CONNECTION).iter().all(|v| {
        let v = v.as_bytes();
        v.eq_ignore_ascii_case(b"keep-alive") || v.eq_ignore_ascii_case(b"close")
    })
}

/// Removes hop-by-hop headers, including those named in `Connection`. `te: trailers`
/// survives (it is end-to-end in meaning), as in Go's reverse proxy.
///
/// On every request and response: one pass over the names finds the few present
/// (most messages carry none, or only `Connection: keep-alive`), and only those are
/// looked up and removed.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let mut doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_hop_by_hop(n))
        .cloned()
        .collect();
    if doomed.is_empty() {
        return;
    }
    if doomed == [header::CONNECTION] && names_only_connection_options(headers) {
        // The usual case: `Connection: keep-alive` (or `close`) and nothing else.
        headers.remove(header::CONNECTION);
        return;
    }
    let te_trailers = doomed.contains(&header::TE) && has_token(headers, header::TE, "trailers");
    let named: Vec<HeaderName> = list_items(headers, header::CONNECTION)
        .filter(|t| headers.contains_key(*t))
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect();
    doomed.extend(named);
    for name in &doomed {
        headers.remove(name);
    }
    if te_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
}

/// Appends `ip` in its text form to `out`. IPv4 (every request on an IPv4
/// listener) is written digit by digit: `fmt`'s padding machinery was a tenth of
/// the gateway's own work per request.
fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, b) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                if b >= 100 {
                    out.push(char::from(b'0' + b / 100));
                }
                if b >= 10 {
                    out.push(char::from(b'0' + b / 10 % 10));
                }
                out.push(char::from(b'0' + b % 10));
            }
        }
        IpAddr::V6(v6) => {
            use std::fmt::Write;
            let _ = write!(out, "{v6}");
        }
    }
}

/// Appends a `Forwarded` node (`for=`) to `out`: IPv6 addresses are bracketed and
/// quoted (RFC 7239 §6).
fn push_forwarded_node(out: &mut String, ip: IpAddr) {
    if ip.is_ipv6() {
        out.push_str("\"[");
        push_ip(out, ip);
        out.push_str("]\"");
    } else {
        push_ip(out, ip);
    }
}

/// Appends a `Forwarded` value to `out`: a token if it is one, else a quoted string.
fn push_forwarded_value(out: &mut String, v: &str) {
    let token = !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if token {
        out.push_str(v);
        return;
    }
    out.push('"');
    let mut rest = v;
    while let Some(i) = rest.find(['\\', '"']) {
        out.push_str(&rest[..i]);
        out.push('\\');
        out.push_str(&rest[i..i + 1]);
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
    out.push('"');
}

/// A header value from a string built for it, without copying it again.
fn header_value(s: String) -> Option<HeaderValue> {
    HeaderValue::from_maybe_shared(bytes::Bytes::from(s)).ok()
}

/// Sets the forwarding headers a backend sees: `X-Forwarded-For` gets the client IP
/// appended, `X-Forwarded-Proto` and `X-Forwarded-Host` are set (this gateway is the
/// edge), and a `Forwarded` element is appended.
pub fn set_forwarding_headers(headers: &mut HeaderMap, client: IpAddr, host: &str, proto: &str) {
    if let Ok(v) = HeaderValue::from_str(host) {
        set_forwarding_headers_with(headers, client, &v, host, proto);
    }
}

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// [`set_forwarding_headers`] with the host also as a header value (shared, not
/// copied, into `X-Forwarded-Host`).
fn set_forwarding_headers_with(
    headers: &mut HeaderMap,
    client: IpAddr,
    host_value: &HeaderValue,
    host: &str,
    proto: &str,
) {
    let prior = |name: &HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|p| !p.trim().is_empty())
    };
    let (xff, fwd) = match (prior(&X_FORWARDED_FOR), prior(&header::FORWARDED)) {
        // The usual case (this gateway is the edge): the values depend on the client,
        // host and scheme alone, which stay the same request after request.
        (None, None) => FORWARDING_MEMO.with(|memo| {
            let mut memo = memo.borrow_mut();
            if let Some(m) = memo
                .as_ref()
                .filter(|m| m.client == client && m.proto == proto && m.host == *host_value)
            {
                return (Some(m.xff.clone()), Some(m.forwarded.clone()));
            }
            let (xff, fwd) = forwarding_values(None, None, client, host, proto);
            if let (Some(x), Some(f)) = (&xff, &fwd) {
                *memo = Some(ForwardingMemo {
                    client,
                    host: host_value.clone(),
                    proto: proto.to_string(),
                    xff: x.clone(),
                    forwarded: f.clone(),
                });
            }
            (xff, fwd)
        }),
        (xff, fwd) => forwarding_values(xff, fwd, client, host, proto),
    };
    if let Some(v) = xff {
        headers.insert(X_FORWARDED_FOR.clone(), v);
    }
    let proto_value = match proto {
        "http" => Some(HeaderValue::from_static("http")),
        "https" => Some(HeaderValue::from_static("https")),
        other => HeaderValue::from_str(other).ok(),
    };
    if let Some(v) = proto_value {
        headers.insert(X_FORWARDED_PROTO.clone(), v);
    }
    headers.insert(X_FORWARDED_HOST.clone(), host_value.clone());
    if let Some(v) = fwd {
        headers.insert(header::FORWARDED, v);
    }
}

/// The `X-Forwarded-For` and `Forwarded` values for a request from `client` to
/// `host` over `proto`, after the values the request came with (if any). Each is
/// built in one allocation.
fn forwarding_values(
    prior_xff: Option<&str>,
    prior_fwd: Option<&str>,
    client: IpAddr,
    host: &str,
    proto: &str,
) -> (Option<HeaderValue>, Option<HeaderValue>) {
    // X-Forwarded-For: prior, client
    let mut xff = String::with_capacity(prior_xff.map_or(0, |p| p.len() + 2) + 40);
    if let Some(p) = prior_xff {
        xff.push_str(p);
        xff.push_str(", ");
    }
    push_ip(&mut xff, client);
    // Forwarded: prior, for=…;host=…;proto=…
    let mut fwd = String::with_capacity(prior_fwd.map_or(0, |p| p.len() + 2) + host.len() + 64);
    if let Some(p) = prior_fwd {
        fwd.push_str(p);
        fwd.push_str(", ");
    }
    fwd.push_str("for=");
    push_forwarded_node(&mut fwd, client);
    fwd.push_str(";host=");
    push_forwarded_value(&mut fwd, host);
    fwd.push_str(";proto=");
    push_forwarded_value(&mut fwd, proto);
    (header_value(xff), header_value(fwd))
}

/// The forwarding values a gateway thread built last, for the next request with the
/// same client, host and scheme (a pure function's result, so never stale).
struct ForwardingMemo {
    client: IpAddr,
    host: HeaderValue,
    proto: String,
    xff: HeaderValue,
    forwarded: HeaderValue,
}

thread_local! {
    static FORWARDING_MEMO: std::cell::RefCell<Option<ForwardingMemo>> =
        const { std::cell::RefCell::new(None) };
}

/// The connections to instances: pooled keep-alive HTTP/1.1, no Nagle, driven inline
/// by the requests (see [`crate::backend`]).
pub fn backend_pool(pool_idle_timeout: Duration) -> Arc<BackendPool> {
    // Each in-flight request holds its own connection, so this bounds only how many
    // stay open when idle; well above the client connections a gateway serves.
    Arc::new(BackendPool::new(pool_idle_timeout, 1024))
}

/// Forwards `req` to the instance at `addr`. An upgraded connection takes `permit`
/// (whatever keeps the instance's slot) into its tunnel; otherwise it stays with the
/// caller, who keeps it until the response body ends.
///
/// The rewriting before and after the exchange is synchronous ([`prepare`],
/// [`finish`]), so this future holds little more than the exchange itself: it is
/// part of every request's future, which is moved (copied) when it is boxed.
pub(crate) async fn forward(
    pool: &Arc<BackendPool>,
    proto: &'static str,
    req: Request<Body>,
    permit: &mut Option<Permit>,
    routed: Option<&Routed>,
    conn: Option<ConnInfo>,
) -> (Response<Body>, Option<SocketAddr>) {
    let Some(mut addr) = permit.as_ref().map(Permit::addr) else {
        return (
            text_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "skiff gateway: no instance slot for the request\n".into(),
            ),
            None,
        );
    };
    let (mut backend_req, client_upgrade) = match prepare(req, proto, conn) {
        Ok(prepared) => prepared,
        Err(resp) => return (resp, Some(addr)),
    };
    if client_upgrade.is_some() {
        // Boxed: rare, and its future would enlarge every request's.
        let sent = Box::pin(pool.send_upgrade(addr, backend_req))
            .await
            .map(|resp| resp.map(Body::incoming));
        let resp = match sent {
            Ok(resp) => finish(resp, client_upgrade, addr, permit),
            Err(err) => bad_gateway(&err, addr, routed),
        };
        return (resp, Some(addr));
    }
    let mut attempts = 1;
    loop {
        match pool.send(addr, backend_req).await {
            Ok(resp) => return (finish(resp, None, addr, permit), Some(addr)),
            Err(SendError {
                error,
                unsent: Some(unsent),
            }) if attempts < CONNECT_ATTEMPTS => {
                // The instance refused the connection (it crashed or is stopping) and
                // the request never left: send it to another instance with a free
                // slot, if there is one now.
                tracing::debug!(%addr, %error, "instance refused the connection; trying another");
                let Some(failed) = permit.take() else {
                    return (bad_gateway(&error, addr, routed), Some(addr));
                };
                let instances = failed.pool();
                failed.fail();
                match instances.try_acquire() {
                    Some(next) => {
                        addr = next.addr();
                        *permit = Some(next);
                    }
                    None => return (bad_gateway(&error, addr, routed), Some(addr)),
                }
                backend_req = unsent;
                attempts += 1;
            }
            Err(err) => return (bad_gateway(&err.error, addr, routed), Some(addr)),
        }
    }
}

/// The request as the instance gets it (hop-by-hop headers removed, forwarding
/// headers set, origin-form target), and the client's side of an upgrade it asks for.
/// The error is the response the client gets instead (400).
#[allow(clippy::result_large_err)] // moved once, on a rare path
fn prepare(
    mut req: Request<Body>,
    proto: &'static str,
    conn: Option<ConnInfo>,
) -> Result<(Request<Body>, Option<hyper::upgrade::OnUpgrade>), Response<Body>> {
    // The original host as the client sent it (with port): kept as `Host` (the
    // parsed header value is shared, not copied).
    let host_value = match req.uri().authority() {
        Some(a) => HeaderValue::from_str(a.as_str()).ok(),
        None => req.headers().get(header::HOST).cloned(),
    };
    let upgrade = upgrade_protocol(req.version(), req.headers());
    let client_upgrade = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut req));

    let (mut parts, body) = req.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    if let Some(proto) = &upgrade {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        parts.headers.insert(header::UPGRADE, proto.clone());
    }
    if let Some(host_value) = &host_value {
        parts.headers.insert(header::HOST, host_value.clone());
        if let (Some(conn), Ok(host)) = (conn, host_value.to_str()) {
            set_forwarding_headers_with(
                &mut parts.headers,
                conn.remote.ip(),
                host_value,
                host,
                proto,
            );
        }
    } else if let Some(conn) = conn {
        set_forwarding_headers(&mut parts.headers, conn.remote.ip(), "", proto);
    }
    // Origin-form request target (`/path?query`), as a proxy sends it to an origin
    // server: hyper writes the URI as given, so an absolute-form or HTTP/2 URI is cut
    // to its path; an origin-form one (HTTP/1.1 clients) is kept as is.
    if parts.uri.scheme().is_some() || parts.uri.authority().is_some() {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = Uri::try_from(path).map_err(|err| {
            text_response(
                StatusCode::BAD_REQUEST,
                format!("skiff gateway: bad request target: {err}\n"),
            )
        })?;
    } else if parts.uri.path().is_empty() {
        parts.uri = Uri::from_static("/");
    }
    parts.version = Version::HTTP_11;
    parts.extensions = http::Extensions::new();
    Ok((Request::from_parts(parts, body), client_upgrade))
}

/// 502 for a request the instance did not answer, with the error chain.
fn bad_gateway(
    err: &crate::backend::BackendError,
    addr: SocketAddr,
    routed: Option<&Routed>,
) -> Response<Body> {
    let what = routed.map_or_else(String::new, |r| {
        format!(
            " of revision {}/{}",
            r.revision().namespace,
            r.revision().name
        )
    });
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(err);
    let mut detail = err.to_string();
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    tracing::debug!(%addr, error = %detail, "forwarding failed");
    text_response(
        StatusCode::BAD_GATEWAY,
        format!("skiff gateway: could not forward to instance {addr}{what}: {detail}\n"),
    )
}

/// The instance's response as the client gets it: hop-by-hop headers removed, and
/// for an accepted upgrade, a tunnel task copying bytes between both upgraded
/// connections (holding `permit` while it lives).
fn finish(
    mut resp: Response<Body>,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    addr: SocketAddr,
    permit: &mut Option<Permit>,
) -> Response<Body> {
    let upgraded = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
    match (upgraded, client_upgrade) {
        (true, Some(client_upgrade)) => {
            let backend_upgrade = hyper::upgrade::on(&mut resp);
            let backend_proto = resp.headers().get(header::UPGRADE).cloned();
            let permit = permit.take();
            tokio::spawn(async move {
                // The permit lives as long as the tunnel: it counts against
                // containerConcurrency like any in-flight request.
                let _permit = permit;
                let (client_io, backend_io) = match tokio::join!(client_upgrade, backend_upgrade) {
                    (Ok(c), Ok(b)) => (c, b),
                    (c, b) => {
                        tracing::debug!(client = ?c.err(), backend = ?b.err(), "upgrade failed");
                        return;
                    }
                };
                let mut client_io = TokioIo::new(client_io);
                let mut backend_io = TokioIo::new(backend_io);
                if let Err(err) =
                    tokio::io::copy_bidirectional(&mut client_io, &mut backend_io).await
                {
                    tracing::debug!(error = %err, "upgraded connection ended with an error");
                }
            });
            strip_hop_by_hop(resp.headers_mut());
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            if let Some(p) = backend_proto {
                resp.headers_mut().insert(header::UPGRADE, p);
            }
        }
        (true, None) => {
            return text_response(
                StatusCode::BAD_GATEWAY,
                format!(
                    "skiff gateway: instance {addr} switched protocols without being asked to\n"
                ),
            );
        }
        (false, _) => strip_hop_by_hop(resp.headers_mut()),
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut h = HeaderMap::new();
        h.insert("connection", "keep-alive, x-secret".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert("x-secret", "1".parse().unwrap());
        h.insert("transfer-encoding", "chunked".parse().unwrap());
        h.insert("te", "trailers, gzip".parse().unwrap());
        h.insert("upgrade", "websocket".parse().unwrap());
        h.insert("x-end-to-end", "kept".parse().unwrap());
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(h["te"], "trailers");
        assert_eq!(h["x-end-to-end"], "kept");
    }

    #[test]
    fn messages_without_hop_by_hop_headers_keep_theirs() {
        let mut h = HeaderMap::new();
        h.insert("content-type", "text/plain".parse().unwrap());
        h.append("x-many", "1".parse().unwrap());
        h.append("x-many", "2".parse().unwrap());
        let before = h.clone();
        strip_hop_by_hop(&mut h);
        assert_eq!(h, before);
        h.insert("connection", "close".parse().unwrap());
        strip_hop_by_hop(&mut h);
        assert_eq!(h, before);
        h.insert("connection", "Keep-Alive".parse().unwrap());
        h.insert("te", "gzip".parse().unwrap());
        strip_hop_by_hop(&mut h);
        assert_eq!(h, before);
    }

    #[test]
    fn remembered_forwarding_values_are_per_client_host_and_scheme() {
        let forwarded = |client: &str, host: &str, proto: &str| {
            let mut h = HeaderMap::new();
            set_forwarding_headers(&mut h, client.parse().unwrap(), host, proto);
            (h["x-forwarded-for"].clone(), h["forwarded"].clone())
        };
        for _ in 0..2 {
            assert_eq!(
                forwarded("10.0.0.1", "a.b", "http").1,
                "for=10.0.0.1;host=a.b;proto=http"
            );
            assert_eq!(
                forwarded("10.0.0.1", "c.d", "http").1,
                "for=10.0.0.1;host=c.d;proto=http"
            );
            assert_eq!(forwarded("10.0.0.2", "c.d", "http").0, "10.0.0.2");
            assert_eq!(
                forwarded("10.0.0.2", "c.d", "https").1,
                "for=10.0.0.2;host=c.d;proto=https"
            );
        }
    }

    #[test]
    fn ip_text_matches_display() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.99.100.255",
            "192.168.9.10",
            "::1",
            "fe80::1:2",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut out = String::new();
            push_ip(&mut out, ip);
            assert_eq!(out, ip.to_string());
        }
        let mut out = String::new();
        push_forwarded_value(&mut out, r#"a"b\c:1"#);
        assert_eq!(out, r#""a\"b\\c:1""#);
    }

    #[test]
    fn upgrade_needs_connection_token() {
        let mut h = HeaderMap::new();
        h.insert("upgrade", "websocket".parse().unwrap());
        assert!(upgrade_protocol(Version::HTTP_11, &h).is_none());
        h.insert("connection", "keep-alive, Upgrade".parse().unwrap());
        assert_eq!(upgrade_protocol(Version::HTTP_11, &h).unwrap(), "websocket");
        assert!(upgrade_protocol(Version::HTTP_2, &h).is_none());
    }

    #[test]
    fn forwarding_headers_append() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "10.0.0.1".parse().unwrap());
        h.insert("forwarded", "for=10.0.0.1".parse().unwrap());
        set_forwarding_headers(&mut h, "::1".parse().unwrap(), "a.b:8080", "http");
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, ::1");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "a.b:8080");
        assert_eq!(
            h["forwarded"],
            "for=10.0.0.1, for=\"[::1]\";host=\"a.b:8080\";proto=http"
        );
        let mut h = HeaderMap::new();
        set_forwarding_headers(&mut h, "127.0.0.1".parse().unwrap(), "a.b", "http");
        assert_eq!(h["forwarded"], "for=127.0.0.1;host=a.b;proto=http");
    }
}
