#!/bin/sh
# Print deploy/base/jitsi/secrets.template.yaml with every CHANGE-ME replaced
# by a distinct random 32-hex-digit value. Nothing is written to disk.
#
#   deploy/gen-secrets.sh | kubectl create -f -     # first install
#   deploy/gen-secrets.sh | kubectl replace -f -    # rotation (then restart
#                                                   # prosody, jicofo and jvb pods)
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
template="$here/base/jitsi/secrets.template.yaml"

rand() {
  if command -v openssl >/dev/null 2>&1; then
    openssl rand -hex 16
  else
    od -An -N16 -tx1 /dev/urandom | tr -d ' \n'
  fi
}

while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in
    *": CHANGE-ME") printf '%s: "%s"\n' "${line%%: CHANGE-ME}" "$(rand)" ;;
    *) printf '%s\n' "$line" ;;
  esac
done < "$template"
