//! `GET .../pods/{name}/log`: the API server serves instance logs without knowing
//! where instances run; whoever runs them (the local runtime today) plugs in a
//! [`PodLogSource`].

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

use crate::status::ApiError;

/// Query parameters of a log request (`kubectl logs [-f] [--tail N] [-c C]`).
#[derive(Clone, Debug, Default)]
pub struct PodLogRequest {
    pub namespace: String,
    pub pod: String,
    pub container: Option<String>,
    pub follow: bool,
    pub tail_lines: Option<usize>,
}

/// A source of Pod logs.
pub trait PodLogSource: Send + Sync + 'static {
    /// The log stream of one container of one Pod, or an error naming what is missing.
    fn logs(
        &self,
        request: PodLogRequest,
    ) -> BoxFuture<'static, Result<BoxStream<'static, Bytes>, ApiError>>;
}

/// Where logs come from, settable after the server starts (the runtime is created
/// after the API it reports to).
#[derive(Default)]
pub struct PodLogs(std::sync::RwLock<Option<Arc<dyn PodLogSource>>>);

impl PodLogs {
    /// Plugs in the log source.
    pub fn set(&self, source: Arc<dyn PodLogSource>) {
        *self.0.write().unwrap() = Some(source);
    }
    /// The log source, if one is plugged in.
    pub fn get(&self) -> Option<Arc<dyn PodLogSource>> {
        self.0.read().unwrap().clone()
    }
}
