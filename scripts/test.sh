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

echo "== go test -race"
go test -race -count=1 ./...

echo "== fuzz (short)"
FUZZTIME=${FUZZTIME:-10s} ./scripts/fuzz.sh

echo "== examples through the binary"
go build -o bin/vigil ./cmd/vigil
./bin/vigil check examples/rules
./bin/vigil test examples/tests
