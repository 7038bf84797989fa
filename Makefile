# vigil — `make run` runs the demo, `make test` runs the tests. Both set up
# everything first (`make deps`): Debian packages, the onnxruntime library,
# the default model and the sample media.

SHELL := /bin/bash
GO ?= go
# Debian splits OpenCV into -dev packages without an opencv4.pc; deps.sh
# writes one here so gocv's pkg-config lookup works.
export PKG_CONFIG_PATH := $(CURDIR)/deps/pkgconfig$(if $(PKG_CONFIG_PATH),:$(PKG_CONFIG_PATH))
export CGO_ENABLED := 1

STAMP := deps/.ready
DEPS_INPUTS := scripts/deps.sh

.PHONY: all deps build run test vet bench clean

all: build

$(STAMP): $(DEPS_INPUTS)
	./scripts/deps.sh
	@touch $@

# deps always re-checks (cheap, idempotent), so a deleted file is refetched.
deps:
	./scripts/deps.sh
	@touch $(STAMP)

build: $(STAMP)
	$(GO) build -o bin/vigil ./cmd/vigil

run: deps build
	./bin/vigil run

vet: $(STAMP)
	$(GO) vet ./...
	$(GO) vet -tags matprofile ./...

# Tests use the real model, OpenCV, NATS, RTSP server and ffmpeg. The
# matprofile pass counts gocv Mats left open after the pipeline runs.
test: deps vet
	$(GO) test -count=1 -timeout 30m ./...
	$(GO) test -count=1 -tags matprofile -run 'NoMatLeft' ./pipeline

# One run, same model, frames and threads: raw onnxruntime vs the pipeline,
# and capture→publish latency; results land in bench/results/.
bench: deps
	$(GO) run ./bench/cmd/vigil-bench $(BENCH_FLAGS)

clean:
	rm -rf bin
