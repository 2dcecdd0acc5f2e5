//! Compile benchmarks (`cargo bench --bench compile`): the default mode from
//! the embedded defaults, and a generated loop of 1,000 nodes and 3,000
//! edges. Prints min / median / p95 over many in-process runs; figures go to
//! docs/benchmarks.md.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use millrace::compile::compile;
use millrace::compile::sources::{Inputs, Layer, Source};
use millrace::defs::config::Config;
use millrace::defs::schema::DocKind;

fn main() {
    let default = Inputs::packaged(Config::default());
    // warm the lazily built schema validators, as a long-lived process would
    assert!(compile(&default, None).plan.is_some());
    report("compile default mode (standard), in-process", 300, || {
        black_box(compile(black_box(&default), None));
    });

    let big = big_loop(1_000);
    let mut inputs = Inputs::packaged(Config::default());
    inputs.definitions.push((
        DocKind::Loop,
        source("agents/registry/loops/big.yaml", big.clone()),
    ));
    inputs.definitions.push((
        DocKind::Mode,
        source(
            "agents/registry/modes/big.yaml",
            "id: big\nloops: { execution: big }\n".into(),
        ),
    ));
    let c = compile(&inputs, Some("big"));
    assert!(
        c.plan.is_some(),
        "generated loop must compile:\n{}",
        c.diagnostics
    );
    let lp = &c.plan.as_ref().unwrap().content.planes;
    let nodes = lp.values().map(|l| l.nodes.len()).sum::<usize>();
    println!("generated loop: {nodes} nodes, {} bytes of YAML", big.len());
    report(
        "compile generated loop (1,000 nodes, 3,000 edges), in-process",
        30,
        || {
            black_box(compile(black_box(&inputs), Some("big")));
        },
    );
}

fn source(path: &str, text: String) -> Source {
    Source {
        layer: Layer::Workspace,
        path: path.into(),
        text: Cow::Owned(text),
    }
}

/// A loop of `n` qa nodes: QA_COMPLETE moves on, QUICKFIX_NEEDED steps back
/// (a cycle, bounded by a threshold counting all n back edges), BLOCKED ends.
fn big_loop(n: usize) -> String {
    let mut s = String::from("id: big\nplane: execution\nentry: { task: n0 }\nnodes:\n");
    for i in 0..n {
        let _ = writeln!(s, "  n{i}: {{ stage: qa }}");
    }
    s.push_str("edges:\n");
    for i in 0..n {
        let next = if i + 1 == n {
            "done".to_string()
        } else {
            format!("n{}", i + 1)
        };
        let back = format!("n{}", i.saturating_sub(1));
        let _ = writeln!(s, "  - {{ from: n{i}, on: [QA_COMPLETE], to: {next} }}");
        let _ = writeln!(s, "  - {{ from: n{i}, on: [QUICKFIX_NEEDED], to: {back} }}");
        let _ = writeln!(s, "  - {{ from: n{i}, on: [BLOCKED], to: stuck }}");
    }
    s.push_str("terminals:\n  done: { class: success, status: UPDATE_COMPLETE, queue: archive }\n  stuck: { class: blocked, status: BLOCKED, queue: keep_active }\n");
    s.push_str(
        "thresholds:\n  - counter: rework\n    limit: 3\n    exhausted: stuck\n    count:\n",
    );
    for i in 0..n {
        let _ = writeln!(s, "      - {{ node: n{i}, on: QUICKFIX_NEEDED }}");
    }
    s
}

fn report(name: &str, iterations: usize, mut f: impl FnMut()) {
    let mut times: Vec<Duration> = (0..iterations)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    let pct = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    println!(
        "{name}: min {:.2} ms, median {:.2} ms, p95 {:.2} ms ({iterations} runs)",
        ms(times[0]),
        ms(pct(50)),
        ms(pct(95))
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
