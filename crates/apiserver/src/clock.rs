//! Time, injected: everything that stamps or compares times takes a [`Clock`] so tests
//! can control it. The clocks live in `skiff_api::clock`, shared with the controllers.

pub use skiff_api::clock::{k8s_time, Clock, ManualClock, SystemClock};
