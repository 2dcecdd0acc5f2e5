//! Whether a task runs the integration stage: the card's `Integration:`
//! preference, else its `Gates: INTEGRATION`, else `[execution]
//! integration_mode` (`large_only` follows the loop's task size). One
//! decision for the run's routing fact and for `status`'s preview.

use crate::defs::config::IntegrationMode;
use crate::store::cards::Card;

/// The decision and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Integration {
    pub run: bool,
    /// The card's `Gates:` names INTEGRATION.
    pub gate: bool,
    /// The card's `Integration:` value, lower-cased.
    pub preference: Option<String>,
    pub reason: String,
}

pub fn decide(mode: IntegrationMode, large: bool, task: Option<&Card>) -> Integration {
    let preference = task
        .and_then(|t| t.field("Integration"))
        .map(|v| v.to_ascii_lowercase());
    let gate = task.and_then(|t| t.field("Gates")).is_some_and(|g| {
        g.split([',', ' '])
            .any(|x| x.trim().eq_ignore_ascii_case("integration"))
    });
    let by_card = match preference.as_deref() {
        Some("force" | "forced" | "always" | "on" | "run" | "required" | "require") => Some(true),
        Some("skip" | "suppress" | "never" | "off" | "disable" | "disabled") => Some(false),
        _ => None,
    };
    let (run, reason) = match (by_card, gate) {
        (Some(run), _) => (
            run,
            format!(
                "the card's Integration: {} decides",
                preference.as_deref().unwrap_or("")
            ),
        ),
        (None, true) => (
            true,
            "the card's Gates: INTEGRATION requires integration".to_string(),
        ),
        (None, false) => match mode {
            IntegrationMode::Always => (
                true,
                "integration_mode = \"always\" runs integration".to_string(),
            ),
            IntegrationMode::Never => (
                false,
                "integration_mode = \"never\" suppresses the integration path".to_string(),
            ),
            IntegrationMode::LargeOnly if large => (
                true,
                "integration_mode = \"large_only\" and the task is LARGE".to_string(),
            ),
            IntegrationMode::LargeOnly => (
                false,
                "integration_mode = \"large_only\" and the task is not LARGE".to_string(),
            ),
        },
    };
    Integration {
        run,
        gate,
        preference,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(body: &str) -> Card {
        Card::new("2026-01-02", "T", Some(body), None)
    }

    #[test]
    fn the_card_decides_before_the_mode() {
        let never = IntegrationMode::Never;
        assert!(!decide(never, false, None).run);
        assert!(decide(never, false, Some(&card("- **Gates:** INTEGRATION"))).run);
        assert!(
            !decide(
                IntegrationMode::Always,
                true,
                Some(&card("- **Integration:** skip"))
            )
            .run
        );
        assert!(decide(IntegrationMode::LargeOnly, true, None).run);
        assert!(!decide(IntegrationMode::LargeOnly, false, None).run);
    }
}
