#!/usr/bin/env bash
# Whole-process timing of `millrace plan validate` on a fresh workspace.
# Usage: bash benches/cli.sh   (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin="$PWD/target/release/millrace"
ws=$(mktemp -d)/w
"$bin" init "$ws" >/dev/null
"$bin" --config "$ws/millrace.toml" plan validate >/dev/null
if command -v hyperfine >/dev/null; then
  hyperfine --warmup 5 --runs 100 -N "$bin --config $ws/millrace.toml plan validate" \
            "$bin --config $ws/millrace.toml plan show --format json"
else
  for cmd in "plan validate" "plan show --format json"; do
    python3 - "$bin" "$ws/millrace.toml" $cmd <<'PY'
import subprocess, sys, time, statistics
bin, cfg, *args = sys.argv[1:]
ts = []
for _ in range(100):
    t = time.perf_counter(); subprocess.run([bin, "--config", cfg, *args], stdout=subprocess.DEVNULL, check=True); ts.append(time.perf_counter() - t)
ts.sort()
print(f"millrace {' '.join(args)}: median {statistics.median(ts)*1000:.2f} ms, min {ts[0]*1000:.2f} ms, p95 {ts[94]*1000:.2f} ms (100 runs)")
PY
  done
fi
