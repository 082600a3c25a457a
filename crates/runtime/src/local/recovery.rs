//! Start-up cleanup: a new runtime removes everything a previous process of the same
//! runtime (same state dir, same bridge) left behind — runc containers under its
//! `--root`, overlay and other mounts under its instance dirs, the instance dirs,
//! task pods' sandboxes (not their logs), network namespaces named `{bridge}-…` (instances') and `{bridge}:pool-…` (pooled,
//! not yet used), veths on the bridge, IP allocations. The
//! controllers then re-create the instances they want, so nothing leaks across a
//! crash or `kill -9`.

use std::path::Path;

use super::network::{io_err, Network};
use super::process::Runc;
use super::rootfs;
use crate::RuntimeError;

/// Removes every trace of a previous process. Containers go first (their processes
/// hold the namespaces and mounts), then mounts and dirs, then the network.
pub async fn recover(runc: &Runc, network: &Network, state_dir: &Path) -> Result<(), RuntimeError> {
    let ids = runc.list().await;
    if !ids.is_empty() {
        tracing::info!(
            count = ids.len(),
            "runtime recovery: removing containers left by a previous process"
        );
    }
    futures::future::join_all(ids.iter().map(|id| runc.delete(id))).await;
    let instances = state_dir.join("instances");
    rootfs::unmount_under(&instances);
    if instances.exists() {
        std::fs::remove_dir_all(&instances).map_err(io_err("remove", &instances))?;
    }
    std::fs::create_dir_all(&instances).map_err(io_err("create", &instances))?;
    // Task pods' sandboxes (their logs, under `pod-logs`, stay).
    let pods = state_dir.join("pods");
    rootfs::unmount_under(&pods);
    if pods.exists() {
        std::fs::remove_dir_all(&pods).map_err(io_err("remove", &pods))?;
    }
    network.cleanup_all().await;
    Ok(())
}
