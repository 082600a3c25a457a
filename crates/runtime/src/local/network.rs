//! Instance networking: one bridge for the runtime, and per instance a network
//! namespace joined to it by a veth pair, with an IP from the runtime's subnet.
//!
//! Driven by iproute2 in batch mode (`ip -batch -`), so an instance's network costs
//! two short-lived processes: one in the host namespace (create the namespace and the
//! veth pair, attach it to the bridge), one inside the new namespace (address, `lo`,
//! default route). Namespaces are named `{bridge}-{instance id}` so recovery can find
//! exactly the ones this runtime (this bridge) created. IP allocations are files
//! under `{state_dir}/ips/` so a restarted process sees what a previous one handed
//! out.
//!
//! Cold start: those two processes take ~5-10 ms, so [`Network::setup`] hands out a
//! namespace from a small pool of ready ones when it can (complete: veth on the bridge,
//! address, `lo` up, default route), and a background task refills the pool. A pooled
//! namespace is created for a future instance id (its veth and IP allocation already
//! carry that id) under the name `{bridge}:pool-{id}` (`:` cannot occur in an
//! interface name, so the name never matches another bridge's `{bridge}-` prefix),
//! and handing it out just moves its bind mount to `{bridge}-{id}` (two syscalls, no
//! process): outside the pool, `{bridge}-*` are exactly the instances' namespaces, as
//! before. Recovery and [`Network::close_pool`] remove pooled namespaces too.

use std::collections::VecDeque;
use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

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
    /// The instance id this endpoint was made for (veth name and IP allocation carry it).
    pub id: String,
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

/// The runtime's bridge, subnet, IP allocations and pool of ready namespaces.
pub struct Network {
    bridge: String,
    subnet: Subnet,
    ip_dir: PathBuf,
    /// Serialises allocation and remembers where the last one ended, so a freed
    /// address is not handed out again at once.
    cursor: Mutex<u32>,
    pool: Mutex<Pool>,
    /// Wakes the refill task (an endpoint was taken, or the pool closed).
    pool_wake: Notify,
    /// Starts in progress (see [`Network::start_in_progress`]).
    starting: Arc<watch::Sender<usize>>,
}

/// The longest the refill task defers to starts in progress.
pub const REFILL_MAX_WAIT: Duration = Duration::from_secs(1);

/// See [`Network::start_in_progress`].
pub struct StartGuard(Arc<watch::Sender<usize>>);

impl Drop for StartGuard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Namespaces made ahead of time for the next starts.
#[derive(Default)]
struct Pool {
    /// Complete endpoints under their pool names, oldest first.
    ready: VecDeque<Endpoint>,
    /// Pool names of endpoints handed out, still to be removed.
    retired: Vec<String>,
    /// How many the refill task keeps ready.
    target: usize,
    /// Set by [`Network::close_pool`]: hand out and make no more.
    closed: bool,
    refill: Option<JoinHandle<()>>,
}

/// A fresh random instance id (12 hex digits).
pub fn new_id() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("{:012x}", n & 0xffff_ffff_ffff)
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
            pool: Mutex::default(),
            pool_wake: Notify::new(),
            starting: Arc::new(watch::channel(0).0),
        };
        net.ensure_bridge().await?;
        Ok(net)
    }

    /// Creates the bridge if missing, with a fixed MAC address: a Linux bridge whose
    /// address was never set takes the lowest of its ports' addresses, so adding or
    /// removing a veth (a start, a stop, a pool refill) could change it under the
    /// instances, whose cached gateway address would then be dropped by the bridge
    /// until their ARP entry expires (tens of seconds without replies).
    async fn ensure_bridge(&self) -> Result<(), RuntimeError> {
        let b = &self.bridge;
        let sys = Path::new("/sys/class/net").join(b);
        let mut cmds = String::new();
        if !sys.exists() {
            let mac: [u8; 5] = rand::random();
            cmds.push_str(&format!(
                "link add {b} address 02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x} type bridge\n",
                mac[0], mac[1], mac[2], mac[3], mac[4]
            ));
        } else if fs::read_to_string(sys.join("addr_assign_type")).is_ok_and(|t| t.trim() != "3") {
            // 3 = NET_ADDR_SET; setting the current address pins it
            if let Ok(mac) = fs::read_to_string(sys.join("address")) {
                cmds.push_str(&format!("link set {b} address {}\n", mac.trim()));
            }
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

    /// The namespace-name prefix of this runtime's pooled (not yet used) namespaces.
    fn pool_prefix(&self) -> String {
        format!("{}:pool-", self.bridge)
    }

    /// The network for a new instance, and whether it came from the pool: a pooled
    /// endpoint (renamed to `{bridge}-{id}`) if one is ready, else a new one. The
    /// instance takes the endpoint's id.
    pub async fn setup(&self) -> Result<(Endpoint, bool), RuntimeError> {
        loop {
            let Some(mut ep) = self.pool.lock().unwrap().ready.pop_front() else {
                break;
            };
            let name = format!("{}{}", self.netns_prefix(), ep.id);
            match link_netns(&ep.netns, &name) {
                Ok(()) => {
                    // The old name goes later, off the start path (see `refill`).
                    let pool_name = std::mem::replace(&mut ep.netns, name);
                    self.pool.lock().unwrap().retired.push(pool_name);
                    self.pool_wake.notify_one();
                    return Ok((ep, true));
                }
                Err(e) => {
                    tracing::warn!(netns = %ep.netns, error = %e, "pooled network namespace unusable; discarding it");
                    self.teardown(&ep).await;
                }
            }
        }
        let id = new_id();
        let ep = self
            .create(&id, format!("{}{id}", self.netns_prefix()))
            .await?;
        Ok((ep, false))
    }

    /// Allocates an IP and creates namespace `netns` and the veth pair for instance `id`.
    async fn create(&self, id: &str, netns: String) -> Result<Endpoint, RuntimeError> {
        let ip = self.allocate(id)?;
        let ep = Endpoint {
            id: id.to_string(),
            netns,
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
        let mut cmds = format!("link del {}\nnetns del {}\n", ep.veth, ep.netns);
        // A pooled endpoint's old name, if the refill task has not removed it yet.
        let pool_name = format!("{}{}", self.pool_prefix(), ep.id);
        if ep.netns != pool_name && Path::new("/run/netns").join(&pool_name).exists() {
            cmds.push_str(&format!("netns del {pool_name}\n"));
        }
        let _ = ip_batch_force(None, &cmds).await;
        self.free(ep.ip);
    }

    /// Marks a start in progress until the returned guard drops: meanwhile the refill
    /// task waits (up to [`REFILL_MAX_WAIT`]), so making namespaces (two `ip`
    /// processes, mount-table changes) does not compete with the start for CPU and
    /// kernel locks.
    pub fn start_in_progress(&self) -> StartGuard {
        self.starting.send_modify(|n| *n += 1);
        StartGuard(self.starting.clone())
    }

    /// Starts keeping `size` namespaces ready (nothing for 0). Call once, after
    /// recovery. The refill task makes one at a time, whenever the pool is short.
    pub fn start_pool(self: &Arc<Self>, size: usize) {
        let mut pool = self.pool.lock().unwrap();
        if size == 0 || pool.closed || pool.refill.is_some() {
            return;
        }
        pool.target = size;
        pool.refill = Some(tokio::spawn(self.clone().refill()));
    }

    /// The refill task: whenever the pool is short or handed-out endpoints have old
    /// names left, waits for the starts in progress (see
    /// [`Network::start_in_progress`]), then removes the old names and makes one
    /// namespace; until closed.
    async fn refill(self: Arc<Self>) {
        let mut failures = 0u32;
        loop {
            let (short, has_retired) = {
                let pool = self.pool.lock().unwrap();
                if pool.closed {
                    return;
                }
                (pool.ready.len() < pool.target, !pool.retired.is_empty())
            };
            if !short && !has_retired {
                self.pool_wake.notified().await;
                continue;
            }
            if !self.wait_for_quiet().await {
                return;
            }
            let retired = std::mem::take(&mut self.pool.lock().unwrap().retired);
            if !retired.is_empty() {
                let _ = tokio::task::spawn_blocking(move || {
                    retired.iter().for_each(|n| remove_netns_name(n))
                })
                .await;
            }
            if !short {
                continue;
            }
            let id = new_id();
            match self
                .create(&id, format!("{}{id}", self.pool_prefix()))
                .await
            {
                Ok(ep) => {
                    failures = 0;
                    let closed = {
                        let mut pool = self.pool.lock().unwrap();
                        if !pool.closed {
                            pool.ready.push_back(ep.clone());
                        }
                        pool.closed
                    };
                    if closed {
                        self.teardown(&ep).await;
                        return;
                    }
                }
                Err(e) => {
                    // Starts still work (they make their own); try again later.
                    let delay = Duration::from_millis(100)
                        .saturating_mul(1 << failures.min(9))
                        .min(Duration::from_secs(30));
                    failures += 1;
                    tracing::warn!(error = %e, ?delay, "network namespace pool: creating a namespace failed; retrying");
                    let deadline = tokio::time::Instant::now() + delay;
                    while tokio::time::timeout_at(deadline, self.pool_wake.notified())
                        .await
                        .is_ok()
                    {
                        if self.pool.lock().unwrap().closed {
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Waits until no start is in progress, or [`REFILL_MAX_WAIT`]; false if the pool
    /// was closed meanwhile.
    async fn wait_for_quiet(&self) -> bool {
        let deadline = tokio::time::Instant::now() + REFILL_MAX_WAIT;
        let mut starting = self.starting.subscribe();
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return true,
                _ = starting.wait_for(|n| *n == 0) => return true,
                _ = self.pool_wake.notified() => {
                    if self.pool.lock().unwrap().closed {
                        return false;
                    }
                }
            }
        }
    }

    /// Stops refilling (waiting for a namespace being made) and removes the pooled
    /// namespaces. Later [`Network::setup`] calls create their own.
    pub async fn close_pool(&self) {
        let task = {
            let mut pool = self.pool.lock().unwrap();
            pool.closed = true;
            pool.refill.take()
        };
        self.pool_wake.notify_one();
        if let Some(task) = task {
            let _ = task.await;
        }
        let (ready, retired) = {
            let mut pool = self.pool.lock().unwrap();
            let ready: Vec<Endpoint> = pool.ready.drain(..).collect();
            (ready, std::mem::take(&mut pool.retired))
        };
        if ready.is_empty() && retired.is_empty() {
            return;
        }
        let mut cmds = String::new();
        for ep in &ready {
            cmds.push_str(&format!("link del {}\nnetns del {}\n", ep.veth, ep.netns));
        }
        for name in &retired {
            cmds.push_str(&format!("netns del {name}\n"));
        }
        let _ = ip_batch_force(None, &cmds).await;
        for ep in &ready {
            self.free(ep.ip);
        }
    }

    /// Stops the refill task at once, leaving the pooled namespaces for the next
    /// runtime's recovery (a dropped runtime behaves like a crashed process).
    pub fn abandon_pool(&self) {
        if let Some(task) = self.pool.lock().unwrap().refill.take() {
            task.abort();
        }
    }

    /// Names of the pooled namespaces ready to be handed out (tests and diagnostics).
    pub fn pooled_namespaces(&self) -> Vec<String> {
        let pool = self.pool.lock().unwrap();
        pool.ready.iter().map(|ep| ep.netns.clone()).collect()
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

    /// Removes every namespace (instances' and pooled), veth and IP allocation a
    /// previous process of this runtime left behind. Call after their containers are
    /// gone, before [`Network::start_pool`].
    pub async fn cleanup_all(&self) {
        let prefixes = [self.netns_prefix(), self.pool_prefix()];
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
                if prefixes.iter().any(|p| name.starts_with(p.as_str())) {
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

    /// Names of this runtime's instances' namespaces currently present (tests and
    /// diagnostics; pooled ones are not among them).
    pub fn namespaces(&self) -> Vec<String> {
        list_netns(&self.netns_prefix())
    }
}

/// Names under `/run/netns` starting with `prefix`.
fn list_netns(prefix: &str) -> Vec<String> {
    fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

fn netns_cpath(name: &str) -> std::io::Result<CString> {
    CString::new(Path::new("/run/netns").join(name).as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
}

/// Gives a named network namespace a second name (`/run/netns/{from}` →
/// `/run/netns/{to}`): the name is a bind mount of the namespace, so bind it again at
/// the new name (an empty file, as `ip netns add` makes). The namespace itself, its
/// interfaces and addresses are untouched. The old name stays until
/// [`remove_netns_name`].
fn link_netns(from: &str, to: &str) -> std::io::Result<()> {
    let (src, dst) = (netns_cpath(from)?, netns_cpath(to)?);
    // SAFETY: valid NUL-terminated path; the fd is closed at once.
    let fd = unsafe {
        libc::open(
            dst.as_ptr(),
            libc::O_RDONLY | libc::O_CREAT | libc::O_EXCL,
            0,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    // SAFETY: valid NUL-terminated paths; fstype and data may be null for MS_BIND.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        // SAFETY: valid NUL-terminated path.
        unsafe { libc::unlink(dst.as_ptr()) };
        return Err(e);
    }
    Ok(())
}

/// Removes one name of a network namespace (what `ip netns del` does), best effort.
/// An unmount waits for an RCU grace period (milliseconds), so callers on the start
/// path run this in the background.
fn remove_netns_name(name: &str) {
    let Ok(path) = netns_cpath(name) else { return };
    // SAFETY: valid NUL-terminated path.
    unsafe {
        libc::umount2(path.as_ptr(), libc::MNT_DETACH);
        libc::unlink(path.as_ptr());
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
    // A dropped caller (an aborted pool refill) leaves no `ip` making namespaces
    // behind it, e.g. while a new runtime's recovery cleans up.
    cmd.args(["-batch", "-"])
        .kill_on_drop(true)
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
            pool: Mutex::default(),
            pool_wake: Notify::new(),
            starting: Arc::new(watch::channel(0).0),
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
            pool: Mutex::default(),
            pool_wake: Notify::new(),
            starting: Arc::new(watch::channel(0).0),
            ..net
        };
        let d = net2.allocate("d").unwrap();
        assert!(d != b && d != c);
    }
}
