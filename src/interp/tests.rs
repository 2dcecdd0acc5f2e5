//! Interpreter tests with in-process runners: what each stage answers is
//! scripted, so routing, recording, resume and terminal effects are checked
//! without spawning an agent.

use crate::defs::stage_kind::Plane;
use std::sync::Arc;

use crate::compile::plan::FrozenPlan;
use crate::compile::{compile, sources::Inputs};
use crate::defs::config::Config;
use crate::defs::layout::{Layout, TaskStore, DIRS};
use crate::defs::records::AttemptClass;
use crate::runner::scripted::{Failing, Reply, Scripted};
use crate::store::cards::Card;
use crate::store::runs::{self, RunDir, TransitionEvent};

use super::run::{self, RunReport};
use super::{InterpError, Runtime};

struct Fixture {
    _dir: tempfile::TempDir,
    rt: Runtime,
    plan: FrozenPlan,
}

fn fixture(adapter: Arc<dyn crate::runner::Adapter + Send + Sync>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents");
    for d in DIRS {
        std::fs::create_dir_all(Layout::of(&agents).rel(d)).unwrap();
    }
    let config = Config::default();
    let plan = compile(&Inputs::packaged(config.clone()), Some("standard"))
        .plan
        .unwrap();
    let mut rt = Runtime::new(dir.path().to_path_buf(), agents, config);
    rt.adapter = Some(adapter);
    Fixture {
        _dir: dir,
        rt,
        plan,
    }
}

impl Fixture {
    fn run(&self, title: &str) -> Result<RunReport, InterpError> {
        self.rt
            .queue
            .add(Card::new("2026-11-24", title, None, None))
            .unwrap();
        let (card, _) = self.rt.queue.active_or_promote().unwrap().unwrap();
        assert_eq!(card.title, title);
        run::start(&self.rt, &self.plan, card)
    }

    fn store(&self, s: TaskStore) -> String {
        std::fs::read_to_string(Layout::of(&self.rt.agents).store(s)).unwrap_or_default()
    }
}

#[test]
fn the_happy_path_archives_the_task() {
    let agent = Arc::new(Scripted::new());
    let f = fixture(agent.clone());
    let r = f.run("Happy").unwrap();
    assert_eq!(agent.nodes(), ["builder", "qa", "update"]);
    assert_eq!(r.terminal, "archived");
    assert_eq!(r.stages_run, 3);
    assert_eq!(r.status, "IDLE");
    assert!(f.store(TaskStore::Archive).contains("Happy"));
    assert!(runs::active(&f.rt.agents).unwrap().is_none());
    let history = RunDir::open(&f.rt.agents, &r.run_id)
        .unwrap()
        .history()
        .unwrap();
    let events: Vec<TransitionEvent> = history.iter().map(|t| t.event).collect();
    assert_eq!(events.first(), Some(&TransitionEvent::RunStarted));
    assert_eq!(events.last(), Some(&TransitionEvent::RunFinished));
    assert_eq!(
        events
            .iter()
            .filter(|e| **e == TransitionEvent::StageFinished)
            .count(),
        3
    );
}

#[test]
fn quickfix_exhaustion_routes_to_recovery() {
    // qa keeps asking for a quickfix; the threshold sends it to troubleshoot.
    let agent = Arc::new(
        Scripted::new()
            .script(
                "qa",
                std::iter::repeat_n(Reply::Marker("QUICKFIX_NEEDED".into()), 10),
            )
            .script(
                "doublecheck",
                std::iter::repeat_n(Reply::Marker("QUICKFIX_NEEDED".into()), 10),
            ),
    );
    let f = fixture(agent.clone());
    let r = f.run("Stubborn").unwrap();
    let nodes = agent.nodes();
    assert!(nodes.contains(&"troubleshoot".to_string()), "{nodes:?}");
    assert!(
        u64::from(r.stages_run)
            <= f.plan
                .content
                .planes
                .values()
                .next()
                .unwrap()
                .max_stage_runs
    );
}

#[test]
fn a_failing_agent_becomes_the_failure_outcome_and_the_run_still_ends() {
    let f = fixture(Arc::new(Failing("the agent gave up: 3 tests fail".into())));
    let r = f.run("Doomed").unwrap();
    // Every stage fails; the bounded recovery path ends in needs_research.
    assert_eq!(r.terminal_class, "needs_research");
    assert!(f.store(TaskStore::Blocker).contains("Doomed"));
    let history = RunDir::open(&f.rt.agents, &r.run_id)
        .unwrap()
        .history()
        .unwrap();
    let first = history
        .iter()
        .find(|t| t.event == TransitionEvent::StageFinished)
        .unwrap();
    assert_eq!(first.outcome.as_deref(), Some("BLOCKED"));
    assert_eq!(first.class, Some(AttemptClass::TaskFailure));
    assert!(first.failure.as_deref().unwrap().contains("3 tests fail"));
}

#[test]
fn an_environment_fault_stops_the_run_at_the_same_node_without_routing() {
    let f = fixture(Arc::new(Failing(
        "unexpected status 401 Unauthorized".into(),
    )));
    let err = f.run("Blocked").unwrap_err();
    let InterpError::Environment(fault) = err else {
        panic!("{err}");
    };
    assert_eq!(
        (fault.class, fault.node.as_str(), fault.status.as_str()),
        (AttemptClass::Auth, "builder", "ENV_BLOCKED")
    );
    // The task is still active, nothing frozen, the plane waits.
    assert!(f.store(TaskStore::Active).contains("Blocked"));
    assert!(!f.store(TaskStore::Blocker).contains("Blocked"));
    let history = RunDir::open(&f.rt.agents, &fault.run_id)
        .unwrap()
        .history()
        .unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.event, TransitionEvent::StageFaulted);
    assert!(last.counters.values().all(|v| *v == 0));
    // Once the key works, resuming runs the same node as a new attempt.
    let mut rt = Runtime::new(f.rt.root.clone(), f.rt.agents.clone(), f.rt.config.clone());
    let agent = Arc::new(Scripted::new());
    rt.adapter = Some(agent.clone());
    let r = run::resume(&rt, Plane::Execution, &fault.run_id)
        .unwrap()
        .unwrap();
    assert_eq!(r.terminal, "archived");
    assert_eq!(agent.calls()[0], ("builder".to_string(), 2));
}

#[test]
fn a_run_resumes_an_in_flight_stage_as_a_new_attempt() {
    let agent = Arc::new(Scripted::new());
    let f = fixture(agent.clone());
    let r = f.run("Once").unwrap();
    // Rewrite the history as if the process died while `qa` ran.
    let dir = RunDir::open(&f.rt.agents, &r.run_id).unwrap();
    let history = dir.history().unwrap();
    let cut = history
        .iter()
        .position(|t| t.event == TransitionEvent::StageStarted && t.node.as_deref() == Some("qa"))
        .unwrap();
    let text: String = history[..=cut]
        .iter()
        .map(|t| serde_json::to_string(t).unwrap() + "\n")
        .collect();
    std::fs::write(dir.path.join(runs::HISTORY), text).unwrap();
    std::fs::write(
        Layout::of(&f.rt.agents).store(TaskStore::Active),
        "# Active Task\n\n## 2026-11-24 - Once\n",
    )
    .unwrap();
    let r2 = run::resume(&f.rt, Plane::Execution, &r.run_id)
        .unwrap()
        .unwrap();
    assert!(r2.resumed);
    assert_eq!(r2.terminal, "archived");
    let calls = agent.calls();
    assert_eq!(calls.last().unwrap().0, "update");
    assert!(calls.contains(&("qa".to_string(), 2)), "{calls:?}");
}

#[test]
fn a_finished_or_unstarted_run_converges_instead_of_wedging() {
    let f = fixture(Arc::new(Scripted::new()));
    let r = f.run("Done").unwrap();
    let dir = RunDir::open(&f.rt.agents, &r.run_id).unwrap();
    // A crash after `run.finished` but before run.json and the pointer were
    // updated: resuming completes the run instead of failing forever.
    let mut meta = dir.meta().unwrap();
    meta.finished_at = None;
    meta.state = "running".into();
    dir.write_meta(&meta).unwrap();
    runs::set_active(
        &f.rt.agents,
        &runs::ActiveRun {
            run_id: r.run_id.clone(),
            plane: meta.plane,
            task_id: meta.task_id.clone(),
            started_at: meta.started_at.clone(),
        },
    )
    .unwrap();
    let done = run::resume(&f.rt, Plane::Execution, &r.run_id)
        .unwrap()
        .unwrap();
    assert_eq!((done.terminal.as_str(), done.resumed), ("archived", true));
    assert!(runs::active(&f.rt.agents).unwrap().is_none());
    assert_eq!(dir.meta().unwrap().state, "archived");
    // A run that never recorded its start is dropped, not resumed.
    std::fs::write(dir.path.join(runs::HISTORY), "").unwrap();
    assert!(run::resume(&f.rt, Plane::Execution, &r.run_id)
        .unwrap()
        .is_none());
}
