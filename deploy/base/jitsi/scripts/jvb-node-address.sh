#!/bin/sh
# Init container of the jvb pods (mounted from ConfigMap jvb-scripts): writes the
# ExternalIP of the node the pod runs on to /opt/loadtest-node/external-ip, for
# jvb-entrypoint.sh to advertise. status.hostIP is the node's private address on
# most managed clusters, which clients cannot reach.
#
# Reads GET /api/v1/nodes/$NODE_NAME with the pod's ServiceAccount (ClusterRole
# jvb-node-reader: get nodes). Never fails the pod: without an ExternalIP (bare
# metal, or a cluster that does not report one) it writes nothing and the
# bridge falls back to the node's hostIP; JVB_ADVERTISE_IPS overrides both.
set -u

out=${NODE_ADDRESS_FILE:-/opt/loadtest-node/external-ip}
sa=${SERVICEACCOUNT_DIR:-/var/run/secrets/kubernetes.io/serviceaccount}
api="https://${KUBERNETES_SERVICE_HOST:-kubernetes.default.svc}:${KUBERNETES_SERVICE_PORT:-443}"
: >"$out"

if [ -z "${NODE_NAME:-}" ] || [ ! -r "$sa/token" ]; then
  echo "node-address: no NODE_NAME or no ServiceAccount token; the bridge will advertise hostIP" >&2
  exit 0
fi
if ! node=$(curl -fsS --max-time 10 --cacert "$sa/ca.crt" \
    -H "Authorization: Bearer $(cat "$sa/token")" "$api/api/v1/nodes/$NODE_NAME"); then
  echo "node-address: cannot read node $NODE_NAME from the API; the bridge will advertise hostIP" >&2
  exit 0
fi
ip=$(printf '%s' "$node" | jq -r '[.status.addresses[]? | select(.type == "ExternalIP") | .address][0] // empty')
if [ -z "$ip" ]; then
  echo "node-address: node $NODE_NAME reports no ExternalIP; the bridge will advertise hostIP" >&2
  exit 0
fi
printf '%s\n' "$ip" >"$out"
echo "node-address: node $NODE_NAME ExternalIP $ip"
