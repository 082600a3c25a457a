//! Knative condition sets (`knative.dev/pkg/apis.ConditionSet`): dependent conditions
//! roll up into a "happy" condition (`Ready`), keeping `lastTransitionTime` only when a
//! condition's status, reason or message actually changes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use skiff_api::v1::Condition;

/// `True`.
pub const TRUE: &str = "True";
/// `False`.
pub const FALSE: &str = "False";
/// `Unknown`.
pub const UNKNOWN: &str = "Unknown";
/// The happy condition of every Knative Serving kind.
pub const READY: &str = "Ready";

/// A happy condition and the conditions it depends on, in priority order (ties in
/// transition time go to the earlier one).
pub struct ConditionSet {
    pub dependents: &'static [&'static str],
}

/// Edits a condition list at one instant.
pub struct Conditions<'a> {
    list: &'a mut Vec<Condition>,
    /// The conditions as they were, so a condition that ends up unchanged keeps its
    /// transition time even if it flipped in between.
    original: Vec<Condition>,
    now: Time,
}

impl<'a> Conditions<'a> {
    /// Edits `list` with transition times of `now` (truncated to seconds, as stored).
    pub fn new(list: &'a mut Vec<Condition>, now: jiff::Timestamp) -> Self {
        let secs = jiff::Timestamp::from_second(now.as_second()).unwrap_or(now);
        Conditions {
            original: list.clone(),
            list,
            now: Time(secs),
        }
    }

    /// The condition of type `t`, if set.
    pub fn get(&self, t: &str) -> Option<&Condition> {
        self.list.iter().find(|c| c.type_ == t)
    }

    /// Whether `t` is `True`.
    pub fn is_true(&self, t: &str) -> bool {
        self.get(t).is_some_and(|c| c.status == TRUE)
    }

    /// Whether `t` is `False`.
    pub fn is_false(&self, t: &str) -> bool {
        self.get(t).is_some_and(|c| c.status == FALSE)
    }

    /// Sets condition `t`; a no-op when nothing but the time would change.
    pub fn set(&mut self, t: &str, status: &str, reason: &str, message: &str) {
        self.set_with_severity(t, status, reason, message, None);
    }

    /// [`Conditions::set`] with a severity (`Info` for conditions outside the set).
    pub fn set_with_severity(
        &mut self,
        t: &str,
        status: &str,
        reason: &str,
        message: &str,
        severity: Option<&str>,
    ) {
        let mut new = Condition {
            type_: t.to_string(),
            status: status.to_string(),
            severity: severity.map(str::to_string),
            last_transition_time: Some(self.now.clone()),
            reason: (!reason.is_empty()).then(|| reason.to_string()),
            message: (!message.is_empty()).then(|| message.to_string()),
        };
        if let Some(orig) = self.original.iter().find(|c| same(c, &new)) {
            new = orig.clone();
        }
        match self.list.iter_mut().find(|c| c.type_ == t) {
            Some(old) => {
                if same(old, &new) {
                    return;
                }
                *old = new;
            }
            None => {
                self.list.push(new);
                self.list.sort_by(|a, b| a.type_.cmp(&b.type_));
            }
        }
    }

    /// Sets each dependent to `Unknown` unless already set, then recomputes `Ready`.
    pub fn initialize(&mut self, set: &ConditionSet) {
        for t in set.dependents {
            if self.get(t).is_none() {
                self.set(t, UNKNOWN, "", "");
            }
        }
        if self.get(READY).is_none() {
            self.set(READY, UNKNOWN, "", "");
        }
    }

    /// `Ready` from the dependents: the most recently changed `False` one, else the most
    /// recently changed `Unknown` one (copying its reason and message), else `True`.
    pub fn recompute(&mut self, set: &ConditionSet) {
        let mut unhappy: Option<(usize, Condition)> = None;
        for wanted in [FALSE, UNKNOWN] {
            for (i, t) in set.dependents.iter().enumerate() {
                let Some(c) = self.get(t) else {
                    if wanted == UNKNOWN && unhappy.is_none() {
                        unhappy = Some((
                            i,
                            Condition {
                                status: UNKNOWN.into(),
                                ..Default::default()
                            },
                        ));
                    }
                    continue;
                };
                if c.status != wanted {
                    continue;
                }
                let newer = match &unhappy {
                    None => true,
                    Some((_, u)) => c.last_transition_time > u.last_transition_time,
                };
                if newer {
                    unhappy = Some((i, c.clone()));
                }
            }
            if unhappy.is_some() {
                break;
            }
        }
        match unhappy {
            Some((_, c)) => {
                let reason = c.reason.unwrap_or_default();
                let message = c.message.unwrap_or_default();
                self.set(READY, &c.status, &reason, &message);
            }
            None => self.set(READY, TRUE, "", ""),
        }
    }
}

fn same(a: &Condition, b: &Condition) -> bool {
    a.type_ == b.type_
        && a.status == b.status
        && a.reason == b.reason
        && a.message == b.message
        && a.severity == b.severity
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET: ConditionSet = ConditionSet {
        dependents: &["A", "B"],
    };

    #[test]
    fn ready_follows_dependents() {
        let mut list = vec![];
        let now = jiff::Timestamp::from_second(1000).unwrap();
        let mut c = Conditions::new(&mut list, now);
        c.initialize(&SET);
        c.recompute(&SET);
        assert_eq!(c.get(READY).unwrap().status, UNKNOWN);
        c.set("A", TRUE, "", "");
        c.set("B", FALSE, "Bad", "it broke");
        c.recompute(&SET);
        let r = c.get(READY).unwrap();
        assert_eq!(
            (r.status.as_str(), r.reason.as_deref()),
            (FALSE, Some("Bad"))
        );
        c.set("B", TRUE, "", "");
        c.recompute(&SET);
        assert!(c.is_true(READY));
        let t = c.get(READY).unwrap().last_transition_time.clone();
        let mut c = Conditions::new(&mut list, jiff::Timestamp::from_second(2000).unwrap());
        c.recompute(&SET);
        assert_eq!(c.get(READY).unwrap().last_transition_time, t);
    }
}
