//! The Configuration controller (knative/serving `pkg/reconciler/configuration`): stamps
//! out one immutable Revision per template generation and tracks the latest created and
//! latest ready ones.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::ResourceExt;
use skiff_api::v1::{Configuration, ConfigurationStatus, Revision};

use crate::conditions::{Conditions, FALSE, READY, TRUE, UNKNOWN};
use crate::labels::{
    controller_ref, is_controlled_by, label, revision_name, CONFIGURATION_GENERATION_LABEL,
    CONFIGURATION_LABEL, CONFIGURATION_UID_LABEL, SERVICE_LABEL, SERVICE_UID_LABEL,
};
use crate::{Ctx, Error};

/// Runs the Configuration controller until the task is aborted.
pub(crate) async fn run(ctx: Arc<Ctx>) {
    let client = ctx.client.clone();
    Controller::new(
        Api::<Configuration>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(Api::<Revision>::all(client), watcher::Config::default())
    .run(reconcile, error_policy, ctx)
    .for_each(|_| futures::future::ready(()))
    .await;
}

fn error_policy(c: Arc<Configuration>, err: &Error, _ctx: Arc<Ctx>) -> Action {
    tracing::debug!(configuration = %c.name_any(), error = %err, "configuration reconcile failed");
    Action::requeue(std::time::Duration::from_millis(500))
}

/// Whether a Revision is Ready at its current generation (Knative's `IsReady`).
pub(crate) fn revision_ready(rev: &Revision) -> Option<&str> {
    let st = rev.status.as_ref()?;
    if st.status.observed_generation != rev.metadata.generation {
        return None;
    }
    st.status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == READY)
        .map(|c| c.status.as_str())
}

fn generation_of(rev: &Revision) -> i64 {
    label(&rev.metadata, CONFIGURATION_GENERATION_LABEL)
        .parse()
        .unwrap_or(0)
}

/// Knative's `MakeRevision`: the template's metadata and spec, Knative's labels, and
/// the Configuration as controlling owner.
fn make_revision(config: &Configuration, name: &str) -> Revision {
    let template = &config.spec.template;
    let mut labels = template.metadata.labels.clone().unwrap_or_default();
    let mut put = |k: &str, v: String| {
        if !v.is_empty() {
            labels.insert(k.to_string(), v);
        }
    };
    put(CONFIGURATION_LABEL, config.name_any());
    put(
        CONFIGURATION_GENERATION_LABEL,
        config.metadata.generation.unwrap_or(0).to_string(),
    );
    put(CONFIGURATION_UID_LABEL, config.uid().unwrap_or_default());
    put(
        SERVICE_LABEL,
        label(&config.metadata, SERVICE_LABEL).to_string(),
    );
    put(
        SERVICE_UID_LABEL,
        label(&config.metadata, SERVICE_UID_LABEL).to_string(),
    );
    Revision {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: config.namespace(),
            labels: Some(labels),
            annotations: template.metadata.annotations.clone(),
            owner_references: Some(vec![controller_ref(config)]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

async fn reconcile(config: Arc<Configuration>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    if config.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = config.namespace().unwrap_or_default();
    let name = config.name_any();
    let mut status: ConfigurationStatus = config.status.clone().unwrap_or_default();
    let mut list = status.status.conditions.take().unwrap_or_default();
    let mut conds = Conditions::new(&mut list, ctx.options.clock.now());
    if conds.get(READY).is_none() {
        conds.set(READY, UNKNOWN, "", "");
    }
    let revisions: Api<Revision> = Api::namespaced(ctx.client.clone(), &ns);
    let result = reconcile_revisions(&config, &revisions, &mut status, &mut conds).await;
    status.status.conditions = Some(list);
    if result.is_ok() {
        status.status.observed_generation = config.metadata.generation;
    }
    let api: Api<Configuration> = Api::namespaced(ctx.client.clone(), &ns);
    crate::status::write(&api, &name, config.status.as_ref(), &status).await?;
    result?;
    Ok(Action::requeue(ctx.options.resync))
}

async fn reconcile_revisions(
    config: &Configuration,
    revisions: &Api<Revision>,
    status: &mut ConfigurationStatus,
    conds: &mut Conditions<'_>,
) -> Result<(), Error> {
    let name = config.name_any();
    let uid = config.uid().unwrap_or_default();
    let generation = config.metadata.generation.unwrap_or(0);
    let byo = config
        .spec
        .template
        .metadata
        .name
        .clone()
        .filter(|n| !n.is_empty());

    // The Revision of the current generation, created if missing.
    let existing = match &byo {
        Some(rev_name) => revisions.get_opt(rev_name).await?,
        None => {
            let lp = ListParams::default().labels(&format!(
                "{CONFIGURATION_LABEL}={name},{CONFIGURATION_GENERATION_LABEL}={generation}"
            ));
            revisions
                .list(&lp)
                .await?
                .items
                .into_iter()
                .find(|r| is_controlled_by(&r.metadata, &uid))
        }
    };
    let latest = match existing {
        Some(rev) if is_controlled_by(&rev.metadata, &uid) => rev,
        Some(rev) => {
            let msg = format!(
                "revisions.serving.knative.dev {:?} already exists and is not owned by configuration {name:?}",
                rev.name_any()
            );
            conds.set(
                READY,
                FALSE,
                "RevisionFailed",
                &format!("Revision creation failed with message: {msg}."),
            );
            return Err(Error::Other(msg));
        }
        None => {
            let rev_name = byo.unwrap_or_else(|| revision_name(&name, generation));
            let rev = make_revision(config, &rev_name);
            match revisions.create(&PostParams::default(), &rev).await {
                Ok(r) => r,
                Err(e) => {
                    conds.set(
                        READY,
                        FALSE,
                        "RevisionFailed",
                        &format!("Revision creation failed with message: {e}."),
                    );
                    return Err(e.into());
                }
            }
        }
    };

    // Knative's SetLatestCreatedRevisionName and the switch on its readiness.
    let latest_name = latest.name_any();
    status.configuration.latest_created_revision_name = Some(latest_name.clone());
    if status.configuration.latest_ready_revision_name.as_deref() != Some(latest_name.as_str()) {
        conds.set(READY, UNKNOWN, "", "");
    }
    match revision_ready(&latest) {
        Some(TRUE) => set_latest_ready(status, conds, &latest_name),
        Some(FALSE) => {
            let message = latest
                .status
                .as_ref()
                .and_then(|s| s.status.conditions.as_ref())
                .and_then(|cs| cs.iter().find(|c| c.type_ == READY))
                .and_then(|c| c.message.clone())
                .unwrap_or_default();
            conds.set(
                READY,
                FALSE,
                "RevisionFailed",
                &format!("Revision {latest_name:?} failed with message: {message}."),
            );
        }
        _ => {}
    }

    // findAndSetLatestReadyRevision: the newest ready revision between the current
    // latest ready one and this generation.
    let lp = ListParams::default().labels(&format!("{CONFIGURATION_LABEL}={name}"));
    let mut all: Vec<Revision> = revisions
        .list(&lp)
        .await?
        .items
        .into_iter()
        .filter(|r| is_controlled_by(&r.metadata, &uid))
        .collect();
    let floor = status
        .configuration
        .latest_ready_revision_name
        .as_ref()
        .and_then(|n| all.iter().find(|r| r.metadata.name.as_ref() == Some(n)))
        .map(generation_of)
        .unwrap_or(0);
    all.retain(|r| (floor..=generation).contains(&generation_of(r)));
    all.sort_by_key(|r| std::cmp::Reverse(generation_of(r)));
    if let Some(ready) = all.iter().find(|r| revision_ready(r) == Some(TRUE)) {
        set_latest_ready(status, conds, &ready.name_any());
    }
    Ok(())
}

fn set_latest_ready(status: &mut ConfigurationStatus, conds: &mut Conditions<'_>, name: &str) {
    status.configuration.latest_ready_revision_name = Some(name.to_string());
    if status.configuration.latest_created_revision_name.as_deref() == Some(name) {
        conds.set(READY, TRUE, "", "");
    }
}
