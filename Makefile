# cartstream: the targets a developer and CI use. `make help` lists them.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

GO ?= go
# Packages whose tests need no broker; integration/ needs a real one.
UNIT_PKGS = $$($(GO) list ./... | grep -v '/integration')
# Integration packages run one at a time: each starts its own broker, and two
# JVMs plus the race detector on a 2-core machine only slow each other down.
INTEGRATION_TIMEOUT ?= 25m
# wait-bound integration tests (waitBound in integration/helpers_test.go) run
# this many at once after the others: they mostly wait on Kafka's timers, so
# three at a time take the suite from ~12.8 to ~9 minutes on two cores.
INTEGRATION_PARALLEL ?= 3
RACE ?= -race

KAFKA_PORT ?= 9092
# KAFKA_NODES=3: a three-node KRaft cluster (docs/operations.md, "Three-node cluster").
KAFKA_NODES ?= 1

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z][a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

.PHONY: check-go
check-go:
	@command -v $(GO) >/dev/null || { echo "cartstream: Go is needed (https://go.dev/doc/install)"; exit 1; }
	@command -v gcc >/dev/null || command -v cc >/dev/null || { echo "cartstream: a C compiler is needed for librdkafka (cgo): apt-get install gcc"; exit 1; }

.PHONY: build
build: check-go ## compile every package and command
	$(GO) build ./...

.PHONY: run
run: check-go ## the whole backend in one process: embedded development broker unless KAFKA_BROKERS is set; http://127.0.0.1:8080/
	$(GO) build -o bin/cartstream ./cmd/cartstream
	./bin/cartstream

.PHONY: test
test: vet check-rules test-unit test-integration ## vet, alert rules, unit tests, then integration tests against a real Apache Kafka broker
# Under `make test` every package has been through the whole of go vet
# already: the tests skip go test's own subset of it.
test: VETTED = -vet=off

# promtool from Prometheus's own release, built once from the Go module proxy into bin/.
# remove_all_sd leaves out the service discovery plugins, which checking and
# testing rules never use: 141 s instead of 359 s to build on a new 2-core machine.
PROMTOOL_VERSION ?= v0.316.0
PROMTOOL = bin/promtool-$(PROMTOOL_VERSION)

$(PROMTOOL):
	@mkdir -p bin
	GOBIN=$(abspath bin) $(GO) install -tags remove_all_sd github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION)
	mv bin/promtool $@

.PHONY: check-rules
check-rules: check-go $(PROMTOOL) ## promtool check rules and test rules on deploy/observability/alerts.yml
	$(PROMTOOL) check rules deploy/observability/alerts.yml
	cd deploy/observability && $(abspath $(PROMTOOL)) test rules alerts_test.yml

.PHONY: vet
vet: check-go ## go vet every package
	$(GO) vet ./...

.PHONY: test-unit
test-unit: check-go ## unit and hermetic tests (no broker needed)
	$(GO) test $(RACE) $(VETTED) -count=1 $(UNIT_PKGS)

.PHONY: test-integration
test-integration: check-go kafka-fetch browser ## integration tests; start a broker from the jars unless KAFKA_BROKERS names one
	$(GO) test $(RACE) $(VETTED) -count=1 -p 1 -parallel $(INTEGRATION_PARALLEL) -timeout $(INTEGRATION_TIMEOUT) ./integration/...

.PHONY: chaos
CHAOS_COMMANDS ?= 100000
CHAOS_KILLS ?= 40
CHAOS_FAULTS ?= 36
CHAOS_NODES ?= 1 3
CHAOS_REPORT_DIR ?= bin
chaos: check-go kafka-fetch ## the crash test and the chaos test, longer: CHAOS_KILLS manager kills over CHAOS_COMMANDS commands, then CHAOS_FAULTS kills of every service and a broker on each cluster size of CHAOS_NODES (reports in CHAOS_REPORT_DIR)
	CARTSTREAM_CHAOS_COMMANDS=$(CHAOS_COMMANDS) CARTSTREAM_CHAOS_KILLS=$(CHAOS_KILLS) \
	  $(GO) test -count=1 -v -timeout 60m -run 'TestCrashedManager' ./integration/
	CARTSTREAM_CLUSTER_TESTS=1 $(GO) test -count=1 -v -timeout 30m -run 'TestClusterBrokerCrashUnderLoad' ./integration/
	@mkdir -p $(CHAOS_REPORT_DIR)
	for n in $(CHAOS_NODES); do \
	  KAFKA_START_TIMEOUT=$${KAFKA_START_TIMEOUT:-240} CARTSTREAM_TEST_KAFKA=jars CARTSTREAM_TEST_KAFKA_NODES=$$n CARTSTREAM_CHAOS_FAULTS=$(CHAOS_FAULTS) \
	  CARTSTREAM_CHAOS_REPORT=$(abspath $(CHAOS_REPORT_DIR))/chaos-$${n}node.json \
	  CARTSTREAM_CHAOS_LOGS=$(abspath $(CHAOS_REPORT_DIR))/chaos-$${n}node-logs \
	    $(GO) test -count=1 -v -timeout 60m -run 'TestChaos' ./integration/ || exit 1; \
	done

.PHONY: browser
browser: ## install Debian's chromium for the browser test when missing (as root, with apt-get)
	@bash scripts/browser/ensure-chromium.sh

.PHONY: kafka-fetch
kafka-fetch: ## fetch the Apache Kafka broker jars with Maven into the cache (once)
	@if [ -z "$${KAFKA_BROKERS:-}" ]; then bash scripts/kafka/fetch.sh; fi

.PHONY: kafka-up
kafka-up: ## start a test broker on 127.0.0.1:9092 (KAFKA_PORT) in the background; KAFKA_NODES=3 for a three-node cluster
	@KAFKA_PORT=$(KAFKA_PORT) KAFKA_NODES=$(KAFKA_NODES) bash scripts/kafka/up.sh

.PHONY: kafka-up-secure
kafka-up-secure: ## the secured test broker on KAFKA_PORT: SASL_SSL + SCRAM, ACLs enforced, one principal per service (docs/security-kafka.md)
	@KAFKA_PORT=$(KAFKA_PORT) bash scripts/kafka/up-secure.sh

.PHONY: kafka-down
kafka-down: ## stop the test broker (every node) started by kafka-up and remove its data
	@KAFKA_PORT=$(KAFKA_PORT) bash scripts/kafka/down.sh

.PHONY: kafka-node-kill kafka-node-stop kafka-node-start
kafka-node-kill: ## SIGKILL node NODE (1..KAFKA_NODES) of the kafka-up cluster
	@KAFKA_PORT=$(KAFKA_PORT) bash scripts/kafka/node.sh kill $(NODE)
kafka-node-stop: ## stop node NODE of the kafka-up cluster (SIGTERM: controlled shutdown)
	@KAFKA_PORT=$(KAFKA_PORT) bash scripts/kafka/node.sh stop $(NODE)
kafka-node-start: ## restart node NODE of the kafka-up cluster on its ports and data
	@KAFKA_PORT=$(KAFKA_PORT) bash scripts/kafka/node.sh start $(NODE)

.PHONY: bench
BENCH_FLAGS ?=
bench: check-go kafka-fetch ## performance scenarios against a real Apache Kafka broker; results in bench/results (docs/benchmarks.md)
	$(GO) run ./cmd/cartbench -out bench/results $(BENCH_FLAGS)

.PHONY: fuzz
FUZZTIME ?= 30s
fuzz: check-go ## run every fuzz target for FUZZTIME each
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; $(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME); \
	  done; \
	done

.PHONY: proto
proto: check-go ## regenerate the gRPC Go code with buf (pinned tools, installed into bin/)
	bash scripts/proto/gen.sh

.PHONY: lint
lint: check-go vet ## go vet, buf format/lint, generated code up to date, buf breaking against HEAD
	bash scripts/proto/lint.sh

.PHONY: clean
clean: ## remove build outputs (not the broker cache)
	rm -rf bin
