#!/usr/bin/env bash
# bash .ci/test.sh — installs what the tests need (bash .ci/setup.sh, idempotent, needs root),
# then runs every test of the workspace. This is the test command named in README.md, and the
# one .ci/run runs. Extra arguments go to the test runner (e.g. a test-name filter).
#
# Runner: the doc tests first (nextest does not run those), then cargo-nextest with the `ci`
# profile of .config/nextest.toml (every test runs, one process per test, a hung test is
# killed after 5 min), whose summary is the last line. Without cargo-nextest:
# cargo test --workspace --no-fail-fast.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# A one-off build keeps no incremental state (it would double the target folder on a CI disk).
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

bash .ci/setup.sh

# Python clients and scripts run by tests must not litter the tree.
export PYTHONDONTWRITEBYTECODE=1
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

status=0
if cargo nextest --version >/dev/null 2>&1; then
  echo "test: cargo test --workspace --doc"
  cargo test --workspace --doc --no-fail-fast || status=$?
  echo "test: cargo nextest run --workspace --profile ci $*"
  cargo nextest run --workspace --profile ci "$@" || status=$?
else
  echo "test: cargo-nextest not found; cargo test --workspace --no-fail-fast $*"
  cargo test --workspace --no-fail-fast "$@" -- --test-threads=2 || status=$?
fi
exit "$status"
