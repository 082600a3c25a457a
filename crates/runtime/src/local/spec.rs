//! The OCI runtime spec (runc's `config.json`) for one instance, from the image
//! config and the Kubernetes container: process args by Kubernetes' command/args
//! rules, environment, working dir, user, namespaces, cgroup limits, default mounts,
//! Docker's default capabilities.
//!
//! Written as JSON in runc's own `config.json` shape and parsed into
//! [`oci_spec::runtime::Spec`], so the types are checked before runc sees them.

use std::path::Path;

use k8s_openapi::api::core::v1::Container;
use oci_spec::runtime::Spec;
use serde_json::json;

use crate::{BindMount, InstanceSpec, RuntimeError};

/// Docker's default capability set.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where the instance's pieces are on the host.
pub struct SpecPaths<'a> {
    /// The merged (overlay) root filesystem.
    pub rootfs: &'a Path,
    /// The network namespace to join.
    pub netns: &'a Path,
    /// Generated `/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname`.
    pub etc_dir: &'a Path,
    /// Host dirs bind-mounted into the container: ConfigMap/Secret volumes (read-only),
    /// a task pod's workspaces and Tekton dirs.
    pub binds: Vec<BindMount>,
    /// The cgroup path (`/skiff/{id}`).
    pub cgroup: &'a str,
}

/// Builds the runtime spec (user names are looked up in the image's rootfs).
pub fn build(spec: &InstanceSpec, paths: &SpecPaths<'_>) -> Result<Spec, RuntimeError> {
    let c = &spec.container;
    let env = environment(spec);
    let args = process_args(spec, &env)?;
    let cwd = c
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .or_else(|| spec.image.working_dir.clone().filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".into());
    let (uid, gid) = user(spec, &spec.image.rootfs)?;
    let caps = capabilities(c);
    let env_list: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let read_only_root = c
        .security_context
        .as_ref()
        .and_then(|s| s.read_only_root_filesystem)
        .unwrap_or(false);

    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
    ];
    for f in ["hosts", "resolv.conf", "hostname"] {
        mounts.push(json!({
            "destination": format!("/etc/{f}"),
            "type": "bind",
            "source": paths.etc_dir.join(f),
            "options": ["rbind", "rprivate"],
        }));
    }
    for b in &paths.binds {
        if !b.container_path.starts_with('/') {
            return Err(RuntimeError::Failed(format!(
                "mount path {:?} must be absolute",
                b.container_path
            )));
        }
        let mut options = vec!["rbind", "rprivate", "nosuid", "nodev"];
        if b.read_only {
            options.push("ro");
        }
        mounts.push(json!({
            "destination": b.container_path,
            "type": "bind",
            "source": b.host_path,
            "options": options,
        }));
    }

    let mut resources = json!({
        "devices": [{"allow": false, "access": "rwm"}],
    });
    let limits = c.resources.as_ref().and_then(|r| r.limits.as_ref());
    let requests = c.resources.as_ref().and_then(|r| r.requests.as_ref());
    if let Some(mem) = limits.and_then(|l| l.get("memory")) {
        let bytes = parse_memory(&mem.0)
            .ok_or_else(|| RuntimeError::Failed(format!("invalid memory limit {:?}", mem.0)))?;
        resources["memory"] = json!({ "limit": bytes });
    }
    let mut cpu = serde_json::Map::new();
    if let Some(q) = limits.and_then(|l| l.get("cpu")) {
        let milli = parse_cpu_millis(&q.0)
            .ok_or_else(|| RuntimeError::Failed(format!("invalid cpu limit {:?}", q.0)))?;
        let period: u64 = 100_000;
        cpu.insert("quota".into(), json!(((milli * period) / 1000).max(1000)));
        cpu.insert("period".into(), json!(period));
    }
    if let Some(q) = requests.and_then(|l| l.get("cpu")) {
        if let Some(milli) = parse_cpu_millis(&q.0) {
            cpu.insert("shares".into(), json!(((milli * 1024) / 1000).max(2)));
        }
    }
    if !cpu.is_empty() {
        resources["cpu"] = serde_json::Value::Object(cpu);
    }

    let nofile = nofile_limit();
    let value = json!({
        "ociVersion": "1.0.2-dev",
        "root": { "path": paths.rootfs, "readonly": read_only_root },
        "hostname": spec.pod_name,
        "process": {
            "terminal": false,
            "user": { "uid": uid, "gid": gid },
            "args": args,
            "env": env_list,
            "cwd": cwd,
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps,
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile}],
            "noNewPrivileges": true,
        },
        "mounts": mounts,
        "linux": {
            "cgroupsPath": paths.cgroup,
            "resources": resources,
            "namespaces": [
                {"type": "pid"},
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"},
                {"type": "network", "path": paths.netns},
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi",
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
            ],
        },
    });
    serde_json::from_value(value)
        .map_err(|e| RuntimeError::Failed(format!("building the OCI runtime spec: {e}")))
}

/// Docker's open-files limit (1048576), or this process's hard limit if lower
/// (raising it would fail).
fn nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct.
    let hard = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_max
    } else {
        1024
    };
    hard.min(1_048_576)
}

/// The environment in order: image env, `HOSTNAME`, platform env, container env;
/// a later entry replaces an earlier one of the same name in place.
pub fn environment(spec: &InstanceSpec) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |k: String, v: String| {
        if let Some(e) = env.iter_mut().find(|(n, _)| *n == k) {
            e.1 = v;
        } else {
            env.push((k, v));
        }
    };
    let path = DEFAULT_PATH.split_once('=').unwrap();
    set(path.0.into(), path.1.into());
    for kv in &spec.image.env {
        if let Some((k, v)) = kv.split_once('=') {
            set(k.into(), v.into());
        }
    }
    set("HOSTNAME".into(), spec.pod_name.clone());
    for (k, v) in &spec.platform_env {
        set(k.clone(), v.clone());
    }
    for e in spec.container.env.iter().flatten() {
        if e.value_from.is_some() && e.value.is_none() {
            continue; // resolved by the controller into `value`
        }
        set(e.name.clone(), e.value.clone().unwrap_or_default());
    }
    // `$(VAR)` references in container env values see earlier entries.
    let snapshot = env.clone();
    for (k, v) in env.iter_mut() {
        if spec
            .container
            .env
            .iter()
            .flatten()
            .any(|e| e.name == *k && e.value.is_some())
        {
            *v = expand(v, &snapshot);
        }
    }
    env
}

/// Kubernetes' rules: `command` replaces the image entrypoint (and drops the image
/// cmd), `args` replaces the image cmd; `$(VAR)` references are expanded.
pub fn process_args(
    spec: &InstanceSpec,
    env: &[(String, String)],
) -> Result<Vec<String>, RuntimeError> {
    let c: &Container = &spec.container;
    let command = c.command.clone().filter(|v| !v.is_empty());
    let args = c.args.clone();
    let mut out: Vec<String> = match (command, args) {
        (Some(cmd), Some(args)) => cmd.into_iter().chain(args).collect(),
        (Some(cmd), None) => cmd,
        (None, Some(args)) => spec.image.entrypoint.iter().cloned().chain(args).collect(),
        (None, None) => spec
            .image
            .entrypoint
            .iter()
            .chain(spec.image.cmd.iter())
            .cloned()
            .collect(),
    };
    for a in out.iter_mut() {
        *a = expand(a, env);
    }
    if out.is_empty() {
        return Err(RuntimeError::Failed(format!(
            "container {:?} has no command: neither the container nor the image ({}) names one",
            c.name, spec.image.digest
        )));
    }
    Ok(out)
}

/// Kubernetes' `$(VAR)` expansion: defined variables are replaced, undefined ones
/// are left as written, `$$` escapes a `$`.
pub fn expand(s: &str, env: &[(String, String)]) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            if b[i + 1] == b'$' {
                out.push('$');
                i += 2;
                continue;
            }
            if b[i + 1] == b'(' {
                if let Some(end) = s[i + 2..].find(')') {
                    let name = &s[i + 2..i + 2 + end];
                    if let Some((_, v)) = env.iter().find(|(k, _)| k == name) {
                        out.push_str(v);
                    } else {
                        out.push_str(&s[i..i + 3 + end]);
                    }
                    i += 3 + end;
                    continue;
                }
            }
        }
        let ch = s[i..].chars().next().unwrap();
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// uid/gid: `securityContext.runAsUser`/`runAsGroup`, else the image user (`uid`,
/// `uid:gid`, or names looked up in the image's `/etc/passwd` and `/etc/group`).
pub fn user(spec: &InstanceSpec, rootfs: &Path) -> Result<(u32, u32), RuntimeError> {
    let sc = spec.container.security_context.as_ref();
    let run_as_user = sc.and_then(|s| s.run_as_user);
    let run_as_group = sc.and_then(|s| s.run_as_group);
    let (image_user, image_group) = match spec.image.user.as_deref().filter(|u| !u.is_empty()) {
        Some(u) => match u.split_once(':') {
            Some((u, g)) => (Some(u.to_string()), Some(g.to_string())),
            None => (Some(u.to_string()), None),
        },
        None => (None, None),
    };
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
    let groups = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
    // passwd: name:x:uid:gid:...
    let by_name = |name: &str| -> Option<(u32, u32)> {
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 3 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
        })
    };
    let by_uid = |uid: u32| -> Option<u32> {
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 3 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[3].parse().ok())?
        })
    };
    let group_id = |g: &str| -> Result<u32, RuntimeError> {
        if let Ok(n) = g.parse() {
            return Ok(n);
        }
        groups
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[0] == g).then(|| f[2].parse().ok())?
            })
            .ok_or_else(|| {
                RuntimeError::Failed(format!("image group {g:?} not found in /etc/group"))
            })
    };
    let (uid, primary_gid) = match (run_as_user, image_user.as_deref()) {
        (Some(uid), _) => (uid as u32, by_uid(uid as u32).unwrap_or(0)),
        (None, None) => (0, 0),
        (None, Some(u)) => match u.parse::<u32>() {
            Ok(uid) => (uid, by_uid(uid).unwrap_or(0)),
            Err(_) => by_name(u).ok_or_else(|| {
                RuntimeError::Failed(format!(
                    "image user {u:?} not found in the image's /etc/passwd"
                ))
            })?,
        },
    };
    let gid = match (run_as_group, image_group.as_deref()) {
        (Some(g), _) => g as u32,
        (None, Some(g)) if run_as_user.is_none() => group_id(g)?,
        _ => primary_gid,
    };
    Ok((uid, gid))
}

fn capabilities(c: &Container) -> Vec<String> {
    let mut caps: Vec<String> = DEFAULT_CAPABILITIES.iter().map(|s| s.to_string()).collect();
    let norm = |s: &str| {
        let s = s.to_ascii_uppercase();
        if s.starts_with("CAP_") {
            s
        } else {
            format!("CAP_{s}")
        }
    };
    if let Some(cc) = c
        .security_context
        .as_ref()
        .and_then(|s| s.capabilities.as_ref())
    {
        for d in cc.drop.iter().flatten() {
            if d.eq_ignore_ascii_case("ALL") {
                caps.clear();
            } else {
                let d = norm(d);
                caps.retain(|c| *c != d);
            }
        }
        for a in cc.add.iter().flatten() {
            let a = norm(a);
            if !caps.contains(&a) {
                caps.push(a);
            }
        }
    }
    caps
}

/// Parses a Kubernetes memory quantity (`128Mi`, `1G`, `500000`, `1e9`) to bytes.
pub fn parse_memory(q: &str) -> Option<i64> {
    let q = q.trim();
    let suffixes: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024.0f64.powi(4)),
        ("Pi", 1024.0f64.powi(5)),
        ("Ei", 1024.0f64.powi(6)),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
        ("m", 1e-3),
    ];
    for (s, mul) in suffixes {
        if let Some(n) = q.strip_suffix(s) {
            let v: f64 = n.parse().ok()?;
            return Some((v * mul).ceil() as i64);
        }
    }
    q.parse::<f64>().ok().map(|v| v.ceil() as i64)
}

/// Parses a Kubernetes CPU quantity (`500m`, `1`, `0.25`) to millicores.
pub fn parse_cpu_millis(q: &str) -> Option<u64> {
    let q = q.trim();
    if let Some(m) = q.strip_suffix('m') {
        return m.parse::<f64>().ok().map(|v| v.ceil() as u64);
    }
    q.parse::<f64>().ok().map(|v| (v * 1000.0).ceil() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ImageRootfs, RevisionKey};
    use k8s_openapi::api::core::v1::{EnvVar, ResourceRequirements, SecurityContext};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use std::collections::BTreeMap;

    fn spec(container: Container) -> InstanceSpec {
        InstanceSpec {
            revision: RevisionKey {
                namespace: "default".into(),
                name: "r".into(),
            },
            pod_name: "r-deployment-abc".into(),
            labels: Default::default(),
            image: ImageRootfs {
                rootfs: "/nonexistent".into(),
                digest: "sha256:x".into(),
                entrypoint: vec!["/ep".into()],
                cmd: vec!["c1".into()],
                env: vec!["A=image".into(), "B=image".into()],
                working_dir: Some("/app".into()),
                user: Some("7:8".into()),
            },
            container,
            port: 8080,
            platform_env: vec![("PORT".into(), "8080".into())],
            file_mounts: vec![],
        }
    }

    #[test]
    fn args_follow_kubernetes_rules() {
        let s = spec(Container::default());
        let env = environment(&s);
        assert_eq!(process_args(&s, &env).unwrap(), ["/ep", "c1"]);
        let s = spec(Container {
            args: Some(vec!["a".into(), "$(PORT)".into(), "$$(PORT)".into()]),
            ..Default::default()
        });
        assert_eq!(
            process_args(&s, &env).unwrap(),
            ["/ep", "a", "8080", "$(PORT)"]
        );
        let s = spec(Container {
            command: Some(vec!["/bin/x".into()]),
            ..Default::default()
        });
        assert_eq!(process_args(&s, &env).unwrap(), ["/bin/x"]);
    }

    #[test]
    fn env_order_and_override() {
        let s = spec(Container {
            env: Some(vec![
                EnvVar {
                    name: "A".into(),
                    value: Some("c-$(PORT)".into()),
                    ..Default::default()
                },
                EnvVar {
                    name: "PORT".into(),
                    value: Some("9".into()),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        });
        let env = environment(&s);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("A").unwrap(), "c-9");
        assert_eq!(get("PORT").unwrap(), "9");
        assert_eq!(get("B").unwrap(), "image");
        assert!(get("PATH").is_some());
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_memory("128Mi"), Some(128 << 20));
        assert_eq!(parse_memory("1G"), Some(1_000_000_000));
        assert_eq!(parse_memory("1000"), Some(1000));
        assert_eq!(parse_cpu_millis("500m"), Some(500));
        assert_eq!(parse_cpu_millis("1.5"), Some(1500));
        assert_eq!(parse_memory("x"), None);
    }

    #[test]
    fn spec_builds_with_limits_and_user() {
        let mut limits = BTreeMap::new();
        limits.insert("memory".to_string(), Quantity("64Mi".into()));
        limits.insert("cpu".to_string(), Quantity("250m".into()));
        let s = spec(Container {
            resources: Some(ResourceRequirements {
                limits: Some(limits),
                ..Default::default()
            }),
            security_context: Some(SecurityContext {
                run_as_user: Some(1000),
                ..Default::default()
            }),
            ..Default::default()
        });
        let paths = SpecPaths {
            rootfs: Path::new("/r"),
            netns: Path::new("/run/netns/x"),
            etc_dir: Path::new("/e"),
            binds: vec![
                BindMount {
                    host_path: "/f/0".into(),
                    container_path: "/config".into(),
                    read_only: true,
                },
                BindMount {
                    host_path: "/w".into(),
                    container_path: "/workspace".into(),
                    read_only: false,
                },
            ],
            cgroup: "/skiff/x",
        };
        let oci = build(&s, &paths).unwrap();
        let v = serde_json::to_value(&oci).unwrap();
        assert_eq!(v["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(v["linux"]["resources"]["cpu"]["quota"], 25_000);
        assert_eq!(v["process"]["user"]["uid"], 1000);
        assert_eq!(v["process"]["cwd"], "/app");
        assert_eq!(v["hostname"], "r-deployment-abc");
        assert!(v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["destination"] == "/config"
                && m["options"].as_array().unwrap().contains(&"ro".into())));
        assert!(v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["destination"] == "/workspace"
                && !m["options"].as_array().unwrap().contains(&"ro".into())));
    }
}
