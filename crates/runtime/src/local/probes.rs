//! Readiness and liveness probes with Kubernetes' knobs (`initialDelaySeconds`,
//! `periodSeconds`, `timeoutSeconds`, `successThreshold`, `failureThreshold`) and
//! Knative's aggressive start: until the first success a readiness probe runs right
//! away and then at growing intervals from 1 ms up to every 25 ms, so cold start is
//! not dominated by the probe period (an app that boots in a few milliseconds is seen
//! within about a millisecond of listening).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::process::Runc;

/// Interval of the aggressive phase (until the first success), once ramped up.
pub const AGGRESSIVE_INTERVAL: Duration = Duration::from_millis(25);

/// The first interval of the aggressive phase; it doubles up to [`AGGRESSIVE_INTERVAL`].
pub const FIRST_INTERVAL: Duration = Duration::from_millis(1);

/// The sleeps between the aggressive phase's probes: 1, 2, 4, 8, 16 ms, then 25 ms.
pub fn aggressive_intervals() -> impl Iterator<Item = Duration> {
    std::iter::successors(Some(FIRST_INTERVAL), |d| {
        Some((*d * 2).min(AGGRESSIVE_INTERVAL))
    })
}

/// How long one TCP connect of the aggressive phase may take. A connect to a brand-new
/// veth can hang when its first SYN is lost (the retransmit comes after 1 s); dropping
/// the attempt and trying again 25 ms later keeps such a start from taking a second.
pub const AGGRESSIVE_CONNECT_TIMEOUT: Duration = Duration::from_millis(100);

/// What a probe does.
#[derive(Clone, Debug)]
pub enum Action {
    /// Connect succeeds.
    Tcp(SocketAddr),
    /// A GET answered with 200..400.
    Http {
        /// Where to connect.
        addr: SocketAddr,
        /// The `Host` header (unless `headers` has one).
        host: String,
        /// Request path.
        path: String,
        /// `httpHeaders`.
        headers: Vec<(String, String)>,
    },
    /// `runc exec` exits 0.
    Exec(Vec<String>),
}

/// A probe with its timing.
#[derive(Clone, Debug)]
pub struct ProbeConfig {
    /// What to check.
    pub action: Action,
    /// `initialDelaySeconds`.
    pub initial_delay: Duration,
    /// `periodSeconds` (10 s when 0 or absent; the aggressive start is separate).
    pub period: Duration,
    /// `timeoutSeconds` (default 1 s).
    pub timeout: Duration,
    /// `successThreshold` (default 1).
    pub success_threshold: u32,
    /// `failureThreshold` (default 3).
    pub failure_threshold: u32,
}

impl ProbeConfig {
    /// From a Kubernetes probe; `None` for a probe with no handler.
    pub fn from_k8s(probe: &Probe, c: &Container, ip: IpAddr, port: u16) -> Option<ProbeConfig> {
        let resolve_port = |p: Option<&IntOrString>| -> u16 {
            match p {
                Some(IntOrString::Int(n)) if *n > 0 => *n as u16,
                Some(IntOrString::String(name)) => c
                    .ports
                    .iter()
                    .flatten()
                    .find(|cp| cp.name.as_deref() == Some(name.as_str()))
                    .map(|cp| cp.container_port as u16)
                    .or_else(|| name.parse().ok().filter(|n| *n > 0))
                    .unwrap_or(port),
                _ => port,
            }
        };
        let action = if let Some(h) = &probe.http_get {
            let p = resolve_port(Some(&h.port));
            let host_ip: IpAddr = h.host.as_deref().and_then(|h| h.parse().ok()).unwrap_or(ip);
            let addr = SocketAddr::new(host_ip, p);
            let mut path = h.path.clone().unwrap_or_else(|| "/".into());
            if !path.starts_with('/') {
                path.insert(0, '/');
            }
            Action::Http {
                addr,
                host: addr.to_string(),
                path,
                headers: h
                    .http_headers
                    .iter()
                    .flatten()
                    .map(|h| (h.name.clone(), h.value.clone()))
                    .collect(),
            }
        } else if let Some(t) = &probe.tcp_socket {
            Action::Tcp(SocketAddr::new(ip, resolve_port(Some(&t.port))))
        } else if let Some(e) = &probe.exec {
            Action::Exec(e.command.clone().unwrap_or_default())
        } else {
            return None;
        };
        let secs =
            |v: Option<i32>, d: u64| Duration::from_secs(v.map(|v| v.max(0) as u64).unwrap_or(d));
        Some(ProbeConfig {
            action,
            initial_delay: secs(probe.initial_delay_seconds, 0),
            period: match probe.period_seconds {
                Some(p) if p > 0 => Duration::from_secs(p as u64),
                _ => Duration::from_secs(10),
            },
            timeout: secs(probe.timeout_seconds.filter(|t| *t > 0), 1),
            success_threshold: probe.success_threshold.filter(|t| *t > 0).unwrap_or(1) as u32,
            failure_threshold: probe.failure_threshold.filter(|t| *t > 0).unwrap_or(3) as u32,
        })
    }

    /// The default readiness probe: TCP connect to the app's port.
    pub fn default_readiness(addr: SocketAddr) -> ProbeConfig {
        ProbeConfig {
            action: Action::Tcp(addr),
            initial_delay: Duration::ZERO,
            period: Duration::from_secs(10),
            timeout: Duration::from_secs(1),
            success_threshold: 1,
            failure_threshold: 3,
        }
    }

    /// Runs the probe once during the aggressive start: like [`ProbeConfig::check`], but a
    /// TCP connect gets at most [`AGGRESSIVE_CONNECT_TIMEOUT`] (HTTP and exec probes keep
    /// their own timeout: an app may legitimately answer slowly).
    pub async fn check_starting(&self, runc: &Runc, id: &str) -> bool {
        match &self.action {
            Action::Tcp(addr) => tokio::time::timeout(
                self.timeout.min(AGGRESSIVE_CONNECT_TIMEOUT),
                TcpStream::connect(addr),
            )
            .await
            .is_ok_and(|r| r.is_ok()),
            _ => self.check(runc, id).await,
        }
    }

    /// Runs the probe once.
    pub async fn check(&self, runc: &Runc, id: &str) -> bool {
        match &self.action {
            Action::Exec(args) => runc.exec(id, args, self.timeout).await,
            action => tokio::time::timeout(self.timeout, network_check(action))
                .await
                .unwrap_or(false),
        }
    }
}

async fn network_check(action: &Action) -> bool {
    match action {
        Action::Tcp(addr) => TcpStream::connect(addr).await.is_ok(),
        Action::Http {
            addr,
            host,
            path,
            headers,
        } => http_get(*addr, host, path, headers)
            .await
            .is_some_and(|s| (200..400).contains(&s)),
        Action::Exec(_) => false,
    }
}

/// A minimal HTTP/1.1 GET returning the status code.
async fn http_get(
    addr: SocketAddr,
    host: &str,
    path: &str,
    headers: &[(String, String)],
) -> Option<u16> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    let mut req = format!("GET {path} HTTP/1.1\r\n");
    let has = |n: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    if !has("host") {
        req.push_str(&format!("Host: {host}\r\n"));
    }
    if !has("user-agent") {
        req.push_str("User-Agent: kube-probe/1.33\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    while !buf.windows(2).any(|w| w == b"\r\n") {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 8192 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buf);
    let mut parts = line.split_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::HTTPGetAction;

    fn runc() -> Runc {
        Runc {
            binary: "runc".into(),
            root: std::env::temp_dir(),
        }
    }

    #[tokio::test]
    async fn starting_tcp_check_sees_a_listener_and_a_closed_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = ProbeConfig::default_readiness(listener.local_addr().unwrap());
        assert!(open.check_starting(&runc(), "x").await);
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let closed = ProbeConfig::default_readiness(SocketAddr::from(([127, 0, 0, 1], port)));
        assert!(!closed.check_starting(&runc(), "x").await);
    }

    #[test]
    fn aggressive_probing_ramps_up_to_its_interval() {
        let ms: Vec<u64> = aggressive_intervals()
            .take(8)
            .map(|d| d.as_millis() as u64)
            .collect();
        assert_eq!(ms, [1, 2, 4, 8, 16, 25, 25, 25]);
    }

    #[test]
    fn http_port_zero_means_the_app_port() {
        let probe = Probe {
            http_get: Some(HTTPGetAction {
                path: Some("healthz".into()),
                port: IntOrString::Int(0),
                ..Default::default()
            }),
            ..Default::default()
        };
        let cfg = ProbeConfig::from_k8s(
            &probe,
            &Container::default(),
            "10.0.0.2".parse().unwrap(),
            8080,
        )
        .unwrap();
        match cfg.action {
            Action::Http { addr, path, .. } => {
                assert_eq!(addr.to_string(), "10.0.0.2:8080");
                assert_eq!(path, "/healthz");
            }
            a => panic!("{a:?}"),
        }
        assert_eq!(cfg.period, Duration::from_secs(10));
        assert_eq!(cfg.failure_threshold, 3);
    }

    #[tokio::test]
    async fn http_get_reads_status() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            for code in [200, 404] {
                let (mut s, _) = l.accept().await.unwrap();
                let mut b = [0u8; 1024];
                let _ = s.read(&mut b).await;
                let _ = s
                    .write_all(format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\n\r\n").as_bytes())
                    .await;
            }
        });
        assert_eq!(http_get(addr, "h", "/", &[]).await, Some(200));
        assert_eq!(http_get(addr, "h", "/", &[]).await, Some(404));
    }
}
