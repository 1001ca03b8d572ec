# vigil — the two commands of the README: `make run` and `make test`.
# Go lives at /usr/local/go on the project's machines; PATH may not say so.
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
BIN := bin/vigil
# What `vigil --version` says; the build info has no VCS data when GOFLAGS
# holds -buildvcs=false, so the Makefile passes them.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: all build run replay test fuzz bench clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/vigil

# Runs the service on embedded defaults: HTTP ingest on 127.0.0.1:8080, the example
# rules, alerts to stdout and to the embedded store under ./data.
run: build
	./$(BIN) serve --rules examples/rules

# Replays the example events through the example rules.
replay: build
	./$(BIN) replay -r examples/rules -e examples/events/payments.ndjson

# Everything CI runs: formatting, vet, race-enabled tests, short fuzz runs,
# and the example rules checked and tested through the binary.
test:
	./scripts/test.sh

# Longer fuzzing: make fuzz FUZZTIME=5m
FUZZTIME ?= 1m
fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

bench:
	$(GO) test -run=NONE -bench=. -benchmem ./...

clean:
	rm -rf bin
