//! Runner kinds (the adapter behind a runner id) and the model families
//! their CLIs serve. Apart from `config` so that records can name a kind
//! without importing the config.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunnerKind {
    Codex,
    Claude,
    Pi,
    Subprocess,
    Demo,
    /// A deterministic check: runs `command` and maps its exit code to the
    /// stage's outcomes (0 → the first, anything else → the second).
    Command,
}

impl RunnerKind {
    pub const BUILTIN: [(&'static str, RunnerKind); 6] = [
        ("codex", RunnerKind::Codex),
        ("claude", RunnerKind::Claude),
        ("pi", RunnerKind::Pi),
        ("subprocess", RunnerKind::Subprocess),
        ("demo", RunnerKind::Demo),
        ("command", RunnerKind::Command),
    ];

    /// The model family the runner's CLI serves (`None`: any model).
    pub fn model_family(self) -> Option<ModelFamily> {
        match self {
            RunnerKind::Codex => Some(ModelFamily::OpenAi),
            RunnerKind::Claude => Some(ModelFamily::Anthropic),
            _ => None,
        }
    }

    /// The model a stage gets when its runner is switched to this one and no
    /// model is set for it.
    pub fn default_model(self) -> Option<&'static str> {
        match self {
            RunnerKind::Codex => Some("gpt-5.3-codex"),
            RunnerKind::Claude => Some("sonnet"),
            _ => None,
        }
    }
}

/// Which provider's models a model id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFamily {
    OpenAi,
    Anthropic,
}

impl ModelFamily {
    /// The family of a model id, when it is recognisable (`gpt-5`, `o3`,
    /// `claude-sonnet-4-5`, `opus`…); `None` for anything else.
    pub fn of_model(model: &str) -> Option<ModelFamily> {
        let m = model.to_ascii_lowercase();
        let openai = ["gpt", "o1", "o3", "o4", "codex", "chatgpt"];
        let anthropic = ["claude", "sonnet", "opus", "haiku"];
        if openai.iter().any(|p| m.starts_with(p)) {
            Some(ModelFamily::OpenAi)
        } else if anthropic.iter().any(|p| m.starts_with(p)) {
            Some(ModelFamily::Anthropic)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ModelFamily::OpenAi => "OpenAI",
            ModelFamily::Anthropic => "Anthropic",
        }
    }
}
