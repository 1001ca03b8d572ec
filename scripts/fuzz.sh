#!/usr/bin/env bash
# Runs every fuzz target for FUZZTIME each (default 10s).
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
for target in "FuzzDecode ./event" "FuzzDecodeJSON ./event" "FuzzLoad ./rules" \
  "FuzzDec ./internal/wire" "FuzzDecodeState ./patterns/sequence" "FuzzDecodeWindow ./patterns/window" "FuzzRestore ./cep"; do
  set -- $target
  echo "== fuzz $1 ($2, $FUZZTIME)"
  # A new interesting input is minimized for at most a few seconds: the
  # default minute would eat a short run whole on large snapshot inputs.
  go test -run=NONE -fuzz="^$1\$" -fuzztime="$FUZZTIME" -fuzzminimizetime=3s "$2"
done
