# Entry points for people and CI. The real build is CMake; this file only sequences it.
#   make deps   install missing Debian packages        make        build build/fitsflow
#   make test   deps + build + every test (also ASan)  make run    start FitsFlow on the sample data
#   make bench  run the benchmarks under bench/
#   make fuzz   build the clang/libFuzzer harnesses (fuzz/), replay crash reproducers, then run
#               each harness FUZZ_SECONDS (default 60) seconds, FUZZ_JOBS (default: one per core)
#               at a time; FUZZ_SEED=N fixes libFuzzer's seed (CI: 20 s each, seed 1)
#   make faults the long fault runs (tests/faults/: 20 kill -9 rounds, full disk as root, hanging
#               remote services, SIGTERM during a ZIP download)
#   make load   the long load run (tests/load/: 200 sessions, wrk 60 s per endpoint, memory)
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
ASAN_BUILD ?= build-asan

.PHONY: all deps build test test-release test-asan run bench fuzz faults load clean

all: build

deps:
	@bash scripts/deps.sh

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: deps
	@$(MAKE) --no-print-directory test-release
	@$(MAKE) --no-print-directory test-asan

test-release: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan:
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DFF_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS)

run: deps build
	@bash scripts/run.sh

bench: deps build
	@bash bench/run.sh

FUZZ_SECONDS ?= 60
FUZZ_SEED ?=
fuzz:
	@command -v clang >/dev/null && [ -n "$$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ] || \
		(echo "make fuzz: installing clang and libclang-rt-14-dev" >&2; \
		 apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libclang-rt-14-dev >/dev/null)
	@$(MAKE) --no-print-directory -C fuzz regress
	@$(MAKE) --no-print-directory -C fuzz run FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_SEED=$(FUZZ_SEED)

FAULT_ENV = FITSFLOW_BIN=$(abspath $(BUILD))/fitsflow FF_TEST_TMP=$(abspath $(BUILD))/test-tmp FF_LONG=1 \
	FITSFLOW_HELIOVIEWER_URL=http://127.0.0.1:9 FITSFLOW_JSOC_URL=http://127.0.0.1:9 FITSFLOW_SDO_URL=http://127.0.0.1:9 \
	PYTHONPATH=$(CURDIR)/tests/e2e:$(CURDIR)/tests/faults:$(CURDIR)/tests/load PYTHONDONTWRITEBYTECODE=1
faults: build
	@for t in kill9 disk remote_hang sigterm_zip; do $(FAULT_ENV) /usr/bin/python3 tests/e2e/test_faults_$$t.py || exit 1; done

load: build
	@command -v wrk >/dev/null || sudo apt-get install -y wrk
	@$(FAULT_ENV) /usr/bin/python3 tests/e2e/test_load_serve.py

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
