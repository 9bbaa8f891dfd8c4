"""The arithmetic side of the eager comparison: where torchvision eager spends its time, and how
fast this CPU can multiply floats at all. Used by bench/roofline.ts (`npm run bench:roofline`).

    python3 bench/torch_profile.py --image IMG [--model-dir DIR --checkpoint FILE] [--threads 2]

Prints one JSON line:
  eager_ms        median of `model([img])` under inference_mode (as bench/torch_eager.py times it)
  conv_ms         of one profiled run, the time in aten::conv2d / conv_transpose2d (inclusive)
  conv_gflop      their floating-point operations (torch.profiler with_flops: 2 x multiply-adds)
  gemm_gflops     torch's best of: torch.mm 2048^3 and a 256->256 3x3 convolution on 200x272
                  (oneDNN), each the median of 5, in GFLOP/s
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from torch_eager import load_image, load_model  # noqa: E402


def timed(fn, runs=5):
    fn()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", required=True)
    ap.add_argument("--model-dir"); ap.add_argument("--checkpoint")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = load_model(a.model_dir, a.checkpoint)
    img = load_image(a.image)
    with torch.inference_mode():
        eager = timed(lambda: model([img]), a.runs)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], with_flops=True) as prof:
            model([img])
    conv_us = 0.0; conv_flop = 0
    for ev in prof.key_averages():
        if ev.key in ("aten::conv2d", "aten::conv_transpose2d"):
            conv_us += ev.cpu_time_total; conv_flop += ev.flops
    with torch.inference_mode():
        x = torch.randn(2048, 2048); y = torch.randn(2048, 2048)
        mm = 2 * 2048 ** 3 / timed(lambda: torch.mm(x, y)) / 1e9
        f = torch.randn(1, 256, 200, 272); w = torch.randn(256, 256, 3, 3)
        conv = 2 * 256 * 256 * 9 * 200 * 272 / timed(lambda: torch.nn.functional.conv2d(f, w, padding=1)) / 1e9
    print(json.dumps({"eager_ms": eager * 1000, "conv_ms": conv_us / 1000, "conv_gflop": conv_flop / 1e9,
                      "mm_gflops": mm, "conv3x3_gflops": conv, "gemm_gflops": max(mm, conv),
                      "threads": a.threads, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
