#!/bin/sh
# Entrypoint wrapper of the jvb container (mounted from ConfigMap jvb-scripts).
#
# Every bridge gets its own UDP port so that one NodePort Service per bridge
# can expose it without any extra controller:
#   JVB_PORT = JVB_PORT_BASE (per shard: 30300 + 100 * shard index) + pod ordinal
# The pod ordinal is the suffix of the StatefulSet pod name (downward API
# metadata.name -> POD_NAME), e.g. shard-1-jvb-3 -> 3 -> JVB_PORT 30403.
# The container listens on exactly the NodePort number, so the port the bridge
# advertises in its ICE candidates is the one clients can reach.
set -eu

: "${POD_NAME:?POD_NAME must be set from metadata.name}"
: "${JVB_PORT_BASE:?JVB_PORT_BASE must be set (ConfigMap <shard>-shard-env)}"

ordinal="${POD_NAME##*-}"
case "$ordinal" in
  ''|*[!0-9]*) echo "jvb-entrypoint: cannot derive ordinal from pod name '$POD_NAME'" >&2; exit 1 ;;
esac
case "$JVB_PORT_BASE" in
  ''|*[!0-9]*) echo "jvb-entrypoint: JVB_PORT_BASE '$JVB_PORT_BASE' is not a number" >&2; exit 1 ;;
esac
if [ "$ordinal" -ge 100 ]; then
  echo "jvb-entrypoint: ordinal $ordinal exceeds the 100 ports reserved per shard" >&2
  exit 1
fi
JVB_PORT=$((JVB_PORT_BASE + ordinal))
export JVB_PORT

# Refuse to run with the placeholder secrets of secrets.template.yaml.
if [ "${JVB_AUTH_PASSWORD:-}" = "" ] || [ "${JVB_AUTH_PASSWORD}" = "CHANGE-ME" ]; then
  echo "jvb-entrypoint: JVB_AUTH_PASSWORD is unset or still CHANGE-ME; run deploy/gen-secrets.sh" >&2
  exit 1
fi

# Advertise the node's address (the NodePort is reachable there; the Services
# use externalTrafficPolicy: Local), in this order:
#   1. JVB_ADVERTISE_IPS when set (jitsi-jvb ConfigMap or an overlay patch; for
#      nodes behind 1:1 NAT, list the public addresses);
#   2. the node's ExternalIP, written by the node-address init container;
#   3. the node's hostIP (status.hostIP), private on most managed clusters.
NODE_ADDRESS_FILE="${NODE_ADDRESS_FILE:-/opt/loadtest-node/external-ip}"
if [ -z "${JVB_ADVERTISE_IPS:-}" ]; then
  external=$(head -n 1 "$NODE_ADDRESS_FILE" 2>/dev/null || true)
  if [ -n "$external" ]; then
    JVB_ADVERTISE_IPS="$external"
  elif [ -n "${NODE_IP:-}" ]; then
    echo "jvb-entrypoint: no ExternalIP for this node; advertising hostIP $NODE_IP (set JVB_ADVERTISE_IPS if clients cannot reach it)" >&2
    JVB_ADVERTISE_IPS="$NODE_IP"
  fi
  export JVB_ADVERTISE_IPS
fi

echo "jvb-entrypoint: pod=$POD_NAME ordinal=$ordinal JVB_PORT=$JVB_PORT advertise=${JVB_ADVERTISE_IPS:-<auto>}"

# Hand over to the image's own entrypoint (s6-overlay).
exec /init "$@"
