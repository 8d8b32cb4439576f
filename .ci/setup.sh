#!/usr/bin/env bash
# Installs everything synaptic's build and test suite need, on a fresh Debian 12 machine that has
# Rust, Python 3 and Node/npm. Idempotent: a second run only checks, and takes about a second.
#
#   bash .ci/setup.sh            test prerequisites: redis-server, mariadb-server, postgresql, openssl, chromium, curl + the real OAuth2 peers
#   bash .ci/setup.sh --bench    also nginx-light, wrk, h2load (nghttp2-client), openssl, valgrind and
#                                python3-cryptography for bench/run.sh
#
# Runs as root (or through sudo). Nothing else on the machine is assumed: every tool a test
# starts is installed here. Packages' own services are never started (policy-rc.d), tests
# start their own servers on ephemeral 127.0.0.1 ports.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=0
for a in "$@"; do
  case "$a" in
    --bench) BENCH=1 ;;
    *) echo "usage: $0 [--bench]" >&2; exit 2 ;;
  esac
done

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "setup: must run as root (or with sudo available) to apt-get install" >&2; exit 1; fi
fi

# --- Debian packages --------------------------------------------------------------------------
# command the package provides -> package
need=()
want() { command -v "$1" >/dev/null 2>&1 || need+=("$2"); }
want redis-server redis-server
want redis-cli redis-tools
want curl curl
want chromium chromium
# encrypted `[secrets]` tests encrypt with openssl, as an operator would
want openssl openssl
# <dblookup>/<dbreport> tests start their own MariaDB server (mariadb-install-db + mariadbd,
# tests/src/mariadb.rs); the package's service is never started
[ -x /usr/sbin/mariadbd ] && [ -x /usr/bin/mariadb-install-db ] || need+=(mariadb-server)
# ... and their own PostgreSQL server (initdb + postgres from /usr/lib/postgresql/N/bin, run as the
# package's `postgres` user when the tests run as root; tests/src/postgres.rs)
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
b=$(pg_bin)
[ -n "$b" ] && [ -x "$b/initdb" ] && [ -x "$b/postgres" ] && [ -x "$b/psql" ] && id postgres >/dev/null 2>&1 \
  || need+=(postgresql)
want setpriv util-linux
if [ "$BENCH" = 1 ]; then
  want nginx nginx-light
  want wrk wrk
  want callgrind_control valgrind
  want h2load nghttp2-client
  want openssl openssl
  # the DPoP case signs its proofs with Python's cryptography
  python3 -c 'import cryptography' 2>/dev/null || need+=(python3-cryptography)
fi
[ -e /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
# The <xslt> mediator links the system's libxslt, libexslt and libxml2 (crates/xslt, ADR 0411),
# found through pkg-config; rquickjs builds QuickJS's C with the C compiler (gcc).
want pkg-config pkgconf
want cc gcc
[ -e /usr/include/libxslt/xslt.h ] && [ -e /usr/include/libexslt/exslt.h ] || need+=(libxslt1-dev)
# The peers' venv needs ensurepip (Debian's own python3 ships it in python3-venv).
python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)

retry() {  # retry CMD... : registries can fail transiently
  local i
  for i in 1 2 3; do
    "$@" && return 0
    echo "setup: attempt $i failed: $*" >&2
    sleep $((i * 5))
  done
  return 1
}

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need[*]}"
  # Keep the packages' own services (redis on :6379, MariaDB on :3306, PostgreSQL on :5432, nginx
  # on :80) from starting.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  retry $SUDO apt-get update -qq
  retry $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  if [ "$made_policy" = 1 ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
else
  echo "setup: Debian packages present"
fi

b=$(pg_bin)
for c in redis-server redis-cli curl openssl chromium python3 node npm pkg-config cc mariadb mariadb-install-db /usr/sbin/mariadbd \
         setpriv "$b/initdb" "$b/postgres" "$b/psql"; do
  command -v "$c" >/dev/null || { echo "setup: $c still missing after install" >&2; exit 1; }
done
id postgres >/dev/null 2>&1 || { echo "setup: the postgres user is still missing after install" >&2; exit 1; }

# --- real OAuth2 peers (tests/peers/real-peers.sh) ----------------------------------------------
# Authlib, django-oauth-toolkit, oidc-provider, oauth2-mock-server and the client libraries
# (requests-oauthlib, Authlib httpx client, openid-client), pinned, under target/peers.
# Reinstalled only when the script changes or the install is incomplete.
export PEERS_DIR=${PEERS_DIR:-$ROOT/target/peers}
stamp="$PEERS_DIR/.installed"
want_stamp=$(sha256sum "$ROOT/tests/peers/real-peers.sh" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ] \
   && [ -x "$PEERS_DIR/venv/bin/python" ] && [ -d "$PEERS_DIR/node/node_modules/oidc-provider" ]; then
  echo "setup: real peers present in $PEERS_DIR"
else
  echo "setup: installing real peers into $PEERS_DIR"
  rm -f "$stamp" "$PEERS_DIR"/dot/template-*.sqlite3   # DOT's seeded template (tests/peers/peer.sh)
  mkdir -p "$PEERS_DIR"
  retry bash "$ROOT/tests/peers/real-peers.sh" install
  echo "$want_stamp" > "$stamp"
fi
echo "setup: done"
