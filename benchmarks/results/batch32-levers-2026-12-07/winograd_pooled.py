"""keras-MNIST's second layer (32 -> 64 channels, 3x3 on 13x13, 2x2 max pool) by its route,
"im2col pooled, gradients at the switches", against Winograd's F(2x2, 3x3) over the outputs
the pool reads (10x10: each 2x2 output tile is one pool window), then the pool; backward, the
pooled gradient put back at the switches and F(2x2, 3x3)'s backward pass. Alternating call
by call, batch 32, float32, minicnn's threads; and Winograd's forward pass followed by the
route's own backward pass. A trial put together from the engine's
functions, not a route: timed, and its pooled output and dL/dW compared with the route's.

    python benchmarks/results/batch32-levers-2026-12-07/winograd_pooled.py
"""

import os
import sys
import time

import numpy

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "winograd-runs-2026-12-07"))
from common import machine_line  # noqa: E402

import minicnn as mc  # noqa: E402
from minicnn.engine.kernels import switch_gradients, winograd  # noqa: E402
from minicnn.engine.kernels.pooling import maxpool_forward_numba, maxpool_scatter_numba  # noqa: E402

mc.set_backend("numba")
rng = numpy.random.default_rng(0)
x = rng.standard_normal((32, 32, 13, 13)).astype(numpy.float32)
weight = (rng.standard_normal((64, 32, 3, 3)) * 0.1).astype(numpy.float32)
bias = numpy.zeros(64, numpy.float32)
grad = rng.standard_normal((32, 64, 5, 5)).astype(numpy.float32)
out, pool = (11, 11), ((2, 2), (2, 2), (0, 0), (1, 1), (5, 5))


def route_forward():
    return switch_gradients.conv2d_max_pool_forward_in_reach(x, weight, bias, (1, 1), (0, 0), (1, 1), out, pool)


def route_both():
    pooled, switches, reach = route_forward()
    return pooled, switch_gradients.conv2d_max_pool_backward_at_switches(
        grad, switches, x, weight, (1, 1), (0, 0), (1, 1), out, reach, True, True, True)


def winograd_forward():
    # the 12x12 pixels the 10x10 outputs read (Winograd's loops take OH = H + 2*PH - 2 only)
    y, saved = winograd.winograd_forward_numba(numpy.ascontiguousarray(x[:, :, :12, :12]), weight, bias,
                                               (0, 0), (10, 10))
    return y, saved, maxpool_forward_numba(y, (2, 2), (2, 2), (0, 0), (5, 5))


def winograd_both():
    y, saved, (pooled, switches) = winograd_forward()
    grad_y = maxpool_scatter_numba(grad, switches, y.shape)
    grad_x, grad_w, grad_b = winograd.winograd_backward_numba(grad_y, saved, (32, 32, 12, 12), (0, 0),
                                                              True, True, True)
    whole = numpy.zeros_like(x)                             # row and column 12: no output reads them
    whole[:, :, :12, :12] = grad_x
    return pooled, (whole, grad_w, grad_b)


def winograd_then_switches():
    """Winograd's forward pass and the pool, then the route's own backward pass: the pool's
    switches over the 10x10 outputs are flat indices oy*10 + ox, as the route's are."""
    _, _, (pooled, switches) = winograd_forward()
    return pooled, switch_gradients.conv2d_max_pool_backward_at_switches(
        grad, switches, x, weight, (1, 1), (0, 0), (1, 1), out, (10, 10), True, True, True)


def alternate(first, second, calls=200):
    first(), second()
    a, b = [], []
    for _ in range(calls):
        for function, times in ((first, a), (second, b)):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
    a, b = numpy.array(a), numpy.array(b)
    return numpy.median(a) * 1e3, numpy.median(b) * 1e3, numpy.median(b / a)


print(machine_line())
for label, first, second in (("forward", route_forward, winograd_forward),
                             ("forward and backward", route_both, winograd_both),
                             ("forward by Winograd, backward at the switches", route_both,
                              winograd_then_switches)):
    route_ms, winograd_ms, ratio = alternate(first, second)
    print(f"{label}: the route {route_ms:.2f} ms, Winograd then the pool {winograd_ms:.2f} ms; "
          f"Winograd / route {ratio:.3f} (median of call pairs)")
(pooled_a, route_grads), (pooled_b, winograd_grads) = route_both(), winograd_both()
print("largest difference from the route's, relative to the largest value: pooled "
      f"{numpy.abs(pooled_a - pooled_b).max() / numpy.abs(pooled_a).max():.1e}, " + ", ".join(
          f"{name} {numpy.abs(a - b).max() / numpy.abs(a).max():.1e}"
          for name, a, b in zip(("dL/dx", "dL/dW", "dL/db"), route_grads, winograd_grads)))
