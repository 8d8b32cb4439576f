#!/usr/bin/env bash
# peer.sh NAME — run ONE real OAuth2 peer in the foreground (exec), from the files that
# `real-peers.sh install` wrote to $PEERS_DIR. The commands are the ones `real-peers.sh start`
# uses; this exists so a test can start only the peer it needs, on its own port, under
# supervise.sh (real-peers.sh `start` always starts all four in the background).
#
#   NAME     authlib | dot | oidc | mock
#   env      PEERS_DIR (absolute, required), PORT (required), TOKEN_TTL, AT_FORMAT=jwt (oidc),
#            DOT_FAST_HASH=1 (dot), DOT_DB (dot: the sqlite file for this instance, required)
#
# dot: migrating and seeding takes ~3 s, so a seeded template database is built once per
# DOT_FAST_HASH setting (atomically, so concurrent test processes agree) and copied per instance.
set -euo pipefail
name=${1:?usage: peer.sh authlib|dot|oidc|mock}
: "${PEERS_DIR:?PEERS_DIR must be set}" "${PORT:?PORT must be set}"
PY=$PEERS_DIR/venv/bin/python
HOST=127.0.0.1

case "$name" in
  authlib)
    cd "$PEERS_DIR"
    HOST=$HOST PORT=$PORT exec "$PY" authlib_server.py
    ;;
  dot)
    : "${DOT_DB:?DOT_DB must be set}"
    cd "$PEERS_DIR/dot"
    export DJANGO_SETTINGS_MODULE=settings PYTHONPATH="$PEERS_DIR/dot"
    template="$PEERS_DIR/dot/template-hash${DOT_FAST_HASH:-0}.sqlite3"
    if [ ! -f "$template" ]; then
      tmp="$template.$$.tmp"
      rm -f "$tmp"
      DOT_DB=$tmp "$PY" -m django migrate -v0
      DOT_DB=$tmp "$PY" -m django shell -v0 -c "from django.contrib.auth.models import User; User.objects.create_user('alice', password='wonderland')" >/dev/null
      DOT_DB=$tmp "$PY" -m django createapplication confidential client-credentials --client-id gw-cc --client-secret gw-cc-secret --name gw-cc >/dev/null
      DOT_DB=$tmp "$PY" -m django createapplication confidential password --client-id gw-pw --client-secret gw-pw-secret --name gw-pw >/dev/null
      DOT_DB=$tmp "$PY" -m django createapplication confidential client-credentials --client-id rs-introspector --client-secret rs-secret --name rs >/dev/null
      mv -f "$tmp" "$template"
    fi
    cp "$template" "$DOT_DB"
    exec "$PY" -m django runserver "$HOST:$PORT" --noreload
    ;;
  oidc)
    cd "$PEERS_DIR/node"
    PORT=$PORT exec node oidc_server.mjs
    ;;
  mock)
    cd "$PEERS_DIR/node"
    exec ./node_modules/.bin/oauth2-mock-server -a "$HOST" -p "$PORT"
    ;;
  *) echo "peer.sh: unknown peer '$name' (authlib|dot|oidc|mock)" >&2; exit 2 ;;
esac
