"""Whole keras-MNIST training steps with the switch route's forward pass over the pool's reach
(10x10 of the second layer's 11x11 outputs) and over the whole output (as before 2026-12-07's
fifth session), alternating step by step in one process.

    python benchmarks/results/pool-reach-2026-12-07/reach_ab.py [--batch 128] [--steps 40]

"whole output" replaces switch_gradients.pool_reach by one that returns the output's size:
the route then computes all 121 outputs, as the code did before the change; the numbers are
the same either way (tests/test_routes.py). Also the second layer's forward pass alone.
"""

import argparse
import statistics
import time

import numpy

import minicnn  # noqa: F401  (a learner's import order: NumPy, then minicnn)
from minicnn.bench.machine import machine_info
from minicnn.bench.suite_models import ModelCase
from minicnn.bench.targets import make_targets
from minicnn.engine.kernels import switch_gradients

parser = argparse.ArgumentParser()
parser.add_argument("--batch", type=int, default=128)
parser.add_argument("--steps", type=int, default=40)
arguments = parser.parse_args()
reach = switch_gradients.pool_reach


def whole(out, pool):
    return tuple(out)


settings = {"reach": reach, "whole output": whole}
case = ModelCase("keras_mnist_cnn", "train step", arguments.batch, 4)
arrays = case.inputs(numpy.random.default_rng(0), "time")
(target,), _ = make_targets(["numba"])
step = {name: [] for name in settings}
layer = {name: [] for name in settings}
rng = numpy.random.default_rng(1)
x = rng.standard_normal((arguments.batch, 32, 13, 13)).astype(numpy.float32)
w = rng.standard_normal((64, 32, 3, 3)).astype(numpy.float32)
b = rng.standard_normal(64).astype(numpy.float32)
pool = ((2, 2), (2, 2), (0, 0), (1, 1), (5, 5))
with target.active():
    run = case.runner(target, arrays, "time")
    for _ in range(3):
        run()
    for i in range(arguments.steps):
        for name in (list(settings) if i % 2 else list(settings)[::-1]):
            switch_gradients.pool_reach = settings[name]
            start = time.perf_counter()
            run()
            step[name].append((time.perf_counter() - start) * 1e3)
            start = time.perf_counter()
            switch_gradients.conv2d_max_pool_forward_in_reach(x, w, b, (1, 1), (0, 0), (1, 1), (11, 11), pool)
            layer[name].append((time.perf_counter() - start) * 1e3)
switch_gradients.pool_reach = reach
info = machine_info(threads=None)
print(f"keras_mnist_cnn, batch {arguments.batch}, {arguments.steps} steps each, alternating; "
      f"CPU: {info['cpu_model']}, {info['usable_cores']} cores, minicnn {info['minicnn_threads']} threads, "
      f"NumPy's BLAS {info['numpy_blas']}")
for what, times in (("whole training step", step), ("second layer's forward pass", layer)):
    r, o = statistics.median(times["reach"]), statistics.median(times["whole output"])
    print(f"{what}: over the reach {r:.2f} ms, over the whole output {o:.2f} ms, reach / whole {r / o:.3f}")
