//! skiff's Kubernetes-compatible API server: the REST surface real clients (kubectl,
//! kube-rs) use, generic over resource definitions (CRDs), over the embedded store.

// ApiError carries a Status (message, causes); errors are the cold path, so its size
// does not matter.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod body;
pub mod clock;
pub mod core_kinds;
pub mod discovery;
pub mod gc;
pub mod http;
pub mod jsonpath;
pub mod names;
pub mod objects;
pub mod openapi;
pub mod openapi_pb;
pub mod patch;
pub mod pki;
pub mod pod_logs;
pub mod protobuf;
pub mod rbac;
pub mod registry;
pub mod reviews;
pub mod schema;
pub mod selector;
pub mod server;
pub mod status;
pub mod table;
pub mod watch;

pub use auth::{IssuedToken, TokenIssuer};
pub use server::{in_process_client, run, start, ServerConfig};
