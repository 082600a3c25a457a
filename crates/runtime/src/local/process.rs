//! runc, and watching a container's init process without a runc process per instance.
//!
//! Exit detection: the runtime makes this process a *child subreaper*
//! (`PR_SET_CHILD_SUBREAPER`). `runc run --detach` exits once the container runs, so
//! the container's init process is re-parented to us; we then hold a pidfd for it
//! (`pidfd_open(2)`), which becomes readable when it exits (waited on with tokio's
//! `AsyncFd`, no thread or polling), and reap it with `waitid(P_PIDFD)`, which gives
//! the real exit code or signal. OOM kills are told apart by the cgroup's `oom_kill`
//! counter, read before `runc delete` removes the cgroup. Cost per idle instance: one
//! fd and one parked future. Signals to the init process (stop, a failed liveness
//! probe) go through the same pidfd (`pidfd_send_signal(2)`), not a `runc kill`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::unix::AsyncFd;

use crate::RuntimeError;

/// Opens a log file for appending (created if missing).
pub fn open_log(log: &Path) -> Result<std::fs::File, RuntimeError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| RuntimeError::Failed(format!("opening log {}: {e}", log.display())))
}

/// Makes this process the reaper of orphaned descendants (see the module docs).
pub fn become_subreaper() -> Result<(), RuntimeError> {
    // SAFETY: prctl with integer arguments.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if rc != 0 {
        return Err(RuntimeError::Failed(format!(
            "prctl(PR_SET_CHILD_SUBREAPER): {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// `exit(code)`.
    Code(i32),
    /// Killed by a signal.
    Signal(i32),
    /// Not our child (no status available).
    Unknown,
}

impl Exit {
    /// The shell-style exit code (128 + signal for signals).
    pub fn code(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
            Exit::Unknown => 255,
        }
    }
}

/// A handle on a running container's init process.
pub struct ProcessWatch {
    fd: AsyncFd<OwnedFd>,
}

impl ProcessWatch {
    /// Opens a pidfd for `pid`.
    pub fn open(pid: i32) -> Result<ProcessWatch, RuntimeError> {
        // SAFETY: raw syscall with integer arguments; a non-negative result is a new fd.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(RuntimeError::Failed(format!(
                "pidfd_open({pid}): {}",
                std::io::Error::last_os_error()
            )));
        }
        // SAFETY: fd is a fresh, owned file descriptor.
        let owned = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // SAFETY: `owned` is an open fd that the AsyncFd owns for its whole life.
        let fd = unsafe { AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE) }
            .map_err(|e| RuntimeError::Failed(format!("registering pidfd: {e}")))?;
        Ok(ProcessWatch { fd })
    }

    /// Sends `signal` to the process through its pidfd: what `runc kill` does for a
    /// container's init process, without starting a runc process (~5-10 ms each).
    /// `Ok(false)` if the process is gone already.
    pub fn signal(&self, signal: i32) -> std::io::Result<bool> {
        // SAFETY: raw syscall on an open pidfd, no siginfo, no flags.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.get_ref().as_raw_fd(),
                signal,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if rc == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ESRCH) {
            Ok(false)
        } else {
            Err(e)
        }
    }

    /// Waits for the process to exit and reaps it.
    pub async fn wait(&self) -> Exit {
        if self.fd.readable().await.is_err() {
            return Exit::Unknown;
        }
        // SAFETY: siginfo_t is plain data; waitid fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let rc = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                self.fd.get_ref().as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED,
            )
        };
        if rc != 0 {
            return Exit::Unknown;
        }
        // SAFETY: filled by a successful waitid(WEXITED).
        let status = unsafe { info.si_status() };
        match info.si_code {
            libc::CLD_EXITED => Exit::Code(status),
            libc::CLD_KILLED | libc::CLD_DUMPED => Exit::Signal(status),
            _ => Exit::Unknown,
        }
    }
}

/// Drives the runc binary with one state root.
#[derive(Clone, Debug)]
pub struct Runc {
    /// The runc binary.
    pub binary: PathBuf,
    /// `--root`: where runc keeps container state.
    pub root: PathBuf,
}

impl Runc {
    fn command(&self) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(&self.binary);
        c.arg("--root").arg(&self.root);
        c.stdin(Stdio::null());
        c
    }

    async fn output(
        &self,
        mut cmd: tokio::process::Command,
        what: &str,
    ) -> Result<Vec<u8>, RuntimeError> {
        let out = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .await
            .map_err(|e| RuntimeError::Failed(format!("running {}: {e}", self.binary.display())))?;
        if !out.status.success() {
            return Err(RuntimeError::Failed(format!(
                "runc {what}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(out.stdout)
    }

    /// `runc run --detach`: starts the container with stdout and stderr going to
    /// `log` (runc hands its own stdio to the container when detached without a
    /// terminal) and returns a watch on its init process.
    pub async fn run(
        &self,
        id: &str,
        bundle: &Path,
        log: &Path,
    ) -> Result<ProcessWatch, RuntimeError> {
        let open = || open_log(log);
        self.run_with(id, bundle, log, open()?.into(), open()?.into())
            .await
    }

    /// `runc run --detach` with the container's stdout and stderr given (files or pipe
    /// ends); `log` is where runc's own failure is read from.
    pub async fn run_with(
        &self,
        id: &str,
        bundle: &Path,
        log: &Path,
        stdout: Stdio,
        stderr: Stdio,
    ) -> Result<ProcessWatch, RuntimeError> {
        let pid_file = bundle.join("init.pid");
        let _ = std::fs::remove_file(&pid_file);
        let status = self
            .command()
            .arg("run")
            .arg("--detach")
            .arg("--bundle")
            .arg(bundle)
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(id)
            .stdout(stdout)
            .stderr(stderr)
            .status()
            .await
            .map_err(|e| RuntimeError::Failed(format!("running {}: {e}", self.binary.display())))?;
        if !status.success() {
            return Err(RuntimeError::Failed(format!(
                "runc run failed ({status}): {}",
                last_line(log)
            )));
        }
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| RuntimeError::Failed("runc run wrote no pid file".into()))?;
        ProcessWatch::open(pid)
    }

    /// `runc kill ID SIGNAL` (errors ignored: the container may be gone already).
    pub async fn kill(&self, id: &str, signal: &str) {
        let mut c = self.command();
        c.args(["kill", id, signal]);
        let _ = self.output(c, "kill").await;
    }

    /// `runc delete --force ID` (errors ignored).
    pub async fn delete(&self, id: &str) {
        let mut c = self.command();
        c.args(["delete", "--force", id]);
        let _ = self.output(c, "delete").await;
    }

    /// `runc exec ID ARGS…` and its exit status, bounded by `timeout`.
    pub async fn exec(&self, id: &str, args: &[String], timeout: std::time::Duration) -> bool {
        let mut c = self.command();
        c.arg("exec")
            .arg(id)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let Ok(mut child) = c.spawn() else {
            return false;
        };
        matches!(
            tokio::time::timeout(timeout, child.wait()).await,
            Ok(Ok(s)) if s.success()
        )
    }

    /// Ids of all containers under this root.
    pub async fn list(&self) -> Vec<String> {
        if !self.root.exists() {
            return Vec::new();
        }
        let mut c = self.command();
        c.args(["list", "-q"]);
        match self.output(c, "list").await {
            Ok(out) => String::from_utf8_lossy(&out)
                .lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

fn last_line(path: &Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// Where the container's cgroup is and whether it was OOM-killed.
#[derive(Clone, Debug)]
pub struct Cgroup {
    /// The cgroup path given to runc (`/skiff/{id}`).
    pub path: String,
}

impl Cgroup {
    /// Whether the host uses the unified (v2) hierarchy.
    pub fn is_v2() -> bool {
        Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
    }

    /// Host directory of a controller's cgroup (`memory`, `cpu`…; ignored on v2).
    pub fn dir(&self, controller: &str) -> PathBuf {
        let rel = self.path.trim_start_matches('/');
        if Self::is_v2() {
            Path::new("/sys/fs/cgroup").join(rel)
        } else {
            Path::new("/sys/fs/cgroup").join(controller).join(rel)
        }
    }

    /// CPU time and memory in use, from `cpu.stat` + `memory.current` (v2) or
    /// `cpuacct.usage` + `memory.usage_in_bytes` (v1); `None` if the cgroup is gone.
    pub fn usage(&self) -> Option<crate::ResourceUsage> {
        let read = |p: PathBuf| std::fs::read_to_string(p).ok();
        if Self::is_v2() {
            let dir = self.dir("");
            let usec: u64 = read(dir.join("cpu.stat"))?.lines().find_map(|l| {
                l.strip_prefix("usage_usec ")
                    .and_then(|v| v.trim().parse().ok())
            })?;
            let memory = read(dir.join("memory.current"))?.trim().parse().ok()?;
            Some(crate::ResourceUsage {
                cpu_time: std::time::Duration::from_micros(usec),
                memory_bytes: memory,
            })
        } else {
            let nanos: u64 = read(self.dir("cpuacct").join("cpuacct.usage"))?
                .trim()
                .parse()
                .ok()?;
            let memory = read(self.dir("memory").join("memory.usage_in_bytes"))?
                .trim()
                .parse()
                .ok()?;
            Some(crate::ResourceUsage {
                cpu_time: std::time::Duration::from_nanos(nanos),
                memory_bytes: memory,
            })
        }
    }

    /// The `oom_kill` count of the memory controller (0 when unknown).
    pub fn oom_kills(&self) -> u64 {
        let file = if Self::is_v2() {
            self.dir("memory").join("memory.events")
        } else {
            self.dir("memory").join("memory.oom_control")
        };
        std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                l.strip_prefix("oom_kill ")
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0)
    }
}
