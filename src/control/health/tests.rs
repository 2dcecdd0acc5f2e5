//! Unit tests of the health checks.

use super::*;

#[test]
fn a_custom_codex_providers_key_variable_is_found_in_its_args() {
    let cfg = |args: &[&str]| crate::defs::config::RunnerConfig {
        args: args.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    };
    assert_eq!(codex_env_key(&cfg(&[])), None);
    assert_eq!(
        codex_env_key(&cfg(&["-c", "model_providers.corp.env_key=\"CORP_KEY\""])).as_deref(),
        Some("CORP_KEY")
    );
    assert_eq!(
        codex_env_key(&cfg(&["-c", "model_providers.x.env_key='X'"])).as_deref(),
        Some("X")
    );
    assert_eq!(codex_env_key(&cfg(&["-c", "model=\"gpt\""])), None);
}

#[test]
fn a_check_passes_only_without_problems() {
    let ok = all_or_fail(("x", "workspace"), "fine", vec![], |n| format!("{n} bad"));
    assert_eq!(
        (ok.status, ok.message.as_str()),
        (CheckStatus::Pass, "fine")
    );
    let bad = all_or_fail(
        ("x", "workspace"),
        "fine",
        vec!["a".into(), "b".into()],
        |n| format!("{n} bad"),
    );
    assert_eq!(
        (bad.status, bad.message.as_str()),
        (CheckStatus::Fail, "2 bad")
    );
    assert_eq!(bad.details, ["a", "b"]);
}
