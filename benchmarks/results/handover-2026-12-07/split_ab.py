"""Whole training steps with threads.matmul sharing out products from 2**18 multiply-adds (as
before 2026-12-07's sixth session) and from 2**23 (after), alternating step by step in one process.

    python benchmarks/results/handover-2026-12-07/split_ab.py --model keras_mnist_cnn --batch 32 [--steps 40]

"2**18" sets threads.SPLIT_FROM_MULTIPLY_ADDS back to 2**18: every product from 2**18 up is
split on minicnn's threads, as the code did before; below that, whole on one BLAS thread (the
code before left those to BLAS, which runs products that small on one thread itself). The
numbers are the same either way up to rounding (tests/test_threads.py).
"""

import argparse
import json
import statistics
import time

import numpy

import minicnn  # noqa: F401  (a learner's import order: NumPy, then minicnn)
from minicnn.bench.machine import machine_info
from minicnn.bench.suite_models import ModelCase
from minicnn.bench.targets import make_targets
from minicnn.engine import threads

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="keras_mnist_cnn")
parser.add_argument("--batch", type=int, default=32)
parser.add_argument("--steps", type=int, default=40)
arguments = parser.parse_args()
settings = {"2**18": 2**18, "2**23": 2**23}
case = ModelCase(arguments.model, "train step", arguments.batch, 4)
arrays = case.inputs(numpy.random.default_rng(0), "time")
(target,), _ = make_targets(["numba"])
times = {name: [] for name in settings}
original = threads.SPLIT_FROM_MULTIPLY_ADDS
with target.active():
    run = case.runner(target, arrays, "time")
    for _ in range(3):
        run()
    try:
        for _ in range(arguments.steps):
            for name, value in settings.items():
                threads.SPLIT_FROM_MULTIPLY_ADDS = value
                start = time.perf_counter()
                run()
                times[name].append((time.perf_counter() - start) * 1e3)
    finally:
        threads.SPLIT_FROM_MULTIPLY_ADDS = original
info = machine_info(threads=None)
medians = {name: statistics.median(values) for name, values in times.items()}
print(json.dumps({"machine": {key: info[key] for key in ("date", "cpu_model", "usable_cores",
                                                          "minicnn_threads", "load_average_before")},
                  "model": arguments.model, "batch": arguments.batch, "steps": arguments.steps,
                  "median_ms": medians, "after / before": medians["2**23"] / medians["2**18"]}))
