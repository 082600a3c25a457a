//! The execution state of a PipelineRun's tasks (Tekton's `PipelineRunFacts`,
//! `resources/pipelinerunstate.go` and the `Skip` logic of
//! `resources/pipelinerunresolution.go`): which tasks are done, skipped and why,
//! what may run next, the counts behind the `Succeeded` condition, and the
//! `$(tasks.<t>.status)` values finally tasks see.

use std::collections::HashMap;

use jiff::Timestamp;
use skiff_api::tekton::duration;
use skiff_api::tekton::v1::{PipelineRunSpec, PipelineSpec, PipelineTask, WhenExpression};

use super::graph::{result_refs, Dag};
use super::replace::Replacements;
use super::{
    go_quote, reason, ChildState, SkipReason, CANCELLED_BY_PIPELINE_TIMEOUT_MSG,
    SPEC_STATUS_CANCELLED_RUN_FINALLY, SPEC_STATUS_STOPPED_RUN_FINALLY, TASK_RUN_CANCELLED,
};

/// One second in nanoseconds.
pub(crate) const SECOND: i128 = 1_000_000_000;

/// `PipelineRunTimeoutsState`: when the run and its finally tasks started, and its
/// timeouts in nanoseconds (`0` = no timeout).
#[derive(Debug, Clone)]
pub(crate) struct Timeouts {
    pub start: Timestamp,
    pub finally_start: Option<Timestamp>,
    pub now: Timestamp,
    /// `PipelineTimeout`: `timeouts.pipeline`, default one hour.
    pub pipeline: i128,
    /// `TasksTimeout`: `timeouts.tasks`, or `pipeline - finally` when both are set.
    pub tasks: Option<i128>,
    /// `FinallyTimeout`: `timeouts.finally`, or `pipeline - tasks` when both are set.
    pub finally: Option<i128>,
}

fn parse(d: Option<&str>) -> Option<i128> {
    d.and_then(|s| duration::parse(s).ok())
}

impl Timeouts {
    pub fn new(
        spec: &PipelineRunSpec,
        start: Timestamp,
        finally_start: Option<Timestamp>,
        now: Timestamp,
    ) -> Timeouts {
        let t = spec.timeouts.clone().unwrap_or_default();
        let (p, tk, f) = (
            parse(t.pipeline.as_deref()),
            parse(t.tasks.as_deref()),
            parse(t.finally.as_deref()),
        );
        let pipeline = p.unwrap_or(duration::HOUR_NANOS);
        let tasks = tk.or(match (p, f) {
            (Some(p), Some(f)) if p != 0 && f != 0 => Some(p - f),
            _ => None,
        });
        let finally = f.or(match (p, tk) {
            (Some(p), Some(t)) if p != 0 && t != 0 => Some(p - t),
            _ => None,
        });
        Timeouts {
            start,
            finally_start,
            now,
            pipeline,
            tasks,
            finally,
        }
    }

    /// Nanoseconds since the run started.
    pub fn elapsed(&self) -> i128 {
        self.now.duration_since(self.start).as_nanos()
    }

    /// `HasTimedOut`.
    pub fn pipeline_timed_out(&self) -> bool {
        self.pipeline != 0 && self.elapsed() > self.pipeline
    }

    /// `HaveTasksTimedOut`.
    pub fn tasks_timed_out(&self) -> bool {
        self.tasks.is_some_and(|t| t != 0 && self.elapsed() > t)
    }

    /// `HasFinallyTimedOut`.
    pub fn finally_timed_out(&self) -> bool {
        match (self.finally_start, self.finally) {
            (Some(fs), Some(f)) if f != 0 => self.now.duration_since(fs).as_nanos() > f,
            _ => false,
        }
    }

    /// The pipeline timeout as Go prints it (`1h0m0s`).
    pub fn pipeline_string(&self) -> String {
        duration::format(self.pipeline)
    }
}

/// Why a result reference could not be resolved (`resolveResultRef`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RefError {
    NotFound(String),
    NotFinished(String),
    MissingResult { task: String, result: String },
}

impl RefError {
    pub fn task(&self) -> &str {
        match self {
            RefError::NotFound(t) | RefError::NotFinished(t) => t,
            RefError::MissingResult { task, .. } => task,
        }
    }
}

impl std::fmt::Display for RefError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RefError::NotFound(t) => {
                write!(f, "could not find task {} referenced by result", go_quote(t))
            }
            RefError::NotFinished(t) => {
                write!(f, "task {} referenced by result was not finished", go_quote(t))
            }
            RefError::MissingResult { task, result } => write!(
                f,
                "Invalid task result reference: Could not find result with name {result} for task {task}"
            ),
        }
    }
}

/// A pipeline task and the TaskRun observed for it.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The task, with the run's params, context and workspace variables substituted.
    pub pt: PipelineTask,
    pub finally: bool,
    pub child: Option<ChildState>,
}

impl Node {
    pub fn successful(&self) -> bool {
        self.child
            .as_ref()
            .is_some_and(|c| c.succeeded == Some(true))
    }
    pub fn failure(&self) -> bool {
        self.child
            .as_ref()
            .is_some_and(|c| c.succeeded == Some(false))
    }
    pub fn cancelled(&self) -> bool {
        self.failure()
            && self
                .child
                .as_ref()
                .is_some_and(|c| c.reason == TASK_RUN_CANCELLED)
    }
    pub fn cancelled_for_timeout(&self) -> bool {
        self.cancelled()
            && self
                .child
                .as_ref()
                .is_some_and(|c| c.spec_status_message == CANCELLED_BY_PIPELINE_TIMEOUT_MSG)
    }
    pub fn running(&self) -> bool {
        self.child.is_some() && !self.successful() && !self.failure()
    }
    pub fn continue_on_error(&self) -> bool {
        self.pt.on_error == "continue"
    }
}

/// Tekton's `pipelineRunStatusCount`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub succeeded: usize,
    pub failed: usize,
    pub ignored_failed: usize,
    pub cancelled: usize,
    pub skipped: usize,
    pub skipped_timeout: usize,
    pub incomplete: usize,
}

/// `WhenExpressions.AllowsExecution` for `in`/`notin` (CEL is refused earlier).
pub(crate) fn when_allows(when: &[WhenExpression]) -> bool {
    when.iter().all(|w| {
        let found = w.values.contains(&w.input);
        if w.operator == "in" {
            found
        } else {
            !found
        }
    })
}

/// The state of every task of a run: DAG tasks first (in pipeline order, indexed like
/// the [`Dag`]), then finally tasks.
pub(crate) struct Facts<'a> {
    pub nodes: Vec<Node>,
    index: HashMap<String, usize>,
    pub dag: &'a Dag,
    pub spec_status: String,
    pub timeouts: Timeouts,
    skip: Vec<Option<SkipReason>>,
}

impl<'a> Facts<'a> {
    /// The state of `spec`'s tasks given the observed TaskRuns. When several TaskRuns
    /// claim one pipeline task, the one named in `expected` (the status' child
    /// references) wins, else the first.
    pub fn new(
        spec: &PipelineSpec,
        dag: &'a Dag,
        children: &[ChildState],
        expected: &HashMap<String, String>,
        spec_status: &str,
        timeouts: Timeouts,
    ) -> Facts<'a> {
        let mut nodes = Vec::new();
        for (pt, finally) in spec
            .tasks
            .iter()
            .map(|t| (t, false))
            .chain(spec.finally.iter().map(|t| (t, true)))
        {
            let mine: Vec<&ChildState> = children
                .iter()
                .filter(|c| c.pipeline_task == pt.name)
                .collect();
            let child = expected
                .get(&pt.name)
                .and_then(|n| mine.iter().find(|c| c.name == *n))
                .or(mine.first())
                .map(|c| (*c).clone());
            nodes.push(Node {
                pt: pt.clone(),
                finally,
                child,
            });
        }
        let index = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.pt.name.clone(), i))
            .collect();
        let mut facts = Facts {
            nodes,
            index,
            dag,
            spec_status: spec_status.to_string(),
            timeouts,
            skip: Vec::new(),
        };
        facts.compute();
        facts
    }

    /// Records a TaskRun for a task (e.g. one just decided on) and recomputes.
    pub fn set_child(&mut self, child: ChildState) {
        if let Some(&i) = self.index.get(&child.pipeline_task) {
            self.nodes[i].child = Some(child);
        }
        self.compute();
    }

    pub fn index_of(&self, task: &str) -> Option<usize> {
        self.index.get(task).copied()
    }

    pub fn is_dag(&self, i: usize) -> bool {
        i < self.dag.len()
    }

    pub fn skip(&self, i: usize) -> Option<SkipReason> {
        self.skip[i]
    }

    /// `IsStopping`: a DAG task failed (and does not `continue` on error).
    pub fn stopping(&self) -> bool {
        self.nodes[..self.dag.len()]
            .iter()
            .any(|n| n.failure() && !n.continue_on_error())
    }

    /// `IsRunning` over the DAG tasks.
    pub fn dag_running(&self) -> bool {
        self.nodes[..self.dag.len()].iter().any(Node::running)
    }

    /// `isDone`: skipped, succeeded or failed. Finally tasks count only their TaskRun
    /// (Tekton's `Skip` is always false for them).
    pub fn is_done(&self, i: usize) -> bool {
        let n = &self.nodes[i];
        (self.is_dag(i) && self.skip[i].is_some()) || n.successful() || n.failure()
    }

    /// `checkParentsDone`.
    pub fn parents_done(&self, i: usize) -> bool {
        !self.is_dag(i) || self.dag.parent_indices(i).iter().all(|&p| self.is_done(p))
    }

    /// `checkDAGTasksDone`.
    pub fn dag_done(&self) -> bool {
        (0..self.dag.len()).all(|i| self.is_done(i))
    }

    /// `checkFinalTasksDone`.
    pub fn finals_done(&self) -> bool {
        (self.dag.len()..self.nodes.len()).all(|i| self.is_done(i))
    }

    /// `ResolveResultRefs` for one pipeline task: the values of the results it
    /// references, from TaskRuns that succeeded or failed.
    pub fn resolve(&self, pt: &PipelineTask) -> Result<Replacements, RefError> {
        let mut out = Replacements::default();
        for r in result_refs(pt) {
            let Some(&j) = self.index.get(&r.pipeline_task) else {
                return Err(RefError::NotFound(r.pipeline_task));
            };
            let n = &self.nodes[j];
            if !n.successful() && !n.failure() {
                return Err(RefError::NotFinished(r.pipeline_task));
            }
            let found = n
                .child
                .as_ref()
                .and_then(|c| c.results.iter().find(|x| x.name == r.result));
            match found {
                Some(res) => out.insert_result(&r.pipeline_task, &r.result, &res.value),
                None => {
                    return Err(RefError::MissingResult {
                        task: r.pipeline_task,
                        result: r.result,
                    })
                }
            }
        }
        Ok(out)
    }

    /// The results of every task that succeeded (`GetTaskRunsResults`), for
    /// propagation into embedded Task specs and for pipeline results.
    pub fn successful_results(&self) -> Replacements {
        let mut out = Replacements::default();
        for n in self.nodes.iter().filter(|n| n.successful()) {
            for r in n.child.iter().flat_map(|c| &c.results) {
                out.insert_result(&n.pt.name, &r.name, &r.value);
            }
        }
        out
    }

    /// Re-evaluates what is skipped and why.
    pub fn compute(&mut self) {
        self.skip = vec![None; self.nodes.len()];
        let stopping = self.stopping();
        let order: Vec<usize> = self.dag.order_indices().to_vec();
        for i in order {
            self.skip[i] = self.dag_skip(i, stopping);
        }
        if self.dag_done() {
            for i in self.dag.len()..self.nodes.len() {
                self.skip[i] = self.final_skip(i);
            }
        }
    }

    /// `ResolvedPipelineTask.skip` for a DAG task.
    fn dag_skip(&self, i: usize, stopping: bool) -> Option<SkipReason> {
        let node = &self.nodes[i];
        if node.child.is_some() {
            return None;
        }
        if stopping {
            return Some(SkipReason::Stopping);
        }
        if self.spec_status == SPEC_STATUS_CANCELLED_RUN_FINALLY {
            return Some(SkipReason::GracefullyCancelled);
        }
        if self.spec_status == SPEC_STATUS_STOPPED_RUN_FINALLY {
            return Some(SkipReason::GracefullyStopped);
        }
        // A parent skipped by its own `when` expressions does not skip its children.
        let parent_skipped = self
            .dag
            .parent_indices(i)
            .iter()
            .any(|&p| self.skip[p].is_some_and(|r| r != SkipReason::When));
        if parent_skipped {
            return Some(SkipReason::ParentTasks);
        }
        if !self.parents_done(i) {
            return None;
        }
        let mut when = node.pt.when.clone();
        if !result_refs(&node.pt).is_empty() {
            match self.resolve(&node.pt) {
                Ok(r) => r.when(&mut when),
                Err(e) => {
                    let via_when = self
                        .index
                        .get(e.task())
                        .is_some_and(|&j| self.skip[j] == Some(SkipReason::When));
                    if node.continue_on_error() || via_when {
                        return Some(SkipReason::MissingResults);
                    }
                }
            }
        }
        if !when_allows(&when) {
            return Some(SkipReason::When);
        }
        if self.timeouts.pipeline_timed_out() {
            return Some(SkipReason::PipelineTimedOut);
        }
        if self.timeouts.tasks_timed_out() {
            return Some(SkipReason::TasksTimedOut);
        }
        None
    }

    /// `IsFinallySkipped`, once all DAG tasks are done.
    fn final_skip(&self, i: usize) -> Option<SkipReason> {
        if self.nodes[i].child.is_some() {
            return None;
        }
        let mut pt = self.final_view(i);
        if !result_refs(&pt).is_empty() {
            match self.resolve(&pt) {
                Ok(r) => r.when(&mut pt.when),
                Err(_) => return Some(SkipReason::MissingResults),
            }
        }
        if !when_allows(&pt.when) {
            return Some(SkipReason::When);
        }
        if self.timeouts.pipeline_timed_out() {
            return Some(SkipReason::PipelineTimedOut);
        }
        if self.timeouts.finally_timed_out() {
            return Some(SkipReason::FinallyTimedOut);
        }
        None
    }

    /// A finally task with `$(tasks.<t>.status)` and `$(tasks.status)` substituted
    /// (`ApplyPipelineTaskStateContext`).
    pub fn final_view(&self, i: usize) -> PipelineTask {
        let mut pt = self.nodes[i].pt.clone();
        self.task_status().pipeline_task(&mut pt, false);
        pt
    }

    /// A task with the results it references substituted where they resolve (for
    /// display: skipped tasks' and child references' `when` expressions).
    pub fn view(&self, i: usize) -> PipelineTask {
        let mut pt = if self.is_dag(i) {
            self.nodes[i].pt.clone()
        } else {
            self.final_view(i)
        };
        if let Ok(r) = self.resolve(&pt) {
            r.pipeline_task(&mut pt, false);
        }
        pt
    }

    /// `GetPipelineTaskStatus`: `tasks.<t>.status` for every DAG task (`Succeeded`,
    /// `Failed` or `None`) and the aggregate `tasks.status` (`Succeeded`, `Failed`,
    /// `Completed` when some were skipped, `None` while DAG tasks remain).
    pub fn task_status(&self) -> Replacements {
        let mut out = Replacements::default();
        for n in &self.nodes[..self.dag.len()] {
            out.insert_string(format!("tasks.{}.status", n.pt.name), status_word(n));
        }
        let mut aggregate = "None";
        if self.dag_done() {
            aggregate = reason::SUCCEEDED;
            for (i, n) in self.nodes[..self.dag.len()].iter().enumerate() {
                if n.failure() {
                    aggregate = reason::FAILED;
                    break;
                }
                if self.skip[i].is_some() {
                    aggregate = reason::COMPLETED;
                }
            }
        }
        out.insert_string("tasks.status", aggregate);
        out
    }

    /// `tasks.<t>.status` of every task, finally ones included (for pipeline results).
    pub fn all_status(&self) -> HashMap<String, &'static str> {
        self.nodes
            .iter()
            .map(|n| (n.pt.name.clone(), status_word(n)))
            .collect()
    }

    /// `getPipelineTasksCount`.
    pub fn counts(&self) -> Counts {
        let mut s = Counts::default();
        for (i, n) in self.nodes.iter().enumerate() {
            if n.successful() {
                s.succeeded += 1;
            } else if n.cancelled_for_timeout() {
                s.failed += 1;
            } else if n.cancelled() {
                s.cancelled += 1;
            } else if n.failure() {
                if n.continue_on_error() {
                    s.ignored_failed += 1;
                } else {
                    s.failed += 1;
                }
            } else {
                match self.skip[i] {
                    Some(
                        SkipReason::PipelineTimedOut
                        | SkipReason::TasksTimedOut
                        | SkipReason::FinallyTimedOut,
                    ) => {
                        s.skipped += 1;
                        s.skipped_timeout += 1;
                    }
                    Some(_) => s.skipped += 1,
                    None => s.incomplete += 1,
                }
            }
        }
        s
    }

    /// `GetPipelineConditionStatus`: the `Succeeded` condition's status, reason and
    /// message.
    pub fn condition(&self, run_name: &str) -> (&'static str, &'static str, String) {
        if self.timeouts.pipeline_timed_out() {
            return (
                "False",
                reason::TIMED_OUT,
                format!(
                    "PipelineRun {} failed to finish within {}",
                    go_quote(run_name),
                    go_quote(&self.timeouts.pipeline_string())
                ),
            );
        }
        let s = self.counts();
        let completed = s.succeeded + s.failed + s.cancelled + s.ignored_failed;
        let graceful = self.spec_status == SPEC_STATUS_CANCELLED_RUN_FINALLY
            || self.spec_status == SPEC_STATUS_STOPPED_RUN_FINALLY;
        if s.incomplete == 0 {
            let total_failed = s.failed + s.ignored_failed;
            let mut message = if s.ignored_failed > 0 {
                format!(
                    "Tasks Completed: {completed} (Failed: {total_failed} (Ignored: {}), Cancelled {}), Skipped: {}",
                    s.ignored_failed, s.cancelled, s.skipped
                )
            } else {
                format!(
                    "Tasks Completed: {completed} (Failed: {total_failed}, Cancelled {}), Skipped: {}",
                    s.cancelled, s.skipped
                )
            };
            let (status, why) = if s.failed > 0 || s.skipped_timeout > 0 {
                ("False", reason::FAILED)
            } else if graceful {
                message = format!("PipelineRun {} was cancelled", go_quote(run_name));
                ("False", reason::CANCELLED)
            } else if s.cancelled > 0 {
                ("False", reason::CANCELLED)
            } else if s.skipped > 0 {
                ("True", reason::COMPLETED)
            } else {
                ("True", reason::SUCCEEDED)
            };
            return (status, why, message);
        }
        let why = if self.spec_status == SPEC_STATUS_CANCELLED_RUN_FINALLY {
            reason::CANCELLED_RUNNING_FINALLY
        } else if self.spec_status == SPEC_STATUS_STOPPED_RUN_FINALLY {
            reason::STOPPED_RUNNING_FINALLY
        } else if s.cancelled > 0 || (s.failed > 0 && self.finals_done()) {
            reason::STOPPING
        } else {
            reason::RUNNING
        };
        (
            "Unknown",
            why,
            format!(
                "Tasks Completed: {completed} (Failed: {}, Cancelled {}), Incomplete: {}, Skipped: {}",
                s.failed, s.cancelled, s.incomplete, s.skipped
            ),
        )
    }
}

/// `Succeeded`, `Failed` or `None` for one task.
fn status_word(n: &Node) -> &'static str {
    if n.successful() {
        reason::SUCCEEDED
    } else if n.failure() {
        reason::FAILED
    } else {
        "None"
    }
}
