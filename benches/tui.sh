#!/usr/bin/env bash
# The TUI's live cost, under tmux on a release build: how long an event
# takes to show (add-task from another process → the line on screen), the
# resident memory, and the CPU it burns idle — with BACKLOG cards queued.
#
#   bash benches/tui.sh            # 1,000 queued cards
#   BACKLOG=10000 bash benches/tui.sh
set -euo pipefail
command -v tmux >/dev/null || { echo "tmux is needed" >&2; exit 1; }
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin="$PWD/target/release/millrace"
work="$(mktemp -d)"
session="millrace-tui-bench-$$"
trap 'tmux kill-session -t "$session" 2>/dev/null || true; rm -rf "$work"' EXIT
ws="$work/w"
"$bin" init "$ws" --demo >/dev/null
cfg="$ws/millrace.toml"
backlog="${BACKLOG:-1000}"
# Cards straight into the store (add-task one by one would take minutes
# at 100k); the format is add-task's.
python3 - "$ws/agents/tasksbacklog.md" "$backlog" <<'EOF'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "a") as f:
    for i in range(n):
        f.write(f"\n## 2026-11-24 - Bench card {i}\n\nFiller body for card {i}.\n")
EOF
tmux new-session -d -s "$session" -x 80 -y 24 "$bin --config $cfg tui"
shown() { tmux capture-pane -t "$session" -p | grep -qF -- "$1"; }
until shown "Enter: continue"; do sleep 0.05; done
tmux send-keys -t "$session" Enter
tmux send-keys -t "$session" 5
until shown "Logs"; do sleep 0.05; done
pid="$(tmux list-panes -t "$session" -F "#{pane_pid}")"
# The pane runs the command through a shell that may not exec it.
[ "$(cat /proc/$pid/comm)" = millrace ] || pid="$(pgrep -P "$pid" -x millrace)"
echo "measuring pid $pid ($(cat /proc/$pid/comm))"
sleep 1

lat=()
for i in $(seq 1 10); do
  sleep 0.5   # isolated events, as an operator makes them
  start=$(date +%s%N)
  "$bin" --config "$cfg" add-task "Latency probe $i" >/dev/null
  until shown "Latency probe $i"; do sleep 0.005; done
  end=$(date +%s%N)
  lat+=($(( (end - start) / 1000000 )))
done
sorted=($(printf '%s\n' "${lat[@]}" | sort -n))
echo "event → screen (ms, add-task process included): median ${sorted[4]}, max ${sorted[9]}"

ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
t0=$(ticks); sleep 20; t1=$(ticks)
hz=$(getconf CLK_TCK)
echo "idle CPU over 20 s: $(python3 -c "print(f'{($t1-$t0)/$hz/20*100:.2f} %')")"
echo "RSS: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' "/proc/$pid/status")  (backlog $backlog cards)"

# Beside a daemon running the backlog (the demo agent: many file events a
# second), then beside the same daemon paused (heartbeats and the 5 s
# liveness reload are all that happen).
"$bin" --config "$cfg" start --daemon >/dev/null 2>&1 &
daemon=$!
until "$bin" --config "$cfg" status --json 2>/dev/null | grep -q '"daemon": {'; do sleep 0.1; done
sleep 1
t0=$(ticks); sleep 10; t1=$(ticks)
echo "CPU beside a busy daemon over 10 s: $(python3 -c "print(f'{($t1-$t0)/$hz/10*100:.2f} %')")"
"$bin" --config "$cfg" pause >/dev/null
until "$bin" --config "$cfg" status --json | grep -q '"paused": true'; do sleep 0.1; done
sleep 2
t0=$(ticks); sleep 20; t1=$(ticks)
echo "idle CPU beside a paused daemon over 20 s: $(python3 -c "print(f'{($t1-$t0)/$hz/20*100:.2f} %')")"
"$bin" --config "$cfg" stop >/dev/null 2>&1 || true
wait "$daemon" 2>/dev/null || true
tmux send-keys -t "$session" q
