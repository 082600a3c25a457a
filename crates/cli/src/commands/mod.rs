//! The kubectl-like client subcommands (`apply`, `get`, `describe`, `delete`) and the
//! small pieces they share: client config, resource discovery, manifest reading,
//! apply diffing and output formatting.

pub mod apply;
pub mod client;
pub mod delete;
pub mod describe;
pub mod diff;
pub mod errors;
pub mod get;
pub mod image;
pub mod logs;
pub mod manifest;
pub mod output;
pub mod resources;
pub mod start;
