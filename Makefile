# customer-health: `make run` builds and runs the nightly pipeline on the
# sample data; `make test` runs the test suite; `make bench` the benchmark.
SWIFT ?= swift
DEB_PACKAGES := libcsv-dev zlib1g-dev
BIN := .build/release/customer-health

.PHONY: all deps build run test test-unit lint format fuzz fuzz-ci bench sample-data screenshots clean

all: build

# Installs the Debian packages the C wrappers need, when they are missing.
deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "missing Debian packages:$$missing"; \
	    echo "install them with:  sudo apt-get install -y$$missing"; \
	    exit 1; \
	  fi; \
	fi

build: deps
	$(SWIFT) build -c release --product customer-health

run: build
	$(BIN) run pipelines/nightly.yaml

test: DEB_PACKAGES += strace chromium
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-swift-testing

# Only the unit tests (CustomerHealthTests: the library in process, no
# executable, no browser): the quick check while working.
test-unit: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-swift-testing --filter '^CustomerHealthTests\.'

# swift-format, shipped with the toolchain, with the committed .swift-format:
# `make lint` fails on any difference (CI runs it); `make format` fixes them.
FORMATTED := Sources Tests Package.swift
lint:
	$(SWIFT) format lint --strict --recursive $(FORMATTED)

format:
	$(SWIFT) format format --in-place --recursive $(FORMATTED)

# libFuzzer targets (docs/fuzzing.md): FUZZ_SECONDS per target (60; CI runs 5).
fuzz: deps
	SWIFT=$(SWIFT) bash Fuzz/run.sh

# The short pass CI runs on every change: replays Fuzz/regressions, then 5 s per target.
fuzz-ci: deps
	SWIFT=$(SWIFT) FUZZ_SECONDS=5 bash Fuzz/run.sh

bench: build
	bash bench/run.sh
	bash bench/model_bench.sh
	bash bench/trainer_memory.sh
	python3 bench/watch_bench.py
	bash bench/serve_bench.sh
	bash bench/shards_bench.sh
	python3 bench/profile_eval.py
	python3 bench/report_bench.py

# The screenshots of docs/report.md and the README, from the sample data.
screenshots: DEB_PACKAGES += chromium
screenshots: deps build
	bash docs/screenshots.sh

# Regenerates the committed sample data (deterministic: same bytes every time).
sample-data: build
	rm -rf sample-data/exports sample-data/truth.csv.gz
	$(BIN) generate --customers 300 --days 180 --seed 42 --output sample-data

clean:
	rm -rf .build output Fuzz/.build Fuzz/.work
