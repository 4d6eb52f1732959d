#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build, start the local target (Janus on
# loopback), run scenarios/local-janus.toml with browsers loadtest starts itself, print the results dir.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --locked
BIN=target/release/loadtest
LOG=$(mktemp)
"$BIN" sandbox >"$LOG" 2>&1 &
SANDBOX=$!
trap 'kill $SANDBOX 2>/dev/null; wait $SANDBOX 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  grep -q "Janus sandbox running" "$LOG" && break
  kill -0 $SANDBOX 2>/dev/null || { cat "$LOG" >&2; exit 3; }
  sleep 0.5
done
cat "$LOG"
"$BIN" run --scenario scenarios/local-janus.toml "$@"
