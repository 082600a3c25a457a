//! The embedded object store: every API object as JSON in SQLite (WAL mode), an
//! in-memory index for fast reads, a store-wide increasing `resourceVersion`, and an
//! event log so watches can resume from an older resourceVersion, even across restarts.
//!
//! The store knows nothing about Kubernetes semantics beyond `metadata.resourceVersion`:
//! callers decide what an object looks like inside [`Store::mutate`], which runs under
//! the store's write lock so read-modify-write is atomic.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use tokio::sync::broadcast;

/// Where an object lives: its resource (`group/plural`, core group is empty), namespace
/// (empty for cluster-scoped objects) and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

impl Key {
    /// Builds a key from its three parts.
    pub fn new(resource: &str, namespace: &str, name: &str) -> Self {
        Key {
            resource: resource.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

/// What happened to an object, as watch streams report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    /// The Kubernetes watch event type string.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
    fn parse(s: &str) -> EventType {
        match s {
            "ADDED" => EventType::Added,
            "DELETED" => EventType::Deleted,
            _ => EventType::Modified,
        }
    }
}

/// An object as the store keeps it in memory: parsed, or — when its JSON is larger than
/// [`TEXT_ABOVE`] — as that JSON, parsed again whenever it is read. Large objects are
/// CRDs with their schemas (Knative's and Tekton's are hundreds of kB each; parsed,
/// a JSON document takes several times its text), which are read rarely.
#[derive(Clone, Debug)]
pub enum Held {
    Parsed(Arc<Value>),
    Text(Arc<str>),
}

/// Objects whose JSON is longer than this are held as text (see [`Held`]).
pub const TEXT_ABOVE: usize = 32 * 1024;

/// Holds JSON read back from the database (checked to parse).
fn held_from_text(text: String) -> Result<Held, serde_json::Error> {
    if text.len() > TEXT_ABOVE {
        serde_json::from_str::<serde::de::IgnoredAny>(&text)?;
        Ok(Held::Text(text.into()))
    } else {
        Ok(Held::Parsed(Arc::new(serde_json::from_str(&text)?)))
    }
}

impl Held {
    /// Holds `object`, whose JSON is `text`.
    fn new(object: Arc<Value>, text: &str) -> Held {
        if text.len() > TEXT_ABOVE {
            Held::Text(text.into())
        } else {
            Held::Parsed(object)
        }
    }

    /// `{"metadata": …}` of the object: all of it when parsed already, only its
    /// metadata parsed from the text otherwise (for sweeps that look at every object).
    pub fn metadata(&self) -> Arc<Value> {
        #[derive(serde::Deserialize)]
        struct MetadataOnly {
            #[serde(default)]
            metadata: Value,
        }
        match self {
            Held::Parsed(v) => v.clone(),
            Held::Text(t) => {
                let m = serde_json::from_str::<MetadataOnly>(t)
                    .map(|m| m.metadata)
                    .unwrap_or(Value::Null);
                Arc::new(serde_json::json!({ "metadata": m }))
            }
        }
    }

    /// The object (parsed now if held as text; the text was written by this store, so
    /// it parses).
    pub fn value(&self) -> Arc<Value> {
        match self {
            Held::Parsed(v) => v.clone(),
            Held::Text(t) => Arc::new(serde_json::from_str(t).unwrap_or(Value::Null)),
        }
    }
}

/// One change to one object. `object` is the new state (for deletes: the last state,
/// carrying the deletion's resourceVersion); `prev` is the state before, when known, so
/// selector-filtered watches can turn "stopped matching" into a DELETED event.
#[derive(Clone, Debug)]
pub struct Event {
    pub rv: u64,
    pub kind: EventType,
    pub key: Key,
    pub object: Held,
    pub prev: Option<Held>,
}

/// What a [`Store::mutate`] closure decides to do with the object.
pub enum Mutation {
    /// Write this object (create or replace); the store sets its resourceVersion.
    Put(Value),
    /// Remove the object.
    Delete,
    /// Leave everything as it is.
    Unchanged,
}

/// Store failures that are not the caller's decision.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored object is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The result of a successful mutation: the object after the change (for deletes, the
/// removed object) and the event that was published, if anything changed.
#[derive(Debug)]
pub struct Outcome {
    pub object: Option<Arc<Value>>,
    pub event: Option<Event>,
}

/// How a watch starts: the logged events to replay, the resourceVersion they reach,
/// and the live receiver for everything after it.
pub type WatchStart = (Vec<Arc<Event>>, u64, broadcast::Receiver<Arc<Event>>);

/// Why a watch cannot start where the client asked.
#[derive(Debug, PartialEq, Eq)]
pub enum WatchError {
    /// The requested resourceVersion is older than the retained history.
    TooOld { requested: u64, oldest: u64 },
}

/// Tuning knobs for the store.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// How many events the log keeps for watches that resume from an old resourceVersion.
    pub event_history: u64,
    /// Capacity of the live fan-out channel; a slower watcher falls back to the log.
    pub fanout_capacity: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            event_history: 100_000,
            fanout_capacity: 8192,
        }
    }
}

struct Inner {
    conn: Connection,
    objects: BTreeMap<Key, Held>,
    rv: u64,
    /// Events with rv <= this are gone from the log.
    compacted: u64,
    writes_since_compaction: u64,
}

/// The store. Cheap to share behind an `Arc`.
pub struct Store {
    inner: Mutex<Inner>,
    /// A second connection for reading the event log without taking the write lock.
    reader: Mutex<Connection>,
    fanout: broadcast::Sender<Arc<Event>>,
    options: StoreOptions,
    /// Tells the checkpoint thread to finish.
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Runs passive WAL checkpoints off the write path until `stop` is set.
fn spawn_checkpointer(conn: Connection, stop: Arc<std::sync::atomic::AtomicBool>) {
    let run = move || {
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(std::time::Duration::from_millis(250));
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
        }
    };
    if let Err(e) = std::thread::Builder::new()
        .name("skiff-checkpoint".into())
        .spawn(run)
    {
        tracing::warn!(error = %e, "could not start the WAL checkpoint thread; the WAL will grow until restart");
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS objects (
    resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    rv INTEGER NOT NULL, object TEXT NOT NULL,
    PRIMARY KEY (resource, namespace, name)
);
CREATE TABLE IF NOT EXISTS events (
    rv INTEGER PRIMARY KEY, type TEXT NOT NULL,
    resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    object TEXT NOT NULL, prev TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
";

fn open_conn(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // NORMAL in WAL mode: a committed transaction survives a crash of the process
    // (kill -9); only an OS crash/power loss may lose the last transactions.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

fn rv_of(obj: &Value) -> u64 {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn set_rv(obj: &mut Value, rv: u64) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

impl Store {
    /// Opens (or creates) the store at `path` and loads every object into memory.
    pub fn open(path: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        let conn = open_conn(path)?;
        conn.execute_batch(SCHEMA)?;
        let mut objects = BTreeMap::new();
        let mut max_rv = 0u64;
        {
            let mut stmt =
                conn.prepare("SELECT resource, namespace, name, rv, object FROM objects")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let key = Key {
                    resource: row.get(0)?,
                    namespace: row.get(1)?,
                    name: row.get(2)?,
                };
                let rv: i64 = row.get(3)?;
                let text: String = row.get(4)?;
                max_rv = max_rv.max(rv as u64);
                objects.insert(key, held_from_text(text)?);
            }
        }
        let last_event: Option<i64> =
            conn.query_row("SELECT MAX(rv) FROM events", [], |r| r.get(0))?;
        let meta_rv: Option<i64> = conn
            .query_row("SELECT value FROM meta WHERE key = 'rv'", [], |r| r.get(0))
            .optional()?;
        let compacted: Option<i64> = conn
            .query_row("SELECT value FROM meta WHERE key = 'compacted'", [], |r| {
                r.get(0)
            })
            .optional()?;
        let rv = max_rv
            .max(last_event.unwrap_or(0) as u64)
            .max(meta_rv.unwrap_or(0) as u64);
        let reader = open_conn(path)?;
        // Checkpoints copy the WAL back into the database file; done inline they stall
        // the write that triggers them, so a background thread does them instead.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        spawn_checkpointer(open_conn(path)?, stop.clone());
        let (fanout, _) = broadcast::channel(options.fanout_capacity);
        Ok(Store {
            inner: Mutex::new(Inner {
                conn,
                objects,
                rv,
                compacted: compacted.unwrap_or(0) as u64,
                writes_since_compaction: 0,
            }),
            reader: Mutex::new(reader),
            fanout,
            options,
            stop,
        })
    }

    /// The newest resourceVersion the store has handed out.
    pub fn current_rv(&self) -> u64 {
        self.inner.lock().unwrap().rv
    }

    /// One object, if it exists.
    pub fn get(&self, key: &Key) -> Option<Arc<Value>> {
        let held = self.inner.lock().unwrap().objects.get(key).cloned();
        held.map(|h| h.value())
    }

    /// One object's metadata (see [`Held::metadata`]): what garbage collection needs,
    /// without parsing a large object whole.
    pub fn get_metadata(&self, key: &Key) -> Option<Arc<Value>> {
        let held = self.inner.lock().unwrap().objects.get(key).cloned();
        held.map(|h| h.metadata())
    }

    /// All objects of a resource, optionally only one namespace's, in key order, with
    /// the resourceVersion the listing is consistent with.
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let inner = self.inner.lock().unwrap();
        let start = Key::new(resource, namespace.unwrap_or(""), "");
        let items = inner
            .objects
            .range(start..)
            .take_while(|(k, _)| {
                k.resource == resource && namespace.is_none_or(|ns| k.namespace == ns)
            })
            .map(|(_, v)| v.clone())
            .collect::<Vec<Held>>();
        let rv = inner.rv;
        drop(inner);
        (items.iter().map(Held::value).collect(), rv)
    }

    /// Every key in the store whose resource matches, for sweeps like namespace deletion
    /// and garbage collection.
    pub fn keys(&self, resource: Option<&str>) -> Vec<Key> {
        let inner = self.inner.lock().unwrap();
        inner
            .objects
            .keys()
            .filter(|k| resource.is_none_or(|r| k.resource == r))
            .cloned()
            .collect()
    }

    /// Atomically reads the object at `key`, lets `decide` choose a [`Mutation`], and
    /// commits it in one SQLite transaction. `decide` runs under the write lock, so it
    /// must be quick and must not call back into the store.
    pub fn mutate<E>(
        &self,
        key: &Key,
        decide: impl FnOnce(Option<&Arc<Value>>) -> Result<Mutation, E>,
    ) -> Result<Result<Outcome, E>, StoreError> {
        let mut inner = self.inner.lock().unwrap();
        let current_held = inner.objects.get(key).cloned();
        let current = current_held.as_ref().map(Held::value);
        let mutation = match decide(current.as_ref()) {
            Ok(m) => m,
            Err(e) => return Ok(Err(e)),
        };
        let rv = inner.rv + 1;
        let (kind, object) = match mutation {
            Mutation::Unchanged => {
                return Ok(Ok(Outcome {
                    object: current,
                    event: None,
                }))
            }
            Mutation::Put(mut obj) => {
                set_rv(&mut obj, rv);
                let kind = if current.is_some() {
                    EventType::Modified
                } else {
                    EventType::Added
                };
                (kind, Arc::new(obj))
            }
            Mutation::Delete => match &current {
                None => {
                    return Ok(Ok(Outcome {
                        object: None,
                        event: None,
                    }))
                }
                Some(cur) => {
                    let mut obj = (**cur).clone();
                    set_rv(&mut obj, rv);
                    (EventType::Deleted, Arc::new(obj))
                }
            },
        };
        let text = serde_json::to_string(&*object)?;
        let prev_text = match (&current_held, &current) {
            (Some(Held::Text(t)), _) => Some(t.to_string()),
            (_, Some(p)) => Some(serde_json::to_string(&**p)?),
            _ => None,
        };
        {
            let tx = inner.conn.transaction()?;
            if kind == EventType::Deleted {
                tx.prepare_cached(
                    "DELETE FROM objects WHERE resource = ?1 AND namespace = ?2 AND name = ?3",
                )?
                .execute(params![key.resource, key.namespace, key.name])?;
            } else {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO objects (resource, namespace, name, rv, object) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![key.resource, key.namespace, key.name, rv as i64, text])?;
            }
            tx.prepare_cached(
                "INSERT INTO events (rv, type, resource, namespace, name, object, prev) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![rv as i64, kind.as_str(), key.resource, key.namespace, key.name, text, prev_text])?;
            tx.commit()?;
        }
        inner.rv = rv;
        let held = Held::new(object.clone(), &text);
        if kind == EventType::Deleted {
            inner.objects.remove(key);
        } else {
            inner.objects.insert(key.clone(), held.clone());
        }
        let event = Event {
            rv,
            kind,
            key: key.clone(),
            object: held,
            prev: current_held,
        };
        // No receivers is fine: nobody is watching.
        let _ = self.fanout.send(Arc::new(event.clone()));
        inner.writes_since_compaction += 1;
        // Compact every 1024 writes, or sooner when the history is shorter than that, so
        // the log never holds much more than twice `event_history` events.
        if inner.writes_since_compaction >= self.options.event_history.clamp(1, 1024) {
            inner.writes_since_compaction = 0;
            Self::compact(&mut inner, self.options.event_history)?;
        }
        Ok(Ok(Outcome {
            object: Some(object),
            event: Some(event),
        }))
    }

    fn compact(inner: &mut Inner, keep: u64) -> Result<(), StoreError> {
        if inner.rv <= keep {
            return Ok(());
        }
        let horizon = inner.rv - keep;
        if horizon <= inner.compacted {
            return Ok(());
        }
        let tx = inner.conn.transaction()?;
        tx.execute("DELETE FROM events WHERE rv <= ?1", params![horizon as i64])?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('compacted', ?1)",
            params![horizon as i64],
        )?;
        tx.commit()?;
        inner.compacted = horizon;
        Ok(())
    }

    /// Forces event-log compaction now (normally it runs every 1024 writes, or every
    /// `event_history` writes if that is smaller).
    pub fn compact_now(&self) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().unwrap();
        Self::compact(&mut inner, self.options.event_history)
    }

    /// Starts a watch from `since` (exclusive): the events already in the log after it,
    /// and a live receiver for everything newer than the returned resourceVersion.
    pub fn watch_from(&self, since: u64) -> Result<WatchStart, WatchError> {
        let (rx, now, compacted) = {
            let inner = self.inner.lock().unwrap();
            (self.fanout.subscribe(), inner.rv, inner.compacted)
        };
        if since < compacted && since < now {
            return Err(WatchError::TooOld {
                requested: since,
                oldest: compacted + 1,
            });
        }
        let past = if since < now {
            self.events_between(since, now)
                .map_err(|_| WatchError::TooOld {
                    requested: since,
                    oldest: compacted + 1,
                })?
        } else {
            Vec::new()
        };
        Ok((past, now, rx))
    }

    /// Events with `after < rv <= upto`, from the log (used to replay and to recover a
    /// watcher that fell behind the live channel).
    pub fn events_between(&self, after: u64, upto: u64) -> Result<Vec<Arc<Event>>, StoreError> {
        let conn = self.reader.lock().unwrap();
        let mut stmt = conn.prepare_cached(
            "SELECT rv, type, resource, namespace, name, object, prev FROM events WHERE rv > ?1 AND rv <= ?2 ORDER BY rv",
        )?;
        let mut rows = stmt.query(params![after as i64, upto as i64])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let rv: i64 = row.get(0)?;
            let kind: String = row.get(1)?;
            let object: String = row.get(5)?;
            let prev: Option<String> = row.get(6)?;
            out.push(Arc::new(Event {
                rv: rv as u64,
                kind: EventType::parse(&kind),
                key: Key {
                    resource: row.get(2)?,
                    namespace: row.get(3)?,
                    name: row.get(4)?,
                },
                object: held_from_text(object)?,
                prev: match prev {
                    Some(p) => Some(held_from_text(p)?),
                    None => None,
                },
            }));
        }
        Ok(out)
    }

    /// The oldest resourceVersion a watch may still start from.
    pub fn oldest_watchable_rv(&self) -> u64 {
        self.inner.lock().unwrap().compacted
    }
}

/// The resourceVersion stored inside an object's metadata (0 if absent).
pub fn resource_version(obj: &Value) -> u64 {
    rv_of(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn put(store: &Store, key: &Key, v: Value) -> Arc<Value> {
        store
            .mutate::<()>(key, |_| Ok(Mutation::Put(v)))
            .unwrap()
            .unwrap()
            .object
            .unwrap()
    }

    #[test]
    fn rv_increases_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let key = Key::new("/configmaps", "default", "a");
        {
            let store = Store::open(&path, StoreOptions::default()).unwrap();
            let a = put(&store, &key, json!({"metadata": {"name": "a"}}));
            assert_eq!(resource_version(&a), 1);
            let a = put(
                &store,
                &key,
                json!({"metadata": {"name": "a"}, "data": {"x": "1"}}),
            );
            assert_eq!(resource_version(&a), 2);
            store
                .mutate::<()>(&key, |_| Ok(Mutation::Delete))
                .unwrap()
                .unwrap();
        }
        let store = Store::open(&path, StoreOptions::default()).unwrap();
        assert_eq!(store.current_rv(), 3);
        assert!(store.get(&key).is_none());
        let (past, now, _rx) = store.watch_from(0).unwrap();
        assert_eq!(now, 3);
        let kinds: Vec<_> = past.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            vec![EventType::Added, EventType::Modified, EventType::Deleted]
        );
    }

    #[test]
    fn list_is_scoped_by_resource_and_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), StoreOptions::default()).unwrap();
        for (res, ns, name) in [
            ("/configmaps", "a", "x"),
            ("/configmaps", "b", "y"),
            ("/secrets", "a", "z"),
        ] {
            put(
                &store,
                &Key::new(res, ns, name),
                json!({"metadata": {"name": name}}),
            );
        }
        assert_eq!(store.list("/configmaps", None).0.len(), 2);
        assert_eq!(store.list("/configmaps", Some("a")).0.len(), 1);
        assert_eq!(store.list("/secrets", Some("b")).0.len(), 0);
    }

    #[test]
    fn refused_mutation_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), StoreOptions::default()).unwrap();
        let key = Key::new("/configmaps", "default", "a");
        let r = store.mutate(&key, |_| Err::<Mutation, _>("no")).unwrap();
        assert!(r.is_err());
        assert_eq!(store.current_rv(), 0);
    }

    #[test]
    fn short_history_is_compacted_without_being_asked() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &dir.path().join("s.db"),
            StoreOptions {
                event_history: 10,
                fanout_capacity: 16,
            },
        )
        .unwrap();
        for i in 0..30 {
            put(
                &store,
                &Key::new("/configmaps", "default", &format!("c{i}")),
                json!({"metadata": {}}),
            );
        }
        assert!(matches!(
            store.watch_from(1),
            Err(WatchError::TooOld { .. })
        ));
        assert!(store.watch_from(25).is_ok());
    }

    #[test]
    fn compaction_makes_old_watches_too_old() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &dir.path().join("s.db"),
            StoreOptions {
                event_history: 5,
                fanout_capacity: 16,
            },
        )
        .unwrap();
        for i in 0..20 {
            put(
                &store,
                &Key::new("/configmaps", "default", &format!("c{i}")),
                json!({"metadata": {}}),
            );
        }
        store.compact_now().unwrap();
        assert!(matches!(
            store.watch_from(2),
            Err(WatchError::TooOld { .. })
        ));
        let (past, _, _) = store.watch_from(16).unwrap();
        assert_eq!(past.len(), 4);
    }

    #[test]
    fn large_objects_are_held_as_text_and_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let key = Key::new("apiextensions.k8s.io/customresourcedefinitions", "", "big");
        let big = json!({
            "metadata": {"name": "big", "uid": "u1", "finalizers": ["f"]},
            "spec": {"blob": "x".repeat(TEXT_ABOVE + 1)},
        });
        let small_key = Key::new("/configmaps", "default", "small");
        {
            let store = Store::open(&path, StoreOptions::default()).unwrap();
            let (_, _, mut rx) = store.watch_from(u64::MAX).unwrap();
            put(&store, &key, big.clone());
            put(&store, &small_key, json!({"metadata": {"name": "small"}}));
            assert!(matches!(
                store.inner.lock().unwrap().objects.get(&key),
                Some(Held::Text(_))
            ));
            assert!(matches!(
                store.inner.lock().unwrap().objects.get(&small_key),
                Some(Held::Parsed(_))
            ));
            let got = store.get(&key).unwrap();
            assert_eq!(got["spec"], big["spec"]);
            assert_eq!(
                store
                    .list("apiextensions.k8s.io/customresourcedefinitions", None)
                    .0
                    .len(),
                1
            );
            let meta = store.get_metadata(&key).unwrap();
            assert_eq!(meta["metadata"]["uid"], "u1");
            assert!(meta.get("spec").is_none());
            let ev = rx.try_recv().unwrap();
            assert_eq!(ev.object.value()["spec"], big["spec"]);
        }
        // and after a restart
        let store = Store::open(&path, StoreOptions::default()).unwrap();
        assert_eq!(store.get(&key).unwrap()["spec"], big["spec"]);
        let events = store.events_between(0, store.current_rv()).unwrap();
        assert_eq!(events[0].object.value()["metadata"]["name"], "big");
    }
}
