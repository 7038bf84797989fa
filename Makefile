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

.PHONY: all deps build run test vet fuzz soak bench bench-long bench-model bench-liveview bench-reload bench-fleet bench-camera bench-swap bench-mot bench-motion bench-split bench-evidence clean

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
	$(GO) build -o bin/vigil-plc ./cmd/vigil-plc

run: deps build
	./bin/vigil run

vet: $(STAMP)
	$(GO) vet ./...
	$(GO) vet -tags matprofile ./...
	$(GO) vet -tags x264 ./liveview ./bench/cmd/liveview-bench

# Tests use the real model, OpenCV, NATS, RTSP server and ffmpeg. The
# matprofile pass counts gocv Mats left open after the pipeline runs.
# Last, every fuzz target for a moment (their seeds already ran as tests):
# 1s each, as building and linking each target's instrumented test binary
# takes longer than that. 16 targets took 143 s at 1s and 118-182 s at 2s
# each, on 2 cores shared with other builds.
test: deps vet
	$(GO) test -count=1 -timeout 30m ./...
	$(GO) test -count=1 -tags matprofile -run 'NoMatLeft' ./pipeline ./liveview ./dataset ./examples ./evidence ./infer
	$(GO) test -count=1 -tags x264 -run 'H264' ./liveview
	FUZZTIME=1s GO=$(GO) ./scripts/fuzz.sh

# Every fuzz target (func FuzzXxx, found by scripts/fuzz.sh), one after
# another, FUZZTIME each; the first failure stops it, and the input that
# failed stays in its package's testdata/fuzz/ as a regression.
FUZZTIME ?= 60s
fuzz: deps
	FUZZTIME=$(FUZZTIME) GO=$(GO) ./scripts/fuzz.sh

# One run, same model, frames and threads: raw onnxruntime vs the pipeline,
# and capture→publish latency; results land in bench/results/.
bench: deps
	$(GO) run ./bench/cmd/vigil-bench $(BENCH_FLAGS)
	$(MAKE) bench-model
	$(MAKE) bench-liveview
	$(GO) run ./bench/cmd/alert-bench -results bench/results
	$(MAKE) bench-reload
	$(MAKE) bench-camera
	$(MAKE) bench-swap
	$(MAKE) bench-mot
	$(MAKE) bench-motion
	$(MAKE) bench-fleet
	$(MAKE) bench-evidence

# Changing a running vigil: frames the other cameras lose while a camera is
# added or removed, and an added camera's first publish (file and RTSP);
# results in bench/results/reload-*.txt.
bench-reload: deps
	$(GO) run ./bench/cmd/reload-bench $(RELOAD_BENCH_FLAGS)

# Network cameras misbehaving: an RTSP camera away 5 s and back (12
# times, then once for a minute), and one frozen without closing its
# connection: how soon it is back, and how soon a freeze shows; results in
# bench/results/camera-*.txt.
bench-camera: deps
	$(GO) run ./bench/cmd/camera-bench $(CAMERA_BENCH_FLAGS)

# Model swaps between two frames and a candidate model in shadow
# (swap_dropped_frames, swap_latency_p99_ratio, shadow_throughput_ratio);
# results in bench/results/swap-*.txt.
bench-swap: deps
	$(GO) run ./bench/cmd/swap-bench $(SWAP_BENCH_FLAGS)

# The tracker on real MOT15 sequences (mot/testdata/mot15) against SORT on
# the same detections, in one run; results in bench/results/mot15-*.txt.
bench-mot: deps
	$(GO) run ./cmd/vigil eval mot --det mot/testdata/mot15 | tee bench/results/mot15-$$(date +%F-%H%M%S).txt

# Motion gating on a scene of vtest.avi's background and its walkers (15%
# of the time): the share of frames the detector is spared, and whether
# the person counts stay the reference's; results in
# bench/results/motion-*.txt.
bench-motion: deps
	$(GO) run ./bench/cmd/motion-bench -ref-cache deps/cache/motion-bench
	$(GO) run ./bench/cmd/regions-bench

# Evidence: a snapshot's cost per event, and the two ways to keep a
# camera's last seconds for clips (JPEGs encoded into VP8 when an event
# asks, or VP8 all the time), per frame, with the bytes each keeps
# (bench/results/evidence-*.txt); then the whole of it on 1 and 4 cameras
# at 10 fps against the same frames into nothing: CPU per camera, event
# to snapshot stored, bytes per event (bench/results/evidence-bench-*.txt).
bench-evidence: deps
	$(GO) test -run '^$$' -bench 'Render|Ring|Clip|Encode' -benchtime 200x ./evidence ./internal/vp8 | tee bench/results/evidence-$$(date +%F-%H%M%S).txt
	$(GO) run ./bench/cmd/evidence-bench -seconds 120
	$(GO) run ./bench/cmd/evidence-bench -cameras 1 -every 60s -seconds 180

# Split inference over NATS: the model all here, frames sent as JPEG, or
# split at two cuts with the tail in a `vigil serve infer` process, at
# 10, 100 and 1000 Mbit/s: camera and server CPU, bytes and latency per
# frame, and how the planner's picks fare; results in
# bench/results/split-*.txt. Not part of make bench.
bench-split: deps
	$(GO) run ./bench/cmd/split-bench $(SPLIT_BENCH_FLAGS)

# Soak, not in CI (about 67 minutes): vigil run for an hour with two RTSP
# cameras that drop every few minutes, a file camera, NATS restarted twice,
# browser viewers coming and going, rules firing: whether resident memory,
# Go heap, goroutines and open files stay flat, Mats left open, every
# accepted event in the stream once; results in bench/results/soak-*.txt,
# the samples in soak-*.csv.
soak: deps
	$(GO) run ./bench/cmd/soak-bench $(SOAK_FLAGS)

# Fleet mode: three vigil nodes in one NATS cluster, the node holding the
# most cameras killed (-9) and stopped (SIGTERM) in rounds: failover and
# handover times, double owner frames, and the leases' NATS messages and
# CPU per 100 cameras; results in bench/results/fleet-*.txt.
bench-fleet: deps
	$(GO) run ./bench/cmd/fleet-bench $(FLEET_BENCH_FLAGS)

# make bench, plus the long runs (about 25 minutes): latency per minute at
# 10 and 30 fps, 1-8 cameras, a 10-minute memory run, allocations per frame
# from BenchmarkPipelineFrame; built with matprofile to count Mats left open.
bench-long: deps
	$(GO) run -tags matprofile ./bench/cmd/vigil-bench -long $(BENCH_FLAGS)

# FP32 vs INT8 (vigil model quantize) on CPU, in one run: int8_speedup and
# int8_agreement; results in bench/results/model-*.txt.
bench-model: deps
	$(GO) run ./bench/cmd/vigil-model-bench $(MODEL_BENCH_FLAGS)

# The browser live view: encode ms per frame (VP8, H.264), the CPU share it
# adds with 1 and 4 chromium viewers, capture→browser latency p50/p99;
# results in bench/results/liveview-*.txt.
bench-liveview: deps
	$(GO) run -tags x264 ./bench/cmd/liveview-bench $(LIVEVIEW_BENCH_FLAGS)

clean:
	rm -rf bin

# The container image (docker/Dockerfile), built with docker or podman,
# whichever this machine has (podman is installed when neither is); where
# no registry answers, the base images are made here first (debootstrap).
# From nothing test-image takes 8 minutes on 2 idle cores, 10 s when
# nothing changed; CI runs it (docker/README.md). test-image starts the image's
# filesystem as a container runtime would and checks the demo, the user
# and the libraries (docker/image_test.go). See docker/README.md.
.PHONY: image test-image
image:
	GO=$(GO) ./scripts/image.sh build

test-image:
	GO=$(GO) ./scripts/image.sh test
