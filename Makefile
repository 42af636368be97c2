# Thin wrapper over CMake/CTest. `make` builds, `make test` runs every test,
# `make demo` runs the live demo, `make bench` the benchmark (bench/all.sh: every part, one
# summary table), `make bench-callgrind` only its instruction counts per row.
# Each target first installs what is missing (scripts/deps.sh, apt-get as root).

BUILD      ?= build
GENERATOR  := $(shell command -v ninja >/dev/null 2>&1 && echo Ninja || echo "Unix Makefiles")
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

# The fault scenarios' result lines ("scenario N: PASS ...", issue 6) from the log of the ctest run
# just made in build dir $(1): ctest shows a passing test's output only in that log.
SCENARIOS = echo "fault scenarios passed in $(1):"; \
  grep -h '^scenario [0-9]*: PASS' $(1)/Testing/Temporary/LastTest.log | sort -t ' ' -k2,2n || true

.PHONY: all deps build test test-unit test-asan test-valgrind lint demo bench bench-callgrind test-faults fuzz clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	cmake -S . -B $(BUILD) -G "$(GENERATOR)" $(CMAKE_ARGS)
	cmake --build $(BUILD) -j $(JOBS)

# The whole suite: lint, then -Werror build with unit and integration tests,
# then unit+integration under ASan/UBSan, then unit tests under valgrind.
test: deps lint
	cmake -S . -B build-ci -G "$(GENERATOR)" -DCDC_WERROR=ON
	cmake --build build-ci -j $(JOBS)
	cd build-ci && ctest --output-on-failure -j 1
	@$(call SCENARIOS,build-ci)
	cmake -S . -B build-asan -G "$(GENERATOR)" -DCDC_WERROR=ON -DCDC_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j 1
	@$(call SCENARIOS,build-asan)
	cmake -S . -B build-valgrind -G "$(GENERATOR)" -DCDC_WERROR=ON -DCDC_VALGRIND=ON -DCDC_INTEGRATION=OFF -DCMAKE_BUILD_TYPE=Debug
	cmake --build build-valgrind -j $(JOBS)
	cd build-valgrind && ctest --output-on-failure -j $(JOBS) -L unit

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit

lint: deps
	clang-format --dry-run --Werror $$(git ls-files 'src/*.[ch]' 'tests/*.[ch]' 'bench/*.[ch]')
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
	  --suppress=missingIncludeSystem -I src src

demo: build
	bash scripts/demo.sh $(BUILD)/cdc-handler

# the fault-injection scenarios 1-11 in their long versions (CDC_IT_LONG: NATS down for 60 s, the
# checkpoint store for 30 s; a 5M-row transaction in it_pgstream), the crash loop among them
test-faults: build
	CDC_IT_LONG=1 ctest --test-dir $(BUILD) -R 'it_faults|it_crashloop|it_pgstream|it_wal_budget|it_reconcile' --output-on-failure
	@$(call SCENARIOS,$(BUILD))

bench: build
	bash bench/all.sh $(BUILD)

bench-callgrind: build
	bash bench/callgrind.sh $(BUILD)

fuzz: deps
	CC=clang cmake -S . -B build-fuzz -G "$(GENERATOR)" -DCDC_FUZZ=ON -DCDC_INTEGRATION=OFF
	cmake --build build-fuzz -j $(JOBS)

clean:
	rm -rf build build-ci build-asan build-valgrind build-fuzz
