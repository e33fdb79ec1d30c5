# The verbs users type. CMake does the building; this file only wires the steps together.
# CMake's makefiles run make recursively; their "Entering/Leaving directory" lines are noise here.
MAKEFLAGS += --no-print-directory
BUILD ?= build
JOBS ?= $(shell nproc)
BUILD_TYPE ?= Release
CUDA_COMPILER := $(firstword $(shell command -v nvcc 2>/dev/null) $(wildcard /usr/local/cuda/bin/nvcc))

.PHONY: all deps configure build test demo bench format clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(if $(CUDA_COMPILER),-DCMAKE_CUDA_COMPILER=$(CUDA_COMPILER))

configure: $(BUILD)/CMakeCache.txt

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

# Every test, one short line each, then why any were skipped; a subset by label: make test LABELS=gradcheck
test: build
	@scripts/run-tests.sh $(BUILD) $(JOBS) $(LABELS)

# Trains the embedded default recipe (configs/llama_demo.yaml) and generates from the result.
demo: build
	STRAND=$(BUILD)/strand scripts/demo.sh

bench: build
	@echo "strand: GPU training benchmarks arrive with the CUDA backend; the PyTorch peer is bench/torch_llama_peer.py (see bench/README.md)"

format:
	clang-format -i $$(git ls-files '*.h' '*.cpp' '*.cu' '*.cuh')

clean:
	rm -rf $(BUILD)
