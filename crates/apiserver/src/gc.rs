//! The garbage collector and namespace finalizer: deletes objects whose owners
//! (`metadata.ownerReferences`) are all gone, honours foreground and orphan deletion,
//! and empties a Terminating namespace before removing it. It runs after every
//! deletion-related store event and on a slow timer.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use skiff_store::{EventType, Key};

use crate::objects::{finalizers, DeleteOptions, Objects, FOREGROUND_FINALIZER, ORPHAN_FINALIZER};
use crate::patch::PatchType;
use crate::registry::ResourceDef;

fn def_for(objects: &Objects, resource: &str) -> Option<Arc<ResourceDef>> {
    let (group, plural) = resource.split_once('/')?;
    objects
        .registry()
        .resources
        .iter()
        .find(|r| r.group == group && r.plural == plural)
        .cloned()
}

fn uid(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/uid").and_then(Value::as_str)
}

fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some()
}

/// Merge-patches one object on the collector's behalf; a vanished object is fine.
fn merge_patch(objects: &Objects, key: &Key, patch: Value, what: &str) {
    let Some(def) = def_for(objects, &key.resource) else {
        return;
    };
    let body = serde_json::to_vec(&patch).unwrap_or_default();
    let opts = Default::default();
    if let Err(e) = objects.patch(
        &def,
        &key.namespace,
        &key.name,
        PatchType::Merge,
        &body,
        &opts,
    ) {
        if e.code != 404 {
            tracing::warn!(object = %key.name, error = %e, "garbage collector could not update {what}");
        }
    }
}

fn set_finalizers(objects: &Objects, key: &Key, fins: Vec<String>) {
    merge_patch(
        objects,
        key,
        json!({"metadata": {"finalizers": fins}}),
        "finalizers",
    );
}

fn delete(objects: &Objects, key: &Key) {
    let Some(def) = def_for(objects, &key.resource) else {
        return;
    };
    if let Err(e) = objects.delete(&def, &key.namespace, &key.name, &DeleteOptions::default()) {
        if e.code != 404 {
            tracing::warn!(object = %key.name, error = %e, "garbage collector could not delete object");
        }
    }
}

/// One pass over the store. Returns true if it changed anything (another pass may
/// find more to do).
pub fn sweep(objects: &Objects) -> bool {
    let keys = objects.store.keys(None);
    let mut live: HashMap<String, (Key, Arc<Value>)> = HashMap::new();
    let mut all = Vec::with_capacity(keys.len());
    for key in keys {
        if let Some(obj) = objects.store.get_metadata(&key) {
            if let Some(u) = uid(&obj) {
                live.insert(u.to_string(), (key.clone(), obj.clone()));
            }
            all.push((key, obj));
        }
    }
    let mut changed = false;
    let mut dependents_of: HashMap<String, usize> = HashMap::new();
    let terminating_namespaces: HashSet<String> = all
        .iter()
        .filter(|(k, o)| k.resource == "/namespaces" && is_deleting(o))
        .map(|(k, _)| k.name.clone())
        .collect();
    let mut namespace_has_content: HashSet<String> = HashSet::new();

    for (key, obj) in &all {
        if !key.namespace.is_empty() && terminating_namespaces.contains(&key.namespace) {
            namespace_has_content.insert(key.namespace.clone());
            if !is_deleting(obj) {
                delete(objects, key);
                changed = true;
            }
            continue;
        }
        let owners = owner_uids(obj);
        if owners.is_empty() {
            continue;
        }
        for o in &owners {
            *dependents_of.entry(o.clone()).or_default() += 1;
        }
        let existing: Vec<&(Key, Arc<Value>)> = owners.iter().filter_map(|o| live.get(o)).collect();
        if existing.is_empty() {
            if !is_deleting(obj) {
                delete(objects, key);
                changed = true;
            }
            continue;
        }
        // An owner being deleted in the foreground takes its dependents first.
        if existing.iter().all(|(_, owner)| {
            is_deleting(owner) && finalizers(owner).iter().any(|f| f == FOREGROUND_FINALIZER)
        }) && !is_deleting(obj)
        {
            delete(objects, key);
            changed = true;
            continue;
        }
        // Owners deleted with orphan propagation let go of their dependents.
        let orphaning: Vec<&str> = existing
            .iter()
            .filter(|(_, owner)| {
                is_deleting(owner) && finalizers(owner).iter().any(|f| f == ORPHAN_FINALIZER)
            })
            .filter_map(|(_, owner)| uid(owner))
            .collect();
        if !orphaning.is_empty() {
            let kept: Vec<Value> = obj
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .map(|refs| {
                    refs.iter()
                        .filter(|r| {
                            !orphaning
                                .contains(&r.get("uid").and_then(Value::as_str).unwrap_or_default())
                        })
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            let refs = if kept.is_empty() {
                Value::Null
            } else {
                Value::Array(kept)
            };
            merge_patch(
                objects,
                key,
                json!({"metadata": {"ownerReferences": refs}}),
                "ownerReferences",
            );
            for o in orphaning {
                if let Some(c) = dependents_of.get_mut(o) {
                    *c = c.saturating_sub(1);
                }
            }
            changed = true;
        }
    }

    // Owners waiting for their dependents: drop the GC finalizers once none remain.
    for (key, obj) in &all {
        if !is_deleting(obj) {
            continue;
        }
        let fins = finalizers(obj);
        let has_gc_finalizer = fins
            .iter()
            .any(|f| f == FOREGROUND_FINALIZER || f == ORPHAN_FINALIZER);
        if has_gc_finalizer
            && uid(obj).is_none_or(|u| dependents_of.get(u).copied().unwrap_or(0) == 0)
        {
            set_finalizers(
                objects,
                key,
                fins.into_iter()
                    .filter(|f| f != FOREGROUND_FINALIZER && f != ORPHAN_FINALIZER)
                    .collect(),
            );
            changed = true;
        }
        if key.resource == "/namespaces" && !namespace_has_content.contains(&key.name) {
            // The namespace's own finalizer ("kubernetes") is ours to remove.
            objects
                .store
                .mutate::<()>(key, |_| Ok(skiff_store::Mutation::Delete))
                .ok();
            changed = true;
        }
    }
    changed
}

/// Runs the collector until the store's event channel closes.
pub async fn run(objects: Arc<Objects>, period: Duration) {
    let (_, _, mut rx) = match objects.store.watch_from(u64::MAX) {
        Ok(s) => s,
        Err(_) => return,
    };
    let mut ticker = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            got = rx.recv() => match got {
                Ok(e) => {
                    let relevant = e.kind == EventType::Deleted || is_deleting(&e.object.metadata());
                    if !relevant { continue; }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
        // Everything queued so far is covered by the sweep, which reads current state.
        while rx.try_recv().is_ok() {}
        // Sweep until nothing changes, bounded so a misbehaving object cannot spin us.
        let objects2 = objects.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for _ in 0..16 {
                if !sweep(&objects2) {
                    break;
                }
            }
        })
        .await;
    }
}
