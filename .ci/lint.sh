#!/usr/bin/env bash
# bash .ci/lint.sh — the style gates every commit is expected to pass (not part of the test
# command, so a formatting slip cannot block a CI run): rustfmt and clippy with warnings denied.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0
echo "lint: cargo fmt --all --check"
cargo fmt --all --check || status=$?
echo "lint: cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings || status=$?
exit "$status"
