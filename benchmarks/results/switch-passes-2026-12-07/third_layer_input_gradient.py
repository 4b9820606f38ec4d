"""keras-MNIST's third convolution (64 channels of 5x5 in, 64 filters 3x3, 3x3 out) at batch 32:
its backward pass with dL/dx by the "chunks" route (conv2d_input_gradient) and by its reference
col2im(W^T @ g), alternating call by call in one process; on minicnn's default threads, and on
one thread with BLAS told to use one thread too (minicnn on one thread alone would leave its
products on OpenBLAS's own threads).

    python benchmarks/results/switch-passes-2026-12-07/third_layer_input_gradient.py
"""

import contextlib
import os
import sys
import time

import numpy

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "winograd-runs-2026-12-07"))
from common import machine_line  # noqa: E402

import minicnn as mc  # noqa: E402
from minicnn import functional as F  # noqa: E402
from minicnn.engine import threads  # noqa: E402
from minicnn.engine.kernels import routes  # noqa: E402

print(machine_line())
mc.set_backend("numba")
rng = numpy.random.default_rng(0)
x = mc.tensor(rng.standard_normal((32, 64, 5, 5)).astype(numpy.float32), requires_grad=True)
w = mc.tensor((rng.standard_normal((64, 64, 3, 3)) * 0.05).astype(numpy.float32), requires_grad=True)
b = mc.tensor(numpy.zeros(64, numpy.float32), requires_grad=True)
grad = rng.standard_normal((32, 64, 3, 3)).astype(numpy.float32)
route = routes.ROUTES["conv2d_input_gradient"]


def backward():
    y = F.conv2d(x, w, b)
    start = time.perf_counter()
    y.backward(grad)
    seconds = time.perf_counter() - start
    x.grad = w.grad = b.grad = None
    return seconds


default = threads.get_num_threads()
for count in (default, 1):
    previous = threads.set_num_threads(count)
    one_blas = threads._OneBlasThread() if count == 1 and threads.blas_control() else contextlib.nullcontext()
    times = {"chunks": [], "reference": []}
    try:
        with one_blas:
            for round_ in range(155):
                for name in times:
                    routes.ROUTES["conv2d_input_gradient"] = route if name == "chunks" else ()
                    seconds = backward()
                    if round_ >= 5:
                        times[name].append(seconds)
    finally:
        routes.ROUTES["conv2d_input_gradient"] = route
        threads.set_num_threads(previous)
    chunks, reference = numpy.array(times["chunks"]), numpy.array(times["reference"])
    print(f"{count} thread{'s' if count > 1 else ' (BLAS on one too)'}: backward with dL/dx by chunks "
          f"{numpy.median(chunks) * 1e3:.3f} ms, by the reference {numpy.median(reference) * 1e3:.3f} ms; "
          f"chunks / reference {numpy.median(chunks / reference):.3f} (median of pairs)")
