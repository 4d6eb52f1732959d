#!/usr/bin/env bash
# Install what is missing, then run every test: formatting, lints, unit tests, and the end-to-end
# tests with real Chromium, ChromeDriver, Selenium Grid and Janus on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export LOADTEST_CACHE="$PWD/.cache/loadtest"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
# Browser tests share two cores: one test at a time. Panics without backtraces keep a failure's own
# message short enough to read in a CI log.
export RUST_BACKTRACE=0
cargo test --locked --no-fail-fast --lib --bins --tests -- --test-threads=1
# The generated-infrastructure checks: Terraform modules (python-hcl2) and deploy/ overlays
# (kubectl kustomize + kubernetes-validate --strict).
.cache/venv/bin/python -m pytest -q tests/terraform tests/deploy
