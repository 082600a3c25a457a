//! The instance's root filesystem: an overlay whose lower layer is the image's shared,
//! read-only unpacked rootfs and whose upper/work dirs live in the instance dir, so
//! starting an instance copies nothing. Also the generated `/etc` files and the
//! ConfigMap/Secret files (runc bind-mounts both; see `spec`).

use std::ffi::CString;
use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::network::io_err;
use crate::{BindMount, FileMount, RuntimeError};

/// The instance dir's layout.
pub struct Layout {
    /// `{state_dir}/instances/{id}`.
    pub dir: PathBuf,
}

impl Layout {
    /// The merged overlay mount point (the OCI `root.path`).
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
    /// Generated `/etc` files.
    pub fn etc(&self) -> PathBuf {
        self.dir.join("etc")
    }
    /// Host dir of the `i`th file mount.
    pub fn files(&self, i: usize) -> PathBuf {
        self.dir.join("files").join(i.to_string())
    }
}

/// Mounts the overlay at `layout.rootfs()` over `lower`.
pub fn mount_overlay(layout: &Layout, lower: &Path) -> Result<(), RuntimeError> {
    let upper = layout.dir.join("upper");
    let work = layout.dir.join("work");
    let target = layout.rootfs();
    for d in [&upper, &work, &target] {
        fs::create_dir_all(d).map_err(io_err("create", d))?;
    }
    if !lower.is_dir() {
        return Err(RuntimeError::Failed(format!(
            "image rootfs {} is not a directory",
            lower.display()
        )));
    }
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    // `volatile` (Linux 5.10+): the writable layer is thrown away with the instance,
    // so skip its syncs; without it unmounting syncs the upper filesystem (~300 ms).
    match mount("overlay", &target, &format!("{opts},volatile")) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => mount("overlay", &target, &opts),
        r => r,
    }
    .map_err(|e| {
        RuntimeError::Failed(format!(
            "mounting overlay at {} ({opts}): {e}",
            target.display()
        ))
    })
}

fn mount(fstype: &str, target: &Path, data: &str) -> std::io::Result<()> {
    let c = |s: &[u8]| {
        CString::new(s).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
    };
    let fstype = c(fstype.as_bytes())?;
    let tgt = c(target.as_os_str().as_bytes())?;
    let data = c(data.as_bytes())?;
    // SAFETY: all pointers are valid NUL-terminated strings for the call's duration.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            tgt.as_ptr(),
            fstype.as_ptr(),
            0,
            data.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Lazily unmounts every mount at or below `dir` (deepest first). Best effort.
pub fn unmount_under(dir: &Path) {
    let mut points: Vec<PathBuf> = mounts_under(dir);
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in points {
        if let Ok(c) = CString::new(p.as_os_str().as_bytes()) {
            // SAFETY: valid NUL-terminated path.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// Mount points at or below `dir`, from `/proc/self/mountinfo`.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect()
}

fn unescape_mountinfo(s: &str) -> String {
    // octal escapes: \040 (space), \011, \012, \134
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes `/etc/hosts` (with `extra_hosts` entries), `/etc/resolv.conf` and
/// `/etc/hostname` for the instance.
pub fn write_etc(
    layout: &Layout,
    hostname: &str,
    ip: Ipv4Addr,
    extra_hosts: &[(String, std::net::IpAddr)],
) -> Result<(), RuntimeError> {
    let etc = layout.etc();
    fs::create_dir_all(&etc).map_err(io_err("create", &etc))?;
    let mut hosts = format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{ip}\t{hostname}\n"
    );
    for (name, addr) in extra_hosts {
        hosts.push_str(&format!("{addr}\t{name}\n"));
    }
    // The host's resolvers, minus loopback ones (unreachable from the namespace).
    let host_resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut resolv: String = host_resolv
        .lines()
        .filter(|l| {
            !(l.starts_with("nameserver")
                && l.split_whitespace()
                    .nth(1)
                    .and_then(|a| a.parse::<std::net::IpAddr>().ok())
                    .is_some_and(|a| a.is_loopback()))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    if !resolv.contains("nameserver") {
        resolv.push_str("nameserver 8.8.8.8\n");
    }
    for (name, content) in [
        ("hosts", hosts),
        ("resolv.conf", resolv),
        ("hostname", format!("{hostname}\n")),
    ] {
        let p = etc.join(name);
        fs::write(&p, content).map_err(io_err("write", &p))?;
    }
    Ok(())
}

/// Writes each file mount's files under the instance dir and returns the read-only
/// bind mounts for the spec.
pub fn write_file_mounts(
    layout: &Layout,
    mounts: &[FileMount],
) -> Result<Vec<BindMount>, RuntimeError> {
    let mut out = Vec::new();
    for (i, m) in mounts.iter().enumerate() {
        if !m.mount_path.starts_with('/') {
            return Err(RuntimeError::Failed(format!(
                "volume mount path {:?} must be absolute",
                m.mount_path
            )));
        }
        let dir = layout.files(i);
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        for (name, content) in &m.files {
            let rel = Path::new(name);
            if name.is_empty() || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
                return Err(RuntimeError::Failed(format!(
                    "volume file name {name:?} (mounted at {}) must be a relative path without '..'",
                    m.mount_path
                )));
            }
            let p = dir.join(rel);
            if let Some(parent) = p.parent() {
                fs::create_dir_all(parent).map_err(io_err("create", parent))?;
            }
            fs::write(&p, content).map_err(io_err("write", &p))?;
        }
        out.push(BindMount {
            host_path: dir,
            container_path: m.mount_path.clone(),
            read_only: true,
        });
    }
    Ok(out)
}

/// Unmounts everything under the instance dir and removes it.
pub fn remove(layout: &Layout) {
    unmount_under(&layout.dir);
    let _ = fs::remove_dir_all(&layout.dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_unescape() {
        assert_eq!(unescape_mountinfo("/a\\040b"), "/a b");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
    }

    #[test]
    fn file_names_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout {
            dir: dir.path().to_path_buf(),
        };
        let mut files = std::collections::BTreeMap::new();
        files.insert("../x".to_string(), b"no".to_vec());
        let m = FileMount {
            mount_path: "/c".into(),
            files,
        };
        assert!(write_file_mounts(&layout, &[m]).is_err());
        let mut files = std::collections::BTreeMap::new();
        files.insert("a.conf".to_string(), b"yes".to_vec());
        let m = FileMount {
            mount_path: "/c".into(),
            files,
        };
        let out = write_file_mounts(&layout, &[m]).unwrap();
        assert_eq!(fs::read(out[0].host_path.join("a.conf")).unwrap(), b"yes");
    }
}
