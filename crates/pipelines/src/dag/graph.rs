//! A Pipeline's tasks as a graph (Tekton's `pkg/reconciler/pipeline/dag`): nodes are
//! pipeline tasks, edges come from `runAfter` and from result references
//! (`$(tasks.t.results.r)` in params and `when` expressions).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use skiff_api::tekton::subst;
use skiff_api::tekton::v1::{PipelineTask, WhenExpression};

use super::PlanError;

/// The pipeline tasks a pipeline task depends on (`PipelineTask.Deps`): its `runAfter`
/// entries and every task whose results its params or `when` expressions reference,
/// sorted and without duplicates.
pub fn task_deps(pt: &PipelineTask) -> Vec<String> {
    let mut out: BTreeSet<String> = pt.run_after.iter().cloned().collect();
    for r in result_refs(pt) {
        out.insert(r.pipeline_task);
    }
    out.into_iter().collect()
}

/// The `$(tasks.<t>.results.<r>)` references of a pipeline task, in Tekton's order
/// (`PipelineTaskResultRefs`): params first, then `when` expressions.
pub(crate) fn result_refs(pt: &PipelineTask) -> Vec<subst::ResultRef> {
    let mut out = Vec::new();
    for s in task_strings(pt) {
        for e in subst::expressions(s) {
            if e.starts_with("tasks.") {
                if let Some(r) = subst::parse_result_ref(e) {
                    out.push(r);
                }
            }
        }
    }
    out
}

/// The strings of a pipeline task's params and `when` expressions.
fn task_strings(pt: &PipelineTask) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for p in &pt.params {
        out.extend(p.value.strings());
    }
    out.extend(when_strings(&pt.when));
    out
}

/// The inputs and values of `when` expressions.
pub(crate) fn when_strings(when: &[WhenExpression]) -> Vec<&str> {
    let mut out = Vec::new();
    for w in when {
        out.push(w.input.as_str());
        out.extend(w.values.iter().map(String::as_str));
    }
    out
}

/// A validated pipeline graph: no duplicate names, no cycles, no link to a task that
/// is not in the pipeline. Nodes keep the order the pipeline lists them in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dag {
    names: Vec<String>,
    index: BTreeMap<String, usize>,
    prev: Vec<Vec<usize>>,
    next: Vec<Vec<usize>>,
    order: Vec<usize>,
}

impl Dag {
    /// `dag.Build(tasks, tasks.Deps())`: the graph of a Pipeline's `tasks`, with
    /// Tekton's errors for a duplicate name, a cycle, or a dependency on an unknown task.
    pub fn build(tasks: &[PipelineTask]) -> Result<Dag, PlanError> {
        let deps: Vec<Vec<String>> = tasks.iter().map(task_deps).collect();
        Self::build_with(tasks, deps)
    }

    /// The graph of a Pipeline's `finally` tasks: Tekton builds it without edges (all
    /// finally tasks start together), so only duplicate names are errors.
    pub fn independent(tasks: &[PipelineTask]) -> Result<Dag, PlanError> {
        Self::build_with(tasks, vec![Vec::new(); tasks.len()])
    }

    fn build_with(tasks: &[PipelineTask], deps: Vec<Vec<String>>) -> Result<Dag, PlanError> {
        let mut index = BTreeMap::new();
        let mut names = Vec::with_capacity(tasks.len());
        for (i, pt) in tasks.iter().enumerate() {
            if index.insert(pt.name.clone(), i).is_some() {
                return Err(PlanError::DuplicateTask(pt.name.clone()));
            }
            names.push(pt.name.clone());
        }
        if let Some(msg) = find_cycle(&names, &deps) {
            return Err(PlanError::Cycle(msg));
        }
        let mut prev = vec![Vec::new(); names.len()];
        let mut next = vec![Vec::new(); names.len()];
        for (i, ds) in deps.iter().enumerate() {
            for d in ds {
                let Some(&j) = index.get(d) else {
                    return Err(PlanError::UnknownTask {
                        task: names[i].clone(),
                        dep: d.clone(),
                    });
                };
                if !prev[i].contains(&j) {
                    prev[i].push(j);
                    next[j].push(i);
                }
            }
        }
        // Kahn's algorithm, roots in pipeline order: a topological order to evaluate
        // tasks in (parents before children).
        let mut indegree: Vec<usize> = prev.iter().map(Vec::len).collect();
        let mut queue: VecDeque<usize> = (0..names.len()).filter(|&i| indegree[i] == 0).collect();
        let mut order = Vec::with_capacity(names.len());
        while let Some(i) = queue.pop_front() {
            order.push(i);
            for &c in &next[i] {
                indegree[c] -= 1;
                if indegree[c] == 0 {
                    queue.push_back(c);
                }
            }
        }
        Ok(Dag {
            names,
            index,
            prev,
            next,
            order,
        })
    }

    /// How many tasks the graph has.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the graph has no task.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Whether `task` is a node of the graph.
    pub fn contains(&self, task: &str) -> bool {
        self.index.contains_key(task)
    }

    /// The tasks, in pipeline order.
    pub fn tasks(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// The tasks `task` waits for.
    pub fn parents(&self, task: &str) -> Vec<&str> {
        self.index
            .get(task)
            .map(|&i| {
                self.prev[i]
                    .iter()
                    .map(|&j| self.names[j].as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The tasks that wait for `task`.
    pub fn children(&self, task: &str) -> Vec<&str> {
        self.index
            .get(task)
            .map(|&i| {
                self.next[i]
                    .iter()
                    .map(|&j| self.names[j].as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The tasks that wait for nothing.
    pub fn roots(&self) -> Vec<&str> {
        (0..self.len())
            .filter(|&i| self.prev[i].is_empty())
            .map(|i| self.names[i].as_str())
            .collect()
    }

    /// Every task after all the tasks it waits for.
    pub fn topological_order(&self) -> Vec<&str> {
        self.order.iter().map(|&i| self.names[i].as_str()).collect()
    }

    /// `dag.GetCandidateTasks`: the tasks that are not `done` but whose parents all
    /// are, in pipeline order.
    pub fn candidates(&self, done: &BTreeSet<String>) -> Vec<&str> {
        (0..self.len())
            .filter(|&i| !done.contains(&self.names[i]))
            .filter(|&i| self.prev[i].iter().all(|&p| done.contains(&self.names[p])))
            .map(|i| self.names[i].as_str())
            .collect()
    }

    pub(crate) fn order_indices(&self) -> &[usize] {
        &self.order
    }

    pub(crate) fn parent_indices(&self, i: usize) -> &[usize] {
        &self.prev[i]
    }
}

/// Tekton's `findCyclesInDependencies` (Kahn's algorithm over the tasks that have
/// dependencies) and `getInterdependencyError`: the message names the smallest task
/// left in a cycle and what it depends on, e.g. `task "a" depends on "b"`.
fn find_cycle(names: &[String], deps: &[Vec<String>]) -> Option<String> {
    let dep_map: BTreeMap<&str, &Vec<String>> = names
        .iter()
        .zip(deps)
        .filter(|(_, d)| !d.is_empty())
        .map(|(n, d)| (n.as_str(), d))
        .collect();
    let mut dag: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut children: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut independent: BTreeSet<String> = BTreeSet::new();
    for (task, ds) in &dep_map {
        dag.insert(task.to_string(), ds.iter().cloned().collect());
        for d in ds.iter() {
            if dep_map.get(d.as_str()).is_none_or(|x| x.is_empty()) {
                independent.insert(d.clone());
            }
            children
                .entry(d.clone())
                .or_default()
                .insert(task.to_string());
        }
    }
    while let Some(parent) = independent.pop_first() {
        for child in children.remove(&parent).unwrap_or_default() {
            if let Some(set) = dag.get_mut(&child) {
                set.remove(&parent);
                if set.is_empty() {
                    dag.remove(&child);
                    independent.insert(child);
                }
            }
        }
    }
    let (first, ds) = dag.iter().next()?;
    let quoted: Vec<String> = ds.iter().map(|d| super::go_quote(d)).collect();
    Some(format!(
        "task {} depends on {}",
        super::go_quote(first),
        quoted.join(", ")
    ))
}
