#!/usr/bin/env bash
# Runs every fuzz target for FUZZTIME each (default 10s).
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
for target in "FuzzDecode ./event" "FuzzDecodeJSON ./event" "FuzzLoad ./rules"; do
  set -- $target
  echo "== fuzz $1 ($2, $FUZZTIME)"
  go test -run=NONE -fuzz="^$1\$" -fuzztime="$FUZZTIME" "$2"
done
