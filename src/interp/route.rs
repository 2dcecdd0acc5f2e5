//! Routing one stage outcome through a loop plan: thresholds first, then a
//! resume request, then the first candidate edge whose condition holds.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::compile::plan::{LoopPlan, Target};

/// Values of the run facts that edge conditions test (fixed at run start).
pub type Facts = BTreeMap<String, Value>;

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub target: Target,
    /// Edge id, `threshold:<counter>` or `resume:<node>`.
    pub edge_id: String,
    pub reason: String,
    /// Counter incremented by this outcome: (name, new value, limit).
    pub counted: Option<(String, u32, u32)>,
    pub exhausted: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("frozen plan has no route for node `{node}` on `{outcome}`")]
pub struct NoRoute {
    pub node: String,
    pub outcome: String,
}

/// Decides where the run goes after `node` ended with `outcome`, updating
/// `counters`.
pub fn route(
    lp: &LoopPlan,
    node: &str,
    outcome: &str,
    counters: &mut BTreeMap<String, u32>,
    facts: &Facts,
    resume_request: Option<&str>,
) -> Result<Decision, NoRoute> {
    let no_route = || NoRoute {
        node: node.to_string(),
        outcome: outcome.to_string(),
    };
    let r = lp
        .routes
        .get(node)
        .and_then(|t| t.get(outcome))
        .ok_or_else(no_route)?;
    let mut counted = None;
    if let Some(name) = &r.counter {
        let t = lp
            .thresholds
            .iter()
            .find(|t| &t.counter == name)
            .ok_or_else(no_route)?;
        let value = counters.entry(name.clone()).or_insert(0);
        *value += 1;
        counted = Some((name.clone(), *value, t.limit));
        if *value > t.limit {
            return Ok(Decision {
                target: t.exhausted.clone(),
                edge_id: format!("threshold:{name}"),
                reason: format!(
                    "{node} {outcome}: {name} exhausted ({} > limit {})",
                    *value, t.limit
                ),
                counted,
                exhausted: true,
            });
        }
        for reset in &t.resets {
            counters.insert(reset.clone(), 0);
        }
    }
    if let Some(wanted) = resume_request {
        if r.resume_targets.iter().any(|t| t == wanted) {
            return Ok(Decision {
                target: Target::Node(wanted.to_string()),
                edge_id: format!("resume:{wanted}"),
                reason: format!("{node} {outcome}: stage asked to resume at {wanted}"),
                counted,
                exhausted: false,
            });
        }
    }
    let c = r
        .candidates
        .iter()
        .find(|c| {
            c.when
                .as_ref()
                .is_none_or(|w| facts.get(&w.fact) == Some(&w.equals))
        })
        .ok_or_else(no_route)?;
    let cond = c
        .when
        .as_ref()
        .map(|w| format!(" (when {} = {})", w.fact, w.equals))
        .unwrap_or_default();
    Ok(Decision {
        target: c.target.clone(),
        edge_id: c.edge_id.clone(),
        reason: format!(
            "frozen plan: {node} -> {} on {outcome}{cond}",
            c.target.id()
        ),
        counted,
        exhausted: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::{compile, sources::Inputs};
    use crate::defs::config::Config;
    use crate::defs::stage_kind::Plane;

    fn standard() -> LoopPlan {
        let plan = compile(&Inputs::packaged(Config::default()), Some("standard"))
            .plan
            .unwrap();
        plan.content.planes[&Plane::Execution].clone()
    }

    fn facts(integration: bool) -> Facts {
        [("integration".to_string(), Value::Bool(integration))]
            .into_iter()
            .collect()
    }

    #[test]
    fn conditions_pick_the_integration_edge() {
        let lp = standard();
        let mut c = BTreeMap::new();
        let d = route(
            &lp,
            "builder",
            "BUILDER_COMPLETE",
            &mut c,
            &facts(true),
            None,
        )
        .unwrap();
        assert_eq!(d.target, Target::Node("integration".into()));
        let d = route(
            &lp,
            "builder",
            "BUILDER_COMPLETE",
            &mut c,
            &facts(false),
            None,
        )
        .unwrap();
        assert_eq!(d.target, Target::Node("qa".into()));
    }

    #[test]
    fn quickfix_is_bounded_and_recovery_resets_it() {
        let lp = standard();
        let (mut c, f) = (BTreeMap::new(), facts(false));
        let hop = |c: &mut BTreeMap<String, u32>, n: &str, o: &str| {
            route(&lp, n, o, c, &f, None).unwrap().target
        };
        assert_eq!(
            hop(&mut c, "qa", "QUICKFIX_NEEDED"),
            Target::Node("hotfix".into())
        );
        assert_eq!(
            hop(&mut c, "doublecheck", "QUICKFIX_NEEDED"),
            Target::Node("hotfix".into())
        );
        // third quickfix exceeds the default limit of 2 (v0.2.0 sequence)
        assert_eq!(
            hop(&mut c, "doublecheck", "QUICKFIX_NEEDED"),
            Target::Node("troubleshoot".into())
        );
        assert_eq!(
            hop(&mut c, "troubleshoot", "TROUBLESHOOT_COMPLETE"),
            Target::Node("builder".into())
        );
        assert_eq!(
            c["quickfix_attempts"], 0,
            "a recovery round resets the quickfix budget"
        );
        assert_eq!(
            hop(&mut c, "troubleshoot", "TROUBLESHOOT_COMPLETE"),
            Target::Node("builder".into())
        );
        assert_eq!(
            hop(&mut c, "consult", "CONSULT_COMPLETE"),
            Target::Terminal("needs_research".into())
        );
    }

    #[test]
    fn resume_requests_must_name_an_allowed_target() {
        let lp = standard();
        let (mut c, f) = (BTreeMap::new(), facts(false));
        let d = route(
            &lp,
            "troubleshoot",
            "TROUBLESHOOT_COMPLETE",
            &mut c,
            &f,
            Some("qa"),
        )
        .unwrap();
        assert_eq!(
            (d.target, d.edge_id.as_str()),
            (Target::Node("qa".into()), "resume:qa")
        );
        let d = route(
            &lp,
            "troubleshoot",
            "TROUBLESHOOT_COMPLETE",
            &mut c,
            &f,
            Some("consult"),
        )
        .unwrap();
        assert_eq!(d.target, Target::Node("builder".into()));
        assert!(route(&lp, "qa", "NOPE", &mut c, &f, None).is_err());
    }
}
