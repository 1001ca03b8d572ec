#!/usr/bin/env bash
# Runs every fuzz target: by default for a fixed number of executions
# (about 10 s each on the project's 2-core machine), or for FUZZTIME each
# when it is set (make fuzz FUZZTIME=5m).
#
# Why counts by default: with a duration, Go 1.26's fuzz coordinator can
# report its own deadline as a failure ("context deadline exceeded", no
# crasher written; golang/go#75804, fixed in Go 1.27) when a worker is
# mid-execution as the time runs out, which makes the test command flaky
# on a loaded machine. A count has no deadline to race.
set -euo pipefail
cd "$(dirname "$0")/.."
for target in "FuzzDecode ./event 300000x" "FuzzDecodeJSON ./event 200000x" "FuzzLoad ./rules 50000x" \
  "FuzzDec ./internal/wire 300000x" "FuzzDecodeState ./patterns/sequence 300000x" \
  "FuzzDecodeWindow ./patterns/window 150000x" "FuzzRestore ./cep 5000x"; do
  set -- $target
  budget=${FUZZTIME:-$3}
  echo "== fuzz $1 ($2, $budget)"
  # A new interesting input is minimized for at most 2000 executions: the
  # default minute would eat a short run whole on large snapshot inputs.
  go test -run=NONE -fuzz="^$1\$" -fuzztime="$budget" -fuzzminimizetime=2000x -timeout=10m "$2"
done
