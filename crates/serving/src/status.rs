//! Writing `status` back: only when it changed, as a JSON merge patch of the status
//! subresource that also clears fields the new status no longer has.

use kube::api::{Api, Patch, PatchParams};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Patches `name`'s status from `old` to `new`; does nothing when they are equal.
pub async fn write<K, S>(
    api: &Api<K>,
    name: &str,
    old: Option<&S>,
    new: &S,
) -> Result<(), kube::Error>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize + PartialEq,
{
    if old == Some(new) {
        return Ok(());
    }
    let mut new_v = serde_json::to_value(new).map_err(kube::Error::SerdeError)?;
    if let (Some(old), Value::Object(new_map)) = (old, &mut new_v) {
        if let Value::Object(old_map) =
            serde_json::to_value(old).map_err(kube::Error::SerdeError)?
        {
            for key in old_map.keys() {
                if !new_map.contains_key(key) {
                    new_map.insert(key.clone(), Value::Null);
                }
            }
        }
    }
    let patch = serde_json::json!({ "status": new_v });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}
