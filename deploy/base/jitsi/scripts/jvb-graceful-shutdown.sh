#!/bin/sh
# preStop hook of the jvb container (mounted from ConfigMap jvb-scripts).
#
# 1. Ask the bridge for a graceful shutdown through its private REST API:
#    POST http://127.0.0.1:8080/colibri/shutdown {"graceful-shutdown": true}
#    (needs COLIBRI_REST_ENABLED=true and SHUTDOWN_REST_ENABLED=true). The
#    bridge stops accepting new conferences; Jicofo moves new ones elsewhere.
# 2. Wait until it hosts no conferences any more (GET /colibri/stats), or until
#    it has exited by itself. terminationGracePeriodSeconds bounds the wait.
set -u

API="http://127.0.0.1:8080"
POLL_SECONDS="${JVB_SHUTDOWN_POLL_SECONDS:-10}"

log() { echo "jvb-graceful-shutdown: $*" > /proc/1/fd/1 2>/dev/null || echo "jvb-graceful-shutdown: $*"; }

if ! curl -fsS -m 10 -X POST -H 'Content-Type: application/json' \
     -d '{"graceful-shutdown": true}' "$API/colibri/shutdown" >/dev/null; then
  log "shutdown request failed (bridge not running?), terminating now"
  exit 0
fi
log "graceful shutdown requested, waiting for conferences to end"

while :; do
  stats="$(curl -fsS -m 10 "$API/colibri/stats" 2>/dev/null)" || { log "bridge stopped"; exit 0; }
  conferences="$(printf '%s' "$stats" | tr -d ' \n' | sed -n 's/.*"conferences":\([0-9][0-9]*\).*/\1/p')"
  if [ -z "$conferences" ] || [ "$conferences" -eq 0 ]; then
    log "no conferences left"
    exit 0
  fi
  log "$conferences conference(s) still running"
  sleep "$POLL_SECONDS"
done
