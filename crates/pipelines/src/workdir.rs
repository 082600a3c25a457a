//! The host side of a TaskRun's pod: the directories its containers share (what
//! Kubernetes volumes are for a Tekton pod) and the bind mounts that put them in place.
//!
//! Per run, under `{data}/pipelines/runs/{namespace}/{taskrun uid}/`: `workspace`
//! (`/workspace`), `results` (`/tekton/results`), `home` (`/tekton/home`), `scripts`
//! (`/tekton/scripts`, read-only), `serviceaccount` (token, `ca.crt`, `namespace`,
//! read-only at `/var/run/secrets/kubernetes.io/serviceaccount`), and one dir per
//! emptyDir / ConfigMap / Secret workspace or volume. A PersistentVolumeClaim is a dir
//! under `{data}/pipelines/claims/{namespace}/{claim}` that outlives runs (a
//! PipelineRun's tasks share it). The run dir goes when the run finishes.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use skiff_runtime::BindMount;

use crate::prepare::{HOME_DIR, RESULTS_DIR, SCRIPTS_DIR, WORKSPACE_DIR};

/// Kubernetes' in-cluster service-account dir.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The dirs of one run.
#[derive(Clone, Debug)]
pub struct RunDirs {
    /// `{data}/pipelines/runs/{namespace}/{uid}`.
    pub root: PathBuf,
    claims: PathBuf,
}

fn io(what: &str, path: &Path, e: std::io::Error) -> String {
    format!("{what} {}: {e}", path.display())
}

impl RunDirs {
    /// The dirs of run `uid` in `namespace` under the data dir (not created yet).
    pub fn new(data_dir: &Path, namespace: &str, uid: &str) -> RunDirs {
        let base = data_dir.join("pipelines");
        RunDirs {
            root: base.join("runs").join(namespace).join(uid),
            claims: base.join("claims").join(namespace),
        }
    }

    /// The host dir of `/tekton/results`.
    pub fn results(&self) -> PathBuf {
        self.root.join("results")
    }

    /// Creates the fixed dirs (world-writable, as emptyDirs are, so steps running as
    /// other users can write).
    pub fn create(&self) -> Result<(), String> {
        for d in [
            "workspace",
            "results",
            "home",
            "scripts",
            "serviceaccount",
            "volumes",
        ] {
            make_dir(&self.root.join(d), 0o777)?;
        }
        Ok(())
    }

    /// Writes the steps' scripts (executable).
    pub fn write_script(&self, file_name: &str, contents: &str) -> Result<(), String> {
        let p = self.root.join("scripts").join(checked(file_name)?);
        std::fs::write(&p, contents).map_err(|e| io("writing", &p, e))?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| io("chmod", &p, e))
    }

    /// Writes the service-account files the steps see.
    pub fn write_service_account(
        &self,
        token: &str,
        ca_pem: &str,
        namespace: &str,
    ) -> Result<(), String> {
        let dir = self.root.join("serviceaccount");
        for (name, content) in [
            ("token", token),
            ("ca.crt", ca_pem),
            ("namespace", namespace),
        ] {
            let p = dir.join(name);
            std::fs::write(&p, content).map_err(|e| io("writing", &p, e))?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644))
                .map_err(|e| io("chmod", &p, e))?;
        }
        Ok(())
    }

    /// A fresh dir for an emptyDir (or a volumeClaimTemplate bound to this run alone).
    pub fn empty_dir(&self, name: &str) -> Result<PathBuf, String> {
        let p = self.root.join("volumes").join(checked(name)?);
        make_dir(&p, 0o777)?;
        Ok(p)
    }

    /// The dir of a PersistentVolumeClaim, created on first use, shared by runs.
    pub fn claim(&self, claim: &str) -> Result<PathBuf, String> {
        let p = self.claims.join(checked(claim)?);
        make_dir(&p, 0o777)?;
        Ok(p)
    }

    /// A dir holding `files` (a ConfigMap's or Secret's data), for a read-only mount.
    pub fn files(&self, name: &str, files: &BTreeMap<String, Vec<u8>>) -> Result<PathBuf, String> {
        let p = self.root.join("volumes").join(checked(name)?);
        make_dir(&p, 0o755)?;
        for (key, data) in files {
            let f = p.join(checked(key)?);
            std::fs::write(&f, data).map_err(|e| io("writing", &f, e))?;
        }
        Ok(p)
    }

    /// The mounts every container of the run gets: `/workspace`, `/tekton/results`,
    /// `/tekton/home`, `/tekton/scripts` and the service-account dir.
    pub fn fixed_mounts(&self) -> Vec<BindMount> {
        let m = |dir: &str, at: &str, read_only: bool| BindMount {
            host_path: self.root.join(dir),
            container_path: at.to_string(),
            read_only,
        };
        vec![
            m("workspace", WORKSPACE_DIR, false),
            m("results", RESULTS_DIR, false),
            m("home", HOME_DIR, false),
            m("scripts", SCRIPTS_DIR, true),
            m("serviceaccount", SERVICE_ACCOUNT_DIR, true),
        ]
    }

    /// Removes the run's dirs (not its claims).
    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Records that claim `claim` in `namespace` belongs to the object with uid `owner`
/// (a PipelineRun's `volumeClaimTemplate` claim), so it goes when that object does, as
/// a PVC owned by its PipelineRun does.
pub fn own_claim(data_dir: &Path, namespace: &str, claim: &str, owner: &str) -> Result<(), String> {
    let dir = data_dir
        .join("pipelines/claims")
        .join(checked(namespace)?)
        .join(".owners");
    std::fs::create_dir_all(&dir).map_err(|e| io("creating", &dir, e))?;
    let p = dir.join(checked(claim)?);
    std::fs::write(&p, owner).map_err(|e| io("writing", &p, e))
}

/// Removes the claims whose owner is gone (`alive(namespace, uid)` says false).
pub fn remove_orphaned_claims(data_dir: &Path, alive: impl Fn(&str, &str) -> bool) {
    let root = data_dir.join("pipelines/claims");
    for ns in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        let namespace = ns.file_name().to_string_lossy().into_owned();
        let owners = ns.path().join(".owners");
        for entry in std::fs::read_dir(&owners).into_iter().flatten().flatten() {
            let owner = std::fs::read_to_string(entry.path()).unwrap_or_default();
            if !alive(&namespace, owner.trim()) {
                let _ = std::fs::remove_dir_all(ns.path().join(entry.file_name()));
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Removes run dirs older than `min_age` whose uid `keep(namespace, uid)` rejects (runs
/// a crash or restart left behind; a run's dir normally goes when it finishes).
pub fn remove_stale_runs(
    data_dir: &Path,
    min_age: std::time::Duration,
    keep: impl Fn(&str, &str) -> bool,
) {
    let root = data_dir.join("pipelines/runs");
    for ns in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        let namespace = ns.file_name().to_string_lossy().into_owned();
        for run in std::fs::read_dir(ns.path()).into_iter().flatten().flatten() {
            let old = run
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= min_age);
            let uid = run.file_name().to_string_lossy().into_owned();
            if old && !keep(&namespace, &uid) {
                let _ = std::fs::remove_dir_all(run.path());
            }
        }
    }
}

/// A name that is safe as one path component.
fn checked(name: &str) -> Result<&str, String> {
    let mut parts = Path::new(name).components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(_)), None) => Ok(name),
        _ => Err(format!("{name:?} is not a valid file name")),
    }
}

/// `dir` joined with a `subPath`, refusing `..` and absolute paths.
pub fn sub_path(dir: &Path, sub: &str) -> Result<PathBuf, String> {
    if sub.is_empty() {
        return Ok(dir.to_path_buf());
    }
    let rel = Path::new(sub);
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!(
            "subPath {sub:?} must be a relative path without '..'"
        ));
    }
    let p = dir.join(rel);
    make_dir(&p, 0o777)?;
    Ok(p)
}

fn make_dir(p: &Path, mode: u32) -> Result<(), String> {
    std::fs::create_dir_all(p).map_err(|e| io("creating", p, e))?;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .map_err(|e| io("chmod", p, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirs_and_mounts() {
        let tmp = tempfile::tempdir().unwrap();
        let d = RunDirs::new(tmp.path(), "default", "uid-1");
        d.create().unwrap();
        d.write_script("script-0-abc", "#!/bin/sh\necho hi\n")
            .unwrap();
        let mode = std::fs::metadata(d.root.join("scripts/script-0-abc"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert!(d.write_script("../escape", "x").is_err());
        let claim = d.claim("shared").unwrap();
        assert!(claim.ends_with("pipelines/claims/default/shared"));
        assert!(sub_path(&claim, "../x").is_err());
        assert!(sub_path(&claim, "a/b").unwrap().is_dir());
        let mounts = d.fixed_mounts();
        assert_eq!(mounts.len(), 5);
        assert!(mounts
            .iter()
            .any(|m| m.container_path == SCRIPTS_DIR && m.read_only));
        d.remove();
        assert!(!d.root.exists());
        assert!(claim.exists(), "claims outlive runs");

        own_claim(tmp.path(), "default", "shared", "uid-pr").unwrap();
        remove_orphaned_claims(tmp.path(), |_, uid| uid == "uid-pr");
        assert!(claim.exists());
        remove_orphaned_claims(tmp.path(), |_, _| false);
        assert!(!claim.exists(), "a claim goes with its owner");

        let d2 = RunDirs::new(tmp.path(), "default", "uid-2");
        d2.create().unwrap();
        remove_stale_runs(tmp.path(), std::time::Duration::from_secs(60), |_, _| false);
        assert!(d2.root.exists(), "young run dirs stay");
        remove_stale_runs(tmp.path(), std::time::Duration::ZERO, |_, uid| {
            uid == "uid-2"
        });
        assert!(d2.root.exists());
        remove_stale_runs(tmp.path(), std::time::Duration::ZERO, |_, _| false);
        assert!(!d2.root.exists());
    }
}
