"""PyTorch CPU reference timings for bench/run.ts: conv3d on input
1x16x10x64x64, 32 output channels, 3x3x3 kernel, padding 1, no bias.

Prints one JSON line per case, {"name", "ms", "gflops"}, like
`deno task bench --json`: conv3d_fwd (forward) and conv3d_fwd_bwd (forward,
input gradient and weight gradient), each the median of several runs after
warm-up runs. Run with Debian's python3-torch: /usr/bin/python3
bench/conv3d_torch.py [--threads 2] [--runs 5] [--warmup 2].
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

X_SHAPE = (1, 16, 10, 64, 64)
WEIGHT_SHAPE = (32, 16, 3, 3, 3)
PADDING = 1


def pass_flops():
    """2 * Cout * output positions * Cin * 27 (output size equals input size)."""
    n, c_in, d, h, w = X_SHAPE
    c_out, _, kd, kh, kw = WEIGHT_SHAPE
    return 2 * c_out * n * d * h * w * c_in * kd * kh * kw


def median_ms(fn, runs, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads value")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per case")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before timing")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(7)

    x = torch.rand(X_SHAPE) * 2 - 1
    weight = torch.rand(WEIGHT_SHAPE) * 2 - 1
    gy = torch.rand(X_SHAPE[:1] + WEIGHT_SHAPE[:1] + X_SHAPE[2:]) * 2 - 1
    flops = pass_flops()

    def forward():
        with torch.no_grad():
            F.conv3d(x, weight, padding=PADDING)

    x_leaf = x.clone().requires_grad_(True)
    weight_leaf = weight.clone().requires_grad_(True)

    def forward_backward():
        x_leaf.grad = None
        weight_leaf.grad = None
        y = F.conv3d(x_leaf, weight_leaf, padding=PADDING)
        y.backward(gy)

    for name, fn, case_flops in [
        ("conv3d_fwd", forward, flops),
        ("conv3d_fwd_bwd", forward_backward, 3 * flops),
    ]:
        ms = median_ms(fn, args.runs, args.warmup)
        print(json.dumps({"name": name, "ms": ms, "gflops": case_flops / (ms / 1000) / 1e9}), flush=True)


if __name__ == "__main__":
    main()
