//! Instance networking: one bridge for the runtime, and per instance a network
//! namespace joined to it by a veth pair, with an IP from the runtime's subnet.
//!
//! Driven by iproute2 in batch mode (`ip -batch -`), so an instance's network costs
//! two short-lived processes: one in the host namespace (create the namespace and the
//! veth pair, attach it to the bridge), one inside the new namespace (address, `lo`,
//! default route). Namespaces are named `{bridge}-{instance id}` so recovery can find
//! exactly the ones this runtime (this bridge) created. IP allocations are files
//! under `{state_dir}/ips/` so a restarted process sees what a previous one handed
//! out. Kept separate from everything else so a pool of pre-created namespaces (cold
//! start) can slot in behind [`Network::setup`] later.

use std::fs;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokio::io::AsyncWriteExt;

use crate::RuntimeError;

/// An IPv4 subnet such as `10.88.0.0/16`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet {
    /// The network address (host bits zero).
    pub network: Ipv4Addr,
    /// Prefix length, 8..=30.
    pub prefix: u8,
}

impl Subnet {
    /// Parses `a.b.c.d/len`.
    pub fn parse(s: &str) -> Result<Subnet, RuntimeError> {
        let bad = || RuntimeError::Failed(format!("invalid subnet {s:?}: want e.g. 10.88.0.0/16"));
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = len.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&prefix) {
            return Err(bad());
        }
        let mask = u32::MAX << (32 - prefix);
        Ok(Subnet {
            network: Ipv4Addr::from(u32::from(addr) & mask),
            prefix,
        })
    }

    /// The first host address: the bridge's own address and the instances' gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    /// Addresses instances may get: after the gateway, before the broadcast address.
    fn hosts(&self) -> std::ops::Range<u32> {
        let base = u32::from(self.network);
        let size = 1u32 << (32 - self.prefix);
        base + 2..base + size - 1
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// What one instance got from [`Network::setup`].
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// Network namespace name (under `/run/netns`).
    pub netns: String,
    /// The host side of the veth pair.
    pub veth: String,
    /// The instance's address.
    pub ip: Ipv4Addr,
}

impl Endpoint {
    /// The namespace's bind-mount path, as the OCI spec wants it.
    pub fn netns_path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.netns)
    }
}

/// The runtime's bridge, subnet and IP allocations.
pub struct Network {
    bridge: String,
    subnet: Subnet,
    ip_dir: PathBuf,
    /// Serialises allocation and remembers where the last one ended, so a freed
    /// address is not handed out again at once.
    cursor: Mutex<u32>,
}

impl Network {
    /// Creates the bridge if missing and prepares the allocation directory.
    pub async fn new(
        bridge: &str,
        subnet: Subnet,
        state_dir: &Path,
    ) -> Result<Network, RuntimeError> {
        if bridge.is_empty() || bridge.len() > 10 {
            return Err(RuntimeError::Failed(format!(
                "bridge name {bridge:?} must be 1-10 characters (namespace and veth names derive from it)"
            )));
        }
        let ip_dir = state_dir.join("ips");
        fs::create_dir_all(&ip_dir).map_err(io_err("create", &ip_dir))?;
        let net = Network {
            bridge: bridge.to_string(),
            subnet,
            ip_dir,
            cursor: Mutex::new(subnet.hosts().start),
        };
        net.ensure_bridge().await?;
        Ok(net)
    }

    async fn ensure_bridge(&self) -> Result<(), RuntimeError> {
        let b = &self.bridge;
        let mut cmds = String::new();
        if !Path::new("/sys/class/net").join(b).exists() {
            cmds.push_str(&format!("link add {b} type bridge\n"));
        }
        cmds.push_str(&format!(
            "addr replace {}/{} dev {b}\nlink set {b} up\n",
            self.subnet.gateway(),
            self.subnet.prefix
        ));
        ip_batch(None, &cmds).await
    }

    /// The namespace-name prefix of this runtime's instances.
    fn netns_prefix(&self) -> String {
        format!("{}-", self.bridge)
    }

    /// Allocates an IP and creates the namespace and veth pair for instance `id`.
    pub async fn setup(&self, id: &str) -> Result<Endpoint, RuntimeError> {
        let ip = self.allocate(id)?;
        let ep = Endpoint {
            netns: format!("{}{id}", self.netns_prefix()),
            veth: veth_name(id),
            ip,
        };
        let host = format!(
            "netns add {ns}\nlink add {veth} type veth peer name eth0 netns {ns}\nlink set {veth} master {br} up\n",
            ns = ep.netns,
            veth = ep.veth,
            br = self.bridge
        );
        let inside = format!(
            "addr add {ip}/{prefix} dev eth0\nlink set lo up\nlink set eth0 up\nroute add default via {gw}\n",
            prefix = self.subnet.prefix,
            gw = self.subnet.gateway()
        );
        let result = async {
            ip_batch(None, &host).await?;
            ip_batch(Some(&ep.netns), &inside).await
        }
        .await;
        if let Err(e) = result {
            self.teardown(&ep).await;
            return Err(e);
        }
        Ok(ep)
    }

    /// Deletes the veth pair and the namespace and frees the IP. Best effort: a part
    /// already gone is not an error.
    pub async fn teardown(&self, ep: &Endpoint) {
        let cmds = format!("link del {}\nnetns del {}\n", ep.veth, ep.netns);
        let _ = ip_batch_force(None, &cmds).await;
        self.free(ep.ip);
    }

    fn allocate(&self, id: &str) -> Result<Ipv4Addr, RuntimeError> {
        let mut cursor = self.cursor.lock().unwrap();
        let hosts = self.subnet.hosts();
        let n = hosts.end - hosts.start;
        let start = (*cursor).clamp(hosts.start, hosts.end - 1) - hosts.start;
        for i in 0..n {
            let candidate = hosts.start + (start + i) % n;
            let ip = Ipv4Addr::from(candidate);
            let path = self.ip_dir.join(ip.to_string());
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let _ = f.write_all(id.as_bytes());
                    *cursor = candidate + 1;
                    return Ok(ip);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err("create", &path)(e)),
            }
        }
        Err(RuntimeError::Failed(format!(
            "no free IP address left in subnet {}",
            self.subnet
        )))
    }

    fn free(&self, ip: Ipv4Addr) {
        let _ = fs::remove_file(self.ip_dir.join(ip.to_string()));
    }

    /// Whether `ip` is currently allocated (tests and diagnostics).
    pub fn is_allocated(&self, ip: Ipv4Addr) -> bool {
        self.ip_dir.join(ip.to_string()).exists()
    }

    /// Removes every namespace, veth and IP allocation a previous process of this
    /// runtime left behind. Call after their containers are gone.
    pub async fn cleanup_all(&self) {
        let prefix = self.netns_prefix();
        let mut cmds = String::new();
        // veths still attached to our bridge (their namespace may already be gone)
        if let Ok(entries) =
            fs::read_dir(Path::new("/sys/class/net").join(&self.bridge).join("brif"))
        {
            for e in entries.flatten() {
                cmds.push_str(&format!("link del {}\n", e.file_name().to_string_lossy()));
            }
        }
        if let Ok(entries) = fs::read_dir("/run/netns") {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(&prefix) {
                    cmds.push_str(&format!("netns del {name}\n"));
                }
            }
        }
        if !cmds.is_empty() {
            if let Err(e) = ip_batch_force(None, &cmds).await {
                tracing::warn!(error = %e, "runtime recovery: removing old network namespaces");
            }
        }
        if let Ok(entries) = fs::read_dir(&self.ip_dir) {
            for e in entries.flatten() {
                let _ = fs::remove_file(e.path());
            }
        }
    }

    /// Names of this runtime's namespaces currently present (tests and diagnostics).
    pub fn namespaces(&self) -> Vec<String> {
        let prefix = self.netns_prefix();
        fs::read_dir("/run/netns")
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(&prefix))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Host-side veth name: `sk` + up to 12 characters of the id (IFNAMSIZ is 16).
pub fn veth_name(id: &str) -> String {
    let short: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(12)
        .collect();
    format!("sk{short}")
}

async fn ip_batch(netns: Option<&str>, commands: &str) -> Result<(), RuntimeError> {
    run_ip(netns, commands, false).await
}

/// Like [`ip_batch`] but carries on past failing lines (`-force`).
async fn ip_batch_force(netns: Option<&str>, commands: &str) -> Result<(), RuntimeError> {
    run_ip(netns, commands, true).await
}

async fn run_ip(netns: Option<&str>, commands: &str, force: bool) -> Result<(), RuntimeError> {
    let mut cmd = tokio::process::Command::new("ip");
    if let Some(ns) = netns {
        cmd.args(["-n", ns]);
    }
    if force {
        cmd.arg("-force");
    }
    cmd.args(["-batch", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| RuntimeError::Failed(format!("running ip (iproute2): {e}")))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(commands.as_bytes())
        .await
        .map_err(|e| RuntimeError::Failed(format!("writing to ip -batch: {e}")))?;
    drop(stdin);
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| RuntimeError::Failed(format!("waiting for ip: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(RuntimeError::Failed(format!(
            "ip {}-batch failed ({}): {}\ncommands:\n{commands}",
            netns.map(|n| format!("-n {n} ")).unwrap_or_default(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

pub(crate) fn io_err<'a>(
    what: &'a str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> RuntimeError + 'a {
    move |e| RuntimeError::Failed(format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_parsing() {
        let s = Subnet::parse("10.88.7.9/16").unwrap();
        assert_eq!(s.network, Ipv4Addr::new(10, 88, 0, 0));
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 88, 0, 1));
        assert_eq!(s.to_string(), "10.88.0.0/16");
        let h = Subnet::parse("10.1.2.0/24").unwrap().hosts();
        assert_eq!(Ipv4Addr::from(h.start), Ipv4Addr::new(10, 1, 2, 2));
        assert_eq!(Ipv4Addr::from(h.end - 1), Ipv4Addr::new(10, 1, 2, 254));
        assert!(Subnet::parse("10.1.2.0").is_err());
        assert!(Subnet::parse("10.1.2.0/31").is_err());
    }

    #[test]
    fn allocation_is_persistent_and_skips_taken() {
        let dir = tempfile::tempdir().unwrap();
        let net = Network {
            bridge: "x".into(),
            subnet: Subnet::parse("10.9.9.0/29").unwrap(),
            ip_dir: dir.path().to_path_buf(),
            cursor: Mutex::new(0),
        };
        let a = net.allocate("a").unwrap();
        let b = net.allocate("b").unwrap();
        assert_ne!(a, b);
        assert!(net.is_allocated(a));
        net.free(a);
        // the cursor moves on: the freed one is not reused at once
        let c = net.allocate("c").unwrap();
        assert_ne!(c, a);
        // a second allocator over the same directory (a restarted process) skips taken ones
        let net2 = Network {
            cursor: Mutex::new(0),
            ip_dir: dir.path().to_path_buf(),
            ..net
        };
        let d = net2.allocate("d").unwrap();
        assert!(d != b && d != c);
    }
}
