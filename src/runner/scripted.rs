//! In-process runners for tests of the layers above the adapters: no
//! process is spawned, so interpreter and engine tests can script exactly
//! what each stage answers, and check what each stage was asked.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use super::{Adapter, Exit, StageRequest, StageResult};

/// One scripted answer of a stage.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Ends with `### MARKER` in the final message, exit 0.
    Marker(String),
    /// Exits with this code and no marker.
    Exit(i32),
    /// The CLI reports that the agent call failed (exit 1).
    AgentError(String),
    /// No result within the time limit.
    Timeout,
}

/// Answers each stage with the next reply scripted for its node; a node
/// with nothing (left) scripted answers with its stage kind's first (success)
/// outcome. Records every call as `(node, attempt)`.
#[derive(Debug, Default)]
pub struct Scripted {
    script: Mutex<BTreeMap<String, VecDeque<Reply>>>,
    calls: Mutex<Vec<(String, u32)>>,
}

impl Scripted {
    pub fn new() -> Scripted {
        Scripted::default()
    }

    /// Queues `replies` for `node`, answered in order.
    pub fn script(self, node: &str, replies: impl IntoIterator<Item = Reply>) -> Scripted {
        self.script
            .lock()
            .expect("not poisoned")
            .entry(node.to_string())
            .or_default()
            .extend(replies);
        self
    }

    /// Every call so far, as `(node, attempt)`.
    pub fn calls(&self) -> Vec<(String, u32)> {
        self.calls.lock().expect("not poisoned").clone()
    }

    /// The nodes called so far, in order.
    pub fn nodes(&self) -> Vec<String> {
        self.calls().into_iter().map(|(n, _)| n).collect()
    }
}

impl Adapter for Scripted {
    fn run(&self, req: &StageRequest) -> StageResult {
        self.calls
            .lock()
            .expect("not poisoned")
            .push((req.node.clone(), req.attempt));
        let next = self
            .script
            .lock()
            .expect("not poisoned")
            .get_mut(&req.node)
            .and_then(VecDeque::pop_front);
        let reply = next
            .unwrap_or_else(|| Reply::Marker(req.outcomes.first().cloned().unwrap_or_default()));
        reply_result(reply)
    }
}

/// Fails every stage the way a broken provider does: the CLI reports the
/// error and exits 1 (a message naming a 401 or a 5xx is an environment
/// fault; any other message is the task's failure).
#[derive(Debug, Clone)]
pub struct Failing(pub String);

impl Adapter for Failing {
    fn run(&self, _: &StageRequest) -> StageResult {
        reply_result(Reply::AgentError(self.0.clone()))
    }
}

fn reply_result(reply: Reply) -> StageResult {
    let exit = |code: i32| Exit {
        code: Some(code),
        ..Exit::default()
    };
    match reply {
        Reply::Marker(m) => StageResult {
            exit: exit(0),
            final_text: Some(format!("done\n\n### {m}\n")),
            ..StageResult::default()
        },
        Reply::Exit(code) => StageResult {
            exit: exit(code),
            ..StageResult::default()
        },
        Reply::AgentError(e) => StageResult {
            exit: exit(1),
            fault: super::fault::fault(&e),
            agent_error: Some(e),
            ..StageResult::default()
        },
        Reply::Timeout => StageResult {
            exit: Exit {
                code: Some(124),
                timed_out: true,
                ..Exit::default()
            },
            ..StageResult::default()
        },
    }
}
