#!/bin/sh
# Init container of the load-generator nodes: rebuilds the fake media files that
# `loadtest provision --provider kubernetes` generated from the scenario (a
# ConfigMap holds at most 1 MiB, so each file comes gzip-compressed and split
# into chunks <file>.gz.000, .001, ... across ConfigMaps loadgen-media-<k>, with
# its SHA-256 in <file>.sha256) into the volume the browsers read
# (webdriver.media_dir = /opt/loadtest/media).
# No chunks (the base without an overlay): nothing to do; the browsers use
# Chrome's built-in fake devices.
set -eu
src=${MEDIA_SRC:-/opt/loadtest/media-src}
dst=${MEDIA_DIR:-/opt/loadtest/media}
found=0
for first in "$src"/*.gz.000; do
  [ -e "$first" ] || continue
  name=$(basename "$first" .gz.000)
  cat "$src/$name".gz.[0-9][0-9][0-9] | gunzip >"$dst/$name.part"
  if [ -f "$src/$name.sha256" ]; then
    want=$(cut -d' ' -f1 "$src/$name.sha256")
    got=$(sha256sum "$dst/$name.part" | cut -d' ' -f1)
    if [ "$want" != "$got" ]; then
      echo "media: $name: SHA-256 $got, expected $want" >&2
      exit 1
    fi
  fi
  mv "$dst/$name.part" "$dst/$name"
  found=$((found + 1))
  echo "media: $name ($(wc -c <"$dst/$name") bytes)"
done
[ "$found" -gt 0 ] || echo "media: none (Chrome's built-in fake devices)"
