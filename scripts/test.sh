#!/usr/bin/env bash
# The whole test suite: `make test` runs this, and so does CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

# ClickHouse for the tests that need one: a given server
# (VIGIL_CLICKHOUSE_ADDR=host:port), or a private one started here on its
# own ports, config and data directory, and stopped on exit.
if [ -z "${VIGIL_CLICKHOUSE_ADDR:-}" ]; then
  echo "== clickhouse"
  ./scripts/clickhouse.sh install
  ch_dir=$(mktemp -d)
  trap './scripts/clickhouse.sh stop "$ch_dir"; rm -rf "$ch_dir"' EXIT
  VIGIL_CLICKHOUSE_ADDR=$(./scripts/clickhouse.sh start "$ch_dir")
  export VIGIL_CLICKHOUSE_ADDR
  echo "clickhouse-server on $VIGIL_CLICKHOUSE_ADDR (data in $ch_dir)"
fi

echo "== go test -race"
go test -race -count=1 ./...

echo "== fuzz (short)"
./scripts/fuzz.sh # FUZZTIME=30s overrides the default budgets

echo "== examples through the binary"
go build -o bin/vigil ./cmd/vigil
./bin/vigil check examples/rules
./bin/vigil test examples/tests
