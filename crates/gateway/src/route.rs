//! Routing: which revision serves this request. Looks the request's host up in the
//! current [`GatewayConfig`](crate::config::GatewayConfig) and picks one of the route's splits by weight. Every
//! request reads the newest table, so a traffic change applies to the next request
//! while requests already routed keep their revision.

use std::sync::{Arc, Mutex};

use http::Request;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::{HostRoute, RevisionKey, Split};

/// The routing decision, put in the request's (and the response's) extensions as an
/// `Arc<Routed>` for the layers after routing and for metrics and logs.
#[derive(Clone, Debug)]
pub struct Routed {
    /// The normalised host the request was routed by.
    pub host: String,
    /// The matched route.
    pub route: Arc<HostRoute>,
    /// Index of the chosen split in `route.splits`.
    pub split: usize,
}

impl Routed {
    /// The revision chosen for this request.
    pub fn revision(&self) -> &RevisionKey {
        &self.route.splits[self.split].revision
    }
}

/// The host a request is for: the URI authority (HTTP/2 `:authority`, or an HTTP/1
/// absolute-form target) or else the `Host` header; lowercased, without port, user
/// info or a trailing dot.
pub fn request_host<B>(req: &Request<B>) -> Option<String> {
    let raw = match req.uri().authority() {
        Some(authority) => authority.as_str(),
        None => req.headers().get(http::header::HOST)?.to_str().ok()?,
    };
    normalize_host(raw)
}

/// Lowercases `raw` and strips user info, port and a trailing dot.
pub fn normalize_host(raw: &str) -> Option<String> {
    let raw = raw.rsplit_once('@').map_or(raw, |(_, host)| host).trim();
    let host = if let Some(rest) = raw.strip_prefix('[') {
        // IPv6 literal: keep the brackets, drop the port.
        let end = rest.find(']')?;
        &raw[..end + 2]
    } else {
        match raw.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => raw,
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() {
        return None;
    }
    Some(host.to_ascii_lowercase())
}

/// Picks a split with probability proportional to its percent. `roll` is uniform in
/// `0..total` where `total` is the sum of the percents (100 for a valid route).
pub fn pick_split(splits: &[Split], roll: u32) -> Option<&Split> {
    let mut acc = 0u32;
    for split in splits {
        acc += split.percent;
        if roll < acc {
            return Some(split);
        }
    }
    None
}

/// The source of split rolls: the thread-local RNG, or a seeded one (reproducible
/// splits for tests).
#[derive(Clone)]
pub enum Dice {
    /// `rand::thread_rng()`.
    Thread,
    /// A seeded generator shared by all connections.
    Seeded(Arc<Mutex<StdRng>>),
}

impl Dice {
    /// Seeded if `seed` is given, else thread-local.
    pub fn new(seed: Option<u64>) -> Dice {
        match seed {
            Some(seed) => Dice::Seeded(Arc::new(Mutex::new(StdRng::seed_from_u64(seed)))),
            None => Dice::Thread,
        }
    }

    /// Uniform in `0..total` (`total` > 0).
    pub fn roll(&self, total: u32) -> u32 {
        match self {
            Dice::Thread => rand::thread_rng().gen_range(0..total),
            Dice::Seeded(rng) => rng.lock().unwrap().gen_range(0..total),
        }
    }
}

/// Chooses a revision for a route, by weight.
pub fn choose_revision<'a>(route: &'a HostRoute, dice: &Dice) -> Option<&'a RevisionKey> {
    choose_split(route, dice).map(|i| &route.splits[i].revision)
}

/// Chooses a split of a route by weight: its index in `route.splits`.
pub fn choose_split(route: &HostRoute, dice: &Dice) -> Option<usize> {
    if let [only] = route.splits.as_slice() {
        // One target (the common case): no roll needed.
        return (only.percent > 0).then_some(0);
    }
    let total: u32 = route.splits.iter().map(|s| s.percent).sum();
    if total == 0 {
        return None;
    }
    let roll = dice.roll(total);
    let mut acc = 0u32;
    route.splits.iter().position(|split| {
        acc += split.percent;
        roll < acc
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(name: &str, percent: u32) -> Split {
        Split {
            revision: RevisionKey {
                namespace: "default".into(),
                name: name.into(),
            },
            percent,
        }
    }

    #[test]
    fn host_normalisation() {
        assert_eq!(
            normalize_host("Hello.Default.LOCALHOST:8080").as_deref(),
            Some("hello.default.localhost")
        );
        assert_eq!(
            normalize_host("hello.default.localhost.").as_deref(),
            Some("hello.default.localhost")
        );
        assert_eq!(normalize_host("[::1]:80").as_deref(), Some("[::1]"));
        assert_eq!(normalize_host("user@a.b:1").as_deref(), Some("a.b"));
        assert_eq!(normalize_host(""), None);
        assert_eq!(normalize_host(":80"), None);
    }

    #[test]
    fn host_from_authority_or_header() {
        let req = Request::get("http://A.example:81/x")
            .header("host", "other")
            .body(())
            .unwrap();
        assert_eq!(request_host(&req).as_deref(), Some("a.example"));
        let req = Request::get("/x")
            .header("host", "B.example")
            .body(())
            .unwrap();
        assert_eq!(request_host(&req).as_deref(), Some("b.example"));
        let req = Request::get("/x").body(()).unwrap();
        assert_eq!(request_host(&req), None);
    }

    #[test]
    fn split_boundaries() {
        let splits = [split("a", 90), split("b", 10)];
        assert_eq!(pick_split(&splits, 0).unwrap().revision.name, "a");
        assert_eq!(pick_split(&splits, 89).unwrap().revision.name, "a");
        assert_eq!(pick_split(&splits, 90).unwrap().revision.name, "b");
        assert_eq!(pick_split(&splits, 99).unwrap().revision.name, "b");
        assert!(pick_split(&splits, 100).is_none());
        let zero_first = [split("a", 0), split("b", 100)];
        assert_eq!(pick_split(&zero_first, 0).unwrap().revision.name, "b");
    }
}
