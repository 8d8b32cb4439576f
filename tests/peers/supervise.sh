#!/usr/bin/env bash
# supervise.sh LOGFILE CMD [ARGS...]
#
# Runs CMD in the background (stdin /dev/null, stdout+stderr appended to LOGFILE), prints its pid
# on one line of stdout, and then ties CMD's life to this script's stdin:
#   * when stdin reaches end of file -- the test process that spawned us closed its end of the
#     pipe, or died in any way at all, even SIGKILL -- CMD gets SIGTERM, then SIGKILL after 3 s;
#   * when CMD exits on its own, this script exits with CMD's status.
# So no server started by a test outlives that test process, and only CMD's pid is ever signalled.
# If SUPERVISE_RM is set, that path is removed (rm -rf) once CMD has exited (per-instance
# databases and logs of the OAuth2 peers).
# Used by the test support library (tests/src/) for redis-server and the real OAuth2 peers.
set -u
log=$1; shift
"$@" </dev/null >>"$log" 2>&1 &
child=$!
echo "$child"
exec 3<&0 </dev/null >/dev/null 2>&1
(
  # bash's builtin read: returns non-zero at EOF (or on any read error).
  while IFS= read -r -u 3 _; do :; done
  kill -TERM "$child" 2>/dev/null || exit 0
  for _ in $(seq 1 30); do kill -0 "$child" 2>/dev/null || exit 0; sleep 0.1; done
  kill -KILL "$child" 2>/dev/null
) &
watcher=$!
exec 3<&-
wait "$child"
status=$?
kill "$watcher" 2>/dev/null
if [ -n "${SUPERVISE_RM:-}" ]; then rm -rf -- "$SUPERVISE_RM"; fi
exit "$status"
