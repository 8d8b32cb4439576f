#!/usr/bin/env bash
# bash .ci/lint.sh — the style gates every commit must pass; .ci/run runs them before the tests
# (rustfmt, then clippy with warnings denied).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# A one-off build keeps no incremental state (it would double the target folder on a CI disk).
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
status=0
echo "lint: cargo fmt --all --check"
cargo fmt --all --check || status=$?
echo "lint: cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings || status=$?
exit "$status"
