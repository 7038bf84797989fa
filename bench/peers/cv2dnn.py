#!/usr/bin/python3
"""The benchmark's second peer: the common Python path.

Debian's python3-opencv (OpenCV 4.6) with cv2.dnn on the same model, video,
frames and thread count as vigil: read a frame, letterbox it as vigil does
(aspect kept, grey 114 padding), cv2.dnn.blobFromImage, forward, decode the
[1, 4+C, N] output with numpy, cv2.dnn.NMSBoxes. Run it with Debian's
/usr/bin/python3; vigil-bench starts it and reads its "name: value" lines.

OpenCV 4.6 cannot read the stock YOLOv8n export; --stock names it so that
the attempt is reported, and --model is the exact rewrite that it reads
(bench/peers/opencvonnx).
"""

import argparse
import sys
import time

import cv2
import numpy as np


def letterbox(img, size):
    h, w = img.shape[:2]
    s = min(size / w, size / h)
    nw, nh = int(w * s + 0.5), int(h * s + 0.5)
    resized = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    px, py = (size - nw) // 2, (size - nh) // 2
    boxed = cv2.copyMakeBorder(resized, py, size - nh - py, px, size - nw - px,
                               cv2.BORDER_CONSTANT, value=(114, 114, 114))
    return boxed, s, px, py


def detect(net, img, size, conf, iou):
    boxed, s, px, py = letterbox(img, size)
    blob = cv2.dnn.blobFromImage(boxed, 1 / 255.0, (size, size), swapRB=True, crop=False)
    net.setInput(blob)
    out = net.forward()[0]  # (4+C, N)
    scores = out[4:]
    cls = scores.argmax(0)
    best = scores[cls, np.arange(scores.shape[1])]
    keep = best >= conf
    cx, cy, w, h = out[0, keep], out[1, keep], out[2, keep], out[3, keep]
    x1 = (cx - w / 2 - px) / s
    y1 = (cy - h / 2 - py) / s
    boxes = np.stack([x1, y1, w / s, h / s], 1).tolist()
    found = best[keep].tolist()
    idx = cv2.dnn.NMSBoxes(boxes, found, conf, iou) if boxes else []
    return [(int(cls[keep][i]), found[i], boxes[i]) for i in np.array(idx).flatten()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="a model OpenCV 4.6 reads")
    ap.add_argument("--stock", help="the stock model, to report whether OpenCV reads it")
    ap.add_argument("--video", required=True)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=640)
    ap.add_argument("--check-input", help="raw float32 [1,3,size,size] input")
    ap.add_argument("--check-output", help="onnxruntime's raw float32 output for it")
    a = ap.parse_args()

    cv2.setNumThreads(a.threads)
    print(f"opencv: {cv2.__version__}")
    print(f"threads: {cv2.getNumThreads()}")
    if a.stock:
        try:
            cv2.dnn.readNetFromONNX(a.stock)
            print("stock_model_loads: 1")
        except cv2.error as e:
            node = next((l for l in str(e).splitlines() if "Node [" in l), str(e).splitlines()[0])
            print("stock_model_loads: 0")
            print(f"stock_model_error: {node.strip()}")
    net = cv2.dnn.readNetFromONNX(a.model)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)

    if a.check_input and a.check_output:
        x = np.fromfile(a.check_input, dtype=np.float32).reshape(1, 3, a.size, a.size)
        want = np.fromfile(a.check_output, dtype=np.float32)
        net.setInput(x)
        got = net.forward().reshape(-1)
        if got.size != want.size:
            sys.exit(f"cv2dnn: output has {got.size} values, onnxruntime's {want.size}")
        print(f"max_abs_diff: {np.abs(got - want).max():.6g}")

    vc = cv2.VideoCapture(a.video)
    start = cpu = None
    dets = 0
    for i in range(a.frames):
        ok, img = vc.read()
        if not ok:
            sys.exit(f"cv2dnn: {a.video} ended after {i} frames; want {a.frames}")
        dets += len(detect(net, img, a.size, 0.25, 0.45))
        if i == a.warmup:  # timing starts when the frame after the warm-up is done
            start, cpu = time.perf_counter(), time.process_time()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    timed = a.frames - a.warmup - 1
    print(f"fps: {timed / elapsed:.3f}")
    print(f"ms_per_frame: {1000 * elapsed / timed:.2f}")
    print(f"cpu_ms_per_frame: {1000 * cpu / timed:.1f}")
    print(f"detections: {dets}")


if __name__ == "__main__":
    main()
