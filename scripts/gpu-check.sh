#!/usr/bin/env bash
# GPU check: vigil's CUDA and TensorRT paths on the default model, with fps
# for FP32, FP16 and INT8 measured in one run per provider, and the INT8
# model's agreement with FP32.
#
# Needs, on the GPU machine:
#   - an NVIDIA GPU and driver (nvidia-smi);
#   - a GPU build of onnxruntime 1.2x–1.30 for linux x64: libonnxruntime.so.1
#     with libonnxruntime_providers_shared.so, _cuda.so and _tensorrt.so
#     beside it, plus CUDA, cuDNN and TensorRT libraries on LD_LIBRARY_PATH;
#     point VIGIL_ONNXRUNTIME_LIB at it (the library from `make deps` is CPU-only);
#   - `make deps` done (model, media, OpenCV).
#
#   VIGIL_ONNXRUNTIME_LIB=/opt/ort-gpu/lib/libonnxruntime.so.1 scripts/gpu-check.sh
#
# Results: bench/results/gpu-cuda-latest.txt, gpu-tensorrt-latest.txt. On
# TensorRT, FP16 is the FP32 model with trt_fp16_enable and INT8 the QDQ
# model from `vigil model quantize` with trt_int8_enable (TensorRT takes the
# scales from its Q/DQ nodes: vigil's calibration). Engines are cached in
# $TMPDIR/vigil-trt-cache; the first build takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
export PKG_CONFIG_PATH="$PWD/deps/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L; then
	echo "gpu-check: no NVIDIA GPU here (nvidia-smi finds none); nothing to measure" >&2
	exit 2
fi
lib="${VIGIL_ONNXRUNTIME_LIB:-}"
if [[ -z "$lib" || ! -f "$lib" ]]; then
	echo "gpu-check: set VIGIL_ONNXRUNTIME_LIB to a GPU build of libonnxruntime.so.1 (deps/lib holds the CPU build)" >&2
	exit 2
fi
for p in cuda tensorrt; do
	if ! ls "$(dirname "$lib")"/libonnxruntime_providers_"$p".so >/dev/null 2>&1; then
		echo "gpu-check: warning: no libonnxruntime_providers_$p.so beside $lib; the $p run will fail" >&2
	fi
done

go build -o bin/vigil-model-bench ./bench/cmd/vigil-model-bench
go build -o bin/vigil ./cmd/vigil
bin/vigil version

status=0
for p in cuda tensorrt; do
	echo "== $p: fp32, fp16, int8"
	if bin/vigil-model-bench -onnxruntime-lib "$lib" -providers "$p" -precisions fp32,fp16,int8 \
		-threads 2 -rounds 10 -runs 20 -eval-frames 50 -results bench/results/gpu-$p "$@"; then
		cp bench/results/gpu-$p/model-latest.txt bench/results/gpu-$p-latest.txt
	else
		echo "gpu-check: $p failed" >&2
		status=1
	fi
done
# The GPU tests skip without a GPU; here they run.
VIGIL_ONNXRUNTIME_LIB="$lib" go test -count=1 -run 'GPU' -v ./model/ || status=1
exit $status
