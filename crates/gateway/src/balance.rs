//! Load balancing with Knative's per-instance concurrency limit (queue-proxy's
//! breaker, the activator's throttler): each revision has a pool of its ready
//! instances with their in-flight counts. A request takes a [`Permit`] on the least
//! loaded instance (ties round-robin); with `containerConcurrency` N > 0 no instance
//! gets more than N, and requests beyond that wait in a bounded FIFO queue, served as
//! slots free. The permit is held until the response body ends (or an upgraded
//! connection closes) and then frees the slot.
//!
//! Pools follow the published endpoints: an instance that leaves takes no new
//! requests but keeps its in-flight ones until they finish, so a traffic or endpoint
//! change never drops a request.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::config::{Endpoints, FastMap, RevisionEndpoints, RevisionKey};

/// The instance a request was given, in the request and response extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instance(pub SocketAddr);

/// All revisions' pools.
pub struct Balancer {
    pools: Mutex<FastMap<RevisionKey, Arc<Pool>>>,
    max_queue: usize,
}

impl Balancer {
    /// A balancer whose per-revision wait queues hold at most `max_queue` requests.
    pub fn new(max_queue: usize) -> Self {
        Balancer {
            pools: Mutex::new(FastMap::default()),
            max_queue,
        }
    }

    /// The pool of `key`, brought up to date with `ep` first.
    pub fn pool(&self, key: &RevisionKey, ep: &Arc<RevisionEndpoints>) -> Arc<Pool> {
        let pool = {
            let mut pools = self.pools.lock().unwrap();
            match pools.get(key) {
                Some(pool) => pool.clone(),
                None => {
                    let pool = Arc::new(Pool::new(self.max_queue));
                    pools.insert(key.clone(), pool.clone());
                    pool
                }
            }
        };
        pool.sync(Some(ep));
        pool
    }

    /// Brings every pool up to date with `endpoints` (instances that appeared take
    /// queued requests at once; instances that left drain), and forgets idle pools of
    /// revisions that are gone.
    pub fn update(&self, endpoints: &Endpoints) {
        let mut pools = self.pools.lock().unwrap();
        for (key, ep) in &endpoints.revisions {
            if let Some(pool) = pools.get(key) {
                pool.sync(Some(ep));
            }
        }
        pools.retain(|key, pool| {
            if endpoints.revisions.contains_key(key) {
                return true;
            }
            pool.sync(None);
            !pool.is_idle()
        });
    }

    /// In-flight requests per instance of `key` (for tests and diagnostics).
    pub fn in_flight(&self, key: &RevisionKey) -> Vec<(SocketAddr, u32)> {
        let pools = self.pools.lock().unwrap();
        pools.get(key).map_or_else(Vec::new, |pool| {
            let st = pool.state.lock().unwrap();
            st.instances.iter().map(|i| (i.addr, i.in_flight)).collect()
        })
    }
}

/// One revision's instances, their load, and the requests waiting for a slot.
pub struct Pool {
    state: Mutex<PoolState>,
    max_queue: usize,
}

struct PoolState {
    /// The endpoints last synced from (compared by pointer: cheap per request).
    synced: Option<Arc<RevisionEndpoints>>,
    instances: Vec<InstanceState>,
    /// containerConcurrency: 0 = unlimited.
    limit: u32,
    /// Round-robin cursor among equally loaded instances.
    cursor: usize,
    waiters: VecDeque<oneshot::Sender<Permit>>,
}

struct InstanceState {
    addr: SocketAddr,
    in_flight: u32,
    /// False once the instance left the endpoints: it only drains.
    ready: bool,
}

/// Why no permit could be had.
#[derive(Debug, thiserror::Error)]
pub enum AcquireError {
    /// The wait queue is full.
    #[error("{0} requests are already waiting for a free instance")]
    QueueFull(usize),
    /// The pool was dropped while waiting (not expected in practice).
    #[error("the revision's instance pool went away")]
    Closed,
}

impl Pool {
    fn new(max_queue: usize) -> Self {
        Pool {
            state: Mutex::new(PoolState {
                synced: None,
                instances: Vec::new(),
                limit: 0,
                cursor: 0,
                waiters: VecDeque::new(),
            }),
            max_queue,
        }
    }

    /// Takes a slot on an instance, waiting in FIFO order if all are at their limit.
    pub async fn acquire(self: &Arc<Self>) -> Result<Permit, AcquireError> {
        let rx = {
            let mut st = self.state.lock().unwrap();
            if st.waiters.is_empty() {
                if let Some(permit) = self.take(&mut st) {
                    return Ok(permit);
                }
            }
            if st.waiters.len() >= self.max_queue {
                st.waiters.retain(|w| !w.is_closed());
                if st.waiters.len() >= self.max_queue {
                    return Err(AcquireError::QueueFull(st.waiters.len()));
                }
            }
            let (tx, rx) = oneshot::channel();
            st.waiters.push_back(tx);
            rx
        };
        rx.await.map_err(|_| AcquireError::Closed)
    }

    /// A slot on the least loaded instance, if one is free now (no waiting).
    pub fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        let mut st = self.state.lock().unwrap();
        self.take(&mut st)
    }

    /// A permit on the least loaded instance with a free slot, if any.
    fn take(self: &Arc<Self>, st: &mut PoolState) -> Option<Permit> {
        let n = st.instances.len();
        let mut best: Option<usize> = None;
        for k in 0..n {
            let i = (st.cursor + k) % n;
            let inst = &st.instances[i];
            if !inst.ready || (st.limit > 0 && inst.in_flight >= st.limit) {
                continue;
            }
            if best.is_none_or(|b| inst.in_flight < st.instances[b].in_flight) {
                best = Some(i);
            }
        }
        let i = best?;
        st.cursor = (i + 1) % n;
        st.instances[i].in_flight += 1;
        Some(Permit {
            pool: self.clone(),
            addr: st.instances[i].addr,
            armed: true,
        })
    }

    /// Hands free slots to waiting requests, oldest first.
    fn dispatch(self: &Arc<Self>, st: &mut PoolState) {
        while let Some(front) = st.waiters.front() {
            if front.is_closed() {
                st.waiters.pop_front();
                continue;
            }
            let Some(permit) = self.take(st) else { return };
            let tx = st.waiters.pop_front().expect("front exists");
            if let Err(mut permit) = tx.send(permit) {
                // The waiter gave up in the meantime: undo without re-entering the lock.
                permit.armed = false;
                Self::release_locked(st, permit.addr);
            }
        }
    }

    fn release_locked(st: &mut PoolState, addr: SocketAddr) {
        if let Some(pos) = st.instances.iter().position(|i| i.addr == addr) {
            let inst = &mut st.instances[pos];
            inst.in_flight = inst.in_flight.saturating_sub(1);
            if !inst.ready && inst.in_flight == 0 {
                st.instances.remove(pos);
            }
        }
    }

    fn release(self: &Arc<Self>, addr: SocketAddr) {
        let mut st = self.state.lock().unwrap();
        Self::release_locked(&mut st, addr);
        self.dispatch(&mut st);
    }

    /// Follows `ep` (None: the revision has no endpoints any more).
    fn sync(self: &Arc<Self>, ep: Option<&Arc<RevisionEndpoints>>) {
        let mut st = self.state.lock().unwrap();
        let same = match (&st.synced, ep) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if same {
            return;
        }
        st.synced = ep.cloned();
        let addresses: &[SocketAddr] = ep.map_or(&[], |e| &e.addresses);
        st.limit = ep.map_or(0, |e| e.container_concurrency);
        let old = std::mem::take(&mut st.instances);
        let mut instances: Vec<InstanceState> = Vec::with_capacity(addresses.len());
        for &addr in addresses {
            if instances.iter().any(|i| i.addr == addr) {
                continue;
            }
            let in_flight = old
                .iter()
                .find(|i| i.addr == addr)
                .map_or(0, |i| i.in_flight);
            instances.push(InstanceState {
                addr,
                in_flight,
                ready: true,
            });
        }
        for inst in old {
            if inst.in_flight > 0 && !addresses.contains(&inst.addr) {
                instances.push(InstanceState {
                    ready: false,
                    ..inst
                });
            }
        }
        st.instances = instances;
        if st.cursor >= st.instances.len() {
            st.cursor = 0;
        }
        self.dispatch(&mut st);
    }

    fn is_idle(&self) -> bool {
        let st = self.state.lock().unwrap();
        st.waiters.iter().all(|w| w.is_closed()) && st.instances.iter().all(|i| i.in_flight == 0)
    }
}

/// A slot on one instance; dropping it frees the slot for the next waiting request.
pub struct Permit {
    pool: Arc<Pool>,
    addr: SocketAddr,
    armed: bool,
}

impl Permit {
    /// The instance this permit is for.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The instance refused a connection (crashed, or stopping): it gets no new
    /// requests until the endpoints are published again; the slot is freed.
    pub fn fail(self) {
        {
            let mut st = self.pool.state.lock().unwrap();
            if let Some(inst) = st.instances.iter_mut().find(|i| i.addr == self.addr) {
                inst.ready = false;
            }
        }
        drop(self);
    }

    /// The pool this permit came from (to take another slot after [`Permit::fail`]).
    pub fn pool(&self) -> Arc<Pool> {
        self.pool.clone()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.armed {
            self.pool.release(self.addr);
        }
    }
}

impl std::fmt::Debug for Permit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Permit").field("addr", &self.addr).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ep(addrs: &[u16], cc: u32) -> Arc<RevisionEndpoints> {
        Arc::new(RevisionEndpoints {
            addresses: addrs
                .iter()
                .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
                .collect(),
            container_concurrency: cc,
            timeout: Duration::from_secs(10),
            service: "s".into(),
            configuration: "c".into(),
        })
    }

    fn key() -> RevisionKey {
        RevisionKey {
            namespace: "ns".into(),
            name: "r".into(),
        }
    }

    #[tokio::test]
    async fn least_loaded_with_round_robin_ties() {
        let b = Balancer::new(10);
        let e = ep(&[1, 2, 3], 0);
        let pool = b.pool(&key(), &e);
        let p1 = pool.acquire().await.unwrap();
        let p2 = pool.acquire().await.unwrap();
        let p3 = pool.acquire().await.unwrap();
        let mut ports = vec![p1.addr().port(), p2.addr().port(), p3.addr().port()];
        ports.sort();
        assert_eq!(ports, vec![1, 2, 3], "ties spread round-robin");
        let freed = p2.addr();
        drop(p2);
        let p4 = pool.acquire().await.unwrap();
        assert_eq!(p4.addr(), freed, "the least loaded instance wins");
        drop((p1, p3, p4));
        assert!(b.in_flight(&key()).iter().all(|(_, n)| *n == 0));
    }

    #[tokio::test]
    async fn limit_queues_fifo_and_overflows() {
        let b = Balancer::new(2);
        let pool = b.pool(&key(), &ep(&[1], 1));
        let first = pool.acquire().await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for n in 0..2 {
            let pool = pool.clone();
            let order = order.clone();
            waiters.push(tokio::spawn(async move {
                let permit = pool.acquire().await.unwrap();
                order.lock().unwrap().push(n);
                tokio::task::yield_now().await;
                drop(permit);
            }));
            // Let the waiter enqueue before the next one.
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
        }
        assert!(matches!(
            pool.acquire().await,
            Err(AcquireError::QueueFull(2))
        ));
        drop(first);
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1]);
    }

    #[tokio::test]
    async fn cancelled_waiter_does_not_leak_a_slot() {
        let b = Balancer::new(10);
        let pool = b.pool(&key(), &ep(&[1], 1));
        let first = pool.acquire().await.unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(10), pool.acquire()).await;
        assert!(waiting.is_err(), "must wait while the only slot is taken");
        drop(first);
        let again = pool.acquire().await.unwrap();
        assert_eq!(again.addr().port(), 1);
    }

    #[tokio::test]
    async fn removed_instance_drains_and_new_one_serves_waiters() {
        let b = Balancer::new(10);
        let pool = b.pool(&key(), &ep(&[1], 1));
        let old = pool.acquire().await.unwrap();
        let waiter = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.acquire().await.unwrap().addr().port() })
        };
        tokio::task::yield_now().await;
        let mut eps = Endpoints::default();
        eps.revisions.insert(key(), ep(&[2], 1));
        b.update(&eps);
        assert_eq!(
            waiter.await.unwrap(),
            2,
            "the new instance takes the waiter"
        );
        assert_eq!(old.addr().port(), 1);
        let counts = b.in_flight(&key());
        assert!(counts.contains(&(old.addr(), 1)), "{counts:?}");
        drop(old);
        assert!(!b.in_flight(&key()).iter().any(|(a, _)| a.port() == 1));
    }
}
