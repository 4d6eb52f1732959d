#!/bin/sh
# Init container of the load-generator nodes: rebuilds the fake media files that
# `loadtest provision --provider kubernetes` generated from the scenario (a
# ConfigMap holds at most 1 MiB, so each file comes gzip-compressed and split
# into chunks <file>.gz.000, .001, ... across ConfigMaps loadgen-media-<k>; gzip's
# CRC-32 and length refuse a damaged or incomplete file) into the volume the browsers read
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
  if ! cat "$src/$name".gz.[0-9][0-9][0-9] | gunzip >"$dst/$name.part"; then
    echo "media: $name: damaged or incomplete chunks" >&2
    exit 1
  fi
  mv "$dst/$name.part" "$dst/$name"
  found=$((found + 1))
  echo "media: $name ($(wc -c <"$dst/$name") bytes)"
done
[ "$found" -gt 0 ] || echo "media: none (Chrome's built-in fake devices)"
