//! `?watch=true`: a chunked stream of `{"type": ..., "object": ...}` lines, starting
//! from a resourceVersion (replayed from the store's event log) or from "now" with the
//! current objects as synthetic ADDED events, with bookmarks, selector filtering (an
//! object that stops matching is reported DELETED), Table output, and 410 Expired for
//! a compacted resourceVersion.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, StatusCode};
use serde_json::{json, Value};
use skiff_store::{Event, EventType, WatchError};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use crate::http::App;
use crate::objects::{ListOptions, Objects};
use crate::registry::ResourceDef;
use crate::status::ApiError;
use crate::table::{self, IncludeObject, Representation};

/// Parameters of one watch request.
#[derive(Clone, Debug)]
pub struct WatchParams {
    pub resource_version: String,
    pub bookmarks: bool,
    pub send_initial_events: bool,
    pub timeout: Option<Duration>,
    pub repr: Representation,
    pub include: IncludeObject,
}

struct Filter {
    resource: String,
    namespace: Option<String>,
    opts: ListOptions,
}

impl Filter {
    fn matches(&self, obj: &Value) -> bool {
        if let Some(ns) = &self.namespace {
            if obj.pointer("/metadata/namespace").and_then(Value::as_str) != Some(ns.as_str()) {
                return false;
            }
        }
        if let Some(sel) = &self.opts.label_selector {
            if !sel.matches(obj.pointer("/metadata/labels").and_then(Value::as_object)) {
                return false;
            }
        }
        if let Some(sel) = &self.opts.field_selector {
            if !sel.matches(obj) {
                return false;
            }
        }
        true
    }

    /// What a watcher with this filter sees of a store event, if anything.
    fn translate(&self, e: &Event) -> Option<(&'static str, Arc<Value>)> {
        if e.key.resource != self.resource {
            return None;
        }
        let object = e.object.value();
        let now = self.matches(&object);
        let before = e.prev.as_ref().is_some_and(|p| self.matches(&p.value()));
        let kind = match e.kind {
            EventType::Added if now => "ADDED",
            EventType::Modified if now && before => "MODIFIED",
            EventType::Modified if now => "ADDED",
            EventType::Modified if before => "DELETED",
            EventType::Deleted if now => "DELETED",
            _ => return None,
        };
        Some((kind, object))
    }
}

struct Encoder {
    def: Arc<ResourceDef>,
    repr: Representation,
    include: IncludeObject,
    objects: Arc<Objects>,
}

impl Encoder {
    fn line(&self, kind: &str, obj: &Arc<Value>) -> Bytes {
        let obj = Objects::present(&self.def, obj);
        let payload = match self.repr {
            Representation::Full => (*obj).clone(),
            Representation::PartialMetadata => table::partial_metadata(&obj),
            Representation::Table => table::table(
                &self.def,
                std::iter::once(&*obj),
                None,
                None,
                self.include,
                self.objects.clock().now(),
            ),
        };
        let mut v =
            serde_json::to_vec(&json!({"type": kind, "object": payload})).unwrap_or_default();
        v.push(b'\n');
        Bytes::from(v)
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj =
            json!({"kind": self.def.kind, "apiVersion": self.def.api_version(), "metadata": meta});
        let mut v =
            serde_json::to_vec(&json!({"type": "BOOKMARK", "object": obj})).unwrap_or_default();
        v.push(b'\n');
        Bytes::from(v)
    }
}

fn error_line(e: &ApiError) -> Bytes {
    let mut v =
        serde_json::to_vec(&json!({"type": "ERROR", "object": e.to_status()})).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

/// Starts a watch and returns the streaming response.
pub fn watch(
    app: Arc<App>,
    def: Arc<ResourceDef>,
    namespace: Option<String>,
    opts: ListOptions,
    params: WatchParams,
) -> Result<Response, ApiError> {
    let store = app.objects.store.clone();
    let filter = Filter {
        resource: def.storage_resource(),
        namespace: namespace.clone(),
        opts: opts.clone(),
    };
    let encoder = Encoder {
        def: def.clone(),
        repr: params.repr,
        include: params.include,
        objects: app.objects.clone(),
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(256);

    let requested: Option<u64> = match params.resource_version.as_str() {
        "" | "0" => None,
        s => Some(
            s.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s}")))?,
        ),
    };
    let initial_events = requested.is_none() || params.send_initial_events;
    let start = match requested {
        Some(rv) if !params.send_initial_events => store.watch_from(rv),
        _ => store.watch_from(u64::MAX),
    };
    let (replay, mut last_rv, mut live) = match start {
        Ok(s) => s,
        Err(WatchError::TooOld { requested, oldest }) => {
            let e = ApiError::gone(format!("too old resource version: {requested} ({oldest})"));
            return Ok((
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                error_line(&e),
            )
                .into_response());
        }
    };
    // The list the synthetic ADDED events come from must be consistent with `last_rv`:
    // everything up to it is in the list, everything after arrives on `live`. `live`
    // was subscribed before the list was taken (atomically, at the list's
    // resourceVersion), so the watch continues from the list's resourceVersion and
    // skips the live events the list already contains. (Filtering the list by the
    // earlier subscription's resourceVersion instead would drop an object changed in
    // between, and its watcher would see MODIFIED without ever seeing ADDED.)
    let initial: Vec<Arc<Value>> = if initial_events {
        let listed = app.objects.list(
            &def,
            namespace.as_deref(),
            &ListOptions {
                limit: None,
                continue_token: None,
                ..opts
            },
        )?;
        last_rv = last_rv.max(listed.resource_version);
        listed.items
    } else {
        Vec::new()
    };
    let bookmark_every = app.options.bookmark_interval;
    let timeout = params.timeout.unwrap_or(Duration::from_secs(1800));
    let bookmarks = params.bookmarks;
    let send_initial_end = params.send_initial_events && bookmarks;

    tokio::spawn(async move {
        let send = |b: Bytes| {
            let tx = tx.clone();
            async move { tx.send(Ok(b)).await.is_ok() }
        };
        for obj in &initial {
            if !send(encoder.line("ADDED", obj)).await {
                return;
            }
        }
        if send_initial_end && !send(encoder.bookmark(last_rv, true)).await {
            return;
        }
        for e in &replay {
            if let Some((kind, obj)) = filter.translate(e) {
                if !send(encoder.line(kind, &obj)).await {
                    return;
                }
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(bookmark_every);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                _ = ticker.tick(), if bookmarks => {
                    if !send(encoder.bookmark(last_rv, false)).await { return; }
                }
                got = live.recv() => {
                    let events: Vec<Arc<Event>> = match got {
                        Ok(e) => vec![e],
                        Err(RecvError::Lagged(_)) => {
                            // Fell behind the live channel: catch up from the log.
                            let upto = store.current_rv();
                            match store.events_between(last_rv, upto) {
                                Ok(evs) => evs,
                                Err(err) => {
                                    let _ = send(error_line(&ApiError::internal(err))).await;
                                    return;
                                }
                            }
                        }
                        Err(RecvError::Closed) => return,
                    };
                    for e in events {
                        if e.rv <= last_rv {
                            continue;
                        }
                        last_rv = e.rv;
                        if let Some((kind, obj)) = filter.translate(&e) {
                            if !send(encoder.line(kind, &obj)).await { return; }
                        }
                    }
                }
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache, private"),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
