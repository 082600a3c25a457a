//! The gateway: the data plane that answers at a Route's URL. It routes by Host to the
//! Route's revisions, split by percent per request, with tag hosts, and forwards to
//! ready instances with Knative's per-instance concurrency limit and revision timeout
//! (the jobs of Istio's ingress + Knative's activator/queue-proxy).
//!
//! The serving controllers program it through [`config::GatewayConfig`] (routes) and
//! [`config::Endpoints`] (ready instances per revision), published on
//! `tokio::sync::watch` channels; the gateway never reads API objects itself.

pub mod config;
