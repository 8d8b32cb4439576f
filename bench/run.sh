#!/usr/bin/env bash
# bench/run.sh [--no-build] [bench.py options]
#
# The load benchmark: backend direct, nginx proxy_pass, synaptic pass-through, synaptic with
# simple-token-gen on its cached path (and more cases, see CASES in bench/bench.py), side by
# side in one run on loopback, closed-loop wrk at c=50 and c=200: small GET, 1 KiB and 100 KiB
# POST (the HTTP/2 cases with h2load over h2c, against nginx's http2 listener). Prints req/s,
# p50, p99, CPU µs per request and RSS of the server under test (from /proc), each as a ratio
# to nginx; writes bench/results/<time>.md and .json.
# Options: python3 bench/bench.py --help. Figures and machine notes: docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build=1
args=()
for a in "$@"; do
  if [ "$a" = "--no-build" ]; then build=0; else args+=("$a"); fi
done

if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null || ! command -v h2load >/dev/null; then
  bash .ci/setup.sh --bench
fi
if [ "$build" = 1 ]; then
  cargo build --release -p synaptic-cli
fi
exec python3 bench/bench.py --command-line "bench/run.sh $*" "${args[@]}"
