"""Winograd's F(2x2, 3x3) against im2col for zfnet_small's 3x3 layers at small batches,
alternating step by step in one process (winograd.pays answering False puts im2col in its
place, as the route table would), numba backend, default threads, nothing set.

    python benchmarks/results/sgd-and-pool-2026-12-07/winograd_small_batches.py --batch 1 --mode infer
"""

import argparse
import pathlib
import sys

import numpy

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "winograd-runs-2026-12-07"))
from common import alternate, infer_step, machine_line, setup, train_step  # noqa: E402

from minicnn.engine.kernels import winograd  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="zfnet_small")
parser.add_argument("--batch", type=int, default=1)
parser.add_argument("--mode", choices=("train", "infer"), default="infer")
parser.add_argument("--steps", type=int, default=100)
args = parser.parse_args()

model, x, labels, optimizer = setup(args.model, args.batch)
pays = winograd.pays
versions = {"winograd": lambda: setattr(winograd, "pays", pays),
            "im2col": lambda: setattr(winograd, "pays", lambda *arguments: False)}
step = (lambda: train_step(model, x, labels, optimizer)) if args.mode == "train" else (lambda: infer_step(model, x))
times = alternate(versions, step, args.steps, warm_up=5)
winograd.pays = pays
print(machine_line())
by_winograd, by_im2col = numpy.array(times["winograd"]), numpy.array(times["im2col"])
print(f"{args.model} batch {args.batch} {args.mode}: winograd {numpy.median(by_winograd) * 1e3:.2f} ms, "
      f"im2col {numpy.median(by_im2col) * 1e3:.2f} ms; im2col / winograd {numpy.median(by_im2col / by_winograd):.3f} "
      f"(median of step pairs)")
