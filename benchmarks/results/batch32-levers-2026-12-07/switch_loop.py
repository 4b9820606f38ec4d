"""keras-MNIST's second layer at batch 32: where "gradients at the switches" spends its time, and
three other ways of writing its inner update, timed alone.

    python benchmarks/results/batch32-levers-2026-12-07/switch_loop.py

Part 1 times the engine's loop (switch_gradients._switch_gradient_loops) on one thread over the
whole batch, asked for both gradients, dL/dW only, dL/dx only and neither (dL/db and the
channels-last copy). Part 2 times the update itself on made-up switches of the same count (64
filters x 25 windows, 32 times, three runs of 96 numbers each): as the engine writes it (one
loop over a run, its length a variable), with the run length a constant, in blocks of 16
numbers, and with eight sums held in scalars over a filter's windows. Each variant's results
are checked against the first's.
"""

import os
import sys
import time

import numba
import numpy

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "winograd-runs-2026-12-07"))
from common import machine_line  # noqa: E402

import minicnn as mc  # noqa: E402
from minicnn.engine import threads  # noqa: E402
from minicnn.engine.kernels import switch_gradients  # noqa: E402
from minicnn.engine.kernels.compiled import flat, ints  # noqa: E402

unsigned = numba.uint64


def median_ms(function, calls=40):
    function()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return numpy.median(times) * 1e3


def engine_loop():
    """Part 1: the engine's loop, one thread, the layer's real switches."""
    mc.set_backend("numba")
    rng = numpy.random.default_rng(0)
    batch, out, pool = 32, (11, 11), ((2, 2), (2, 2), (0, 0), (1, 1), (5, 5))
    x = rng.standard_normal((batch, 32, 13, 13)).astype(numpy.float32)
    weight = (rng.standard_normal((64, 32, 3, 3)) * 0.1).astype(numpy.float32)
    pooled, switches, reach = switch_gradients.conv2d_max_pool_forward_in_reach(
        x, weight, numpy.zeros(64, numpy.float32), (1, 1), (0, 0), (1, 1), out, pool)
    grad = rng.standard_normal(pooled.shape).astype(numpy.float32)
    offsets, run = switch_gradients.run_offsets((3, 3), (1, 1), 13, 32)
    weight_last = numpy.ascontiguousarray(numpy.transpose(weight, (0, 2, 3, 1))).reshape(-1)
    corners = switch_gradients.corner_table(tuple(reach), (1, 1), 13, 32)

    def call(needs_x, needs_weight):
        arguments = (flat(grad), flat(switches), x.reshape(-1), *ints(32, 13, 13, 0, 0, 13, 13, 25),
                     corners, offsets, run, weight_last, needs_x, needs_weight,
                     numpy.zeros(64 * 288), numpy.zeros(64), numpy.empty(x.size, numpy.float32),
                     numpy.zeros(1))
        return lambda: switch_gradients._switch_gradient_loops(*arguments, 0, batch)

    print("Part 1: the engine's loop, one thread, 32 images (51200 switches, runs of 96):")
    for label, needs in (("both gradients", (True, True)), ("dL/dW only", (False, True)),
                         ("dL/dx only", (True, False)), ("neither", (False, False))):
        print(f"  {label:15s} {median_ms(call(*needs)):.2f} ms")


@numba.njit(nogil=True, fastmath=False)
def as_the_engine(row, grad_padded, padded, weights, corners, grads, run, filters, windows):
    for f in range(filters):
        for w in range(f * windows, (f + 1) * windows):
            g, at = grads[w], corners[w]
            for k in range(3):
                start, along, weights_at = at + k * 13 * 32, f * 3 * run + k * run, f * 3 * run + k * run
                for j in range(run):
                    row[unsigned(along + j)] += g * padded[unsigned(start + j)]
                    grad_padded[unsigned(start + j)] += g * weights[unsigned(weights_at + j)]


@numba.njit(nogil=True, fastmath=False)
def constant_run(row, grad_padded, padded, weights, corners, grads, run, filters, windows):
    for f in range(filters):
        for w in range(f * windows, (f + 1) * windows):
            g, at = grads[w], corners[w]
            for k in range(3):
                start, along = at + k * 13 * 32, f * 288 + k * 96
                for j in range(96):                                # the run's length known
                    row[unsigned(along + j)] += g * padded[unsigned(start + j)]
                    grad_padded[unsigned(start + j)] += g * weights[unsigned(along + j)]


@numba.njit(nogil=True, fastmath=False)
def blocks_of_16(row, grad_padded, padded, weights, corners, grads, run, filters, windows):
    for f in range(filters):
        for w in range(f * windows, (f + 1) * windows):
            g, at = grads[w], corners[w]
            for k in range(3):
                start, along = at + k * 13 * 32, f * 3 * run + k * run
                for block in range(0, run, 16):
                    for j in range(16):
                        row[unsigned(along + block + j)] += g * padded[unsigned(start + block + j)]
                        grad_padded[unsigned(start + block + j)] += g * weights[unsigned(along + block + j)]


@numba.njit(nogil=True, fastmath=False)
def sums_in_scalars(row, grad_padded, padded, weights, corners, grads, run, filters, windows):
    """dL/dW only: eight sums held over a filter's windows (the direct route's way)."""
    for f in range(filters):
        for k in range(3):
            for block in range(0, run, 8):
                t = unsigned(f * 3 * run + k * run + block)
                s0, s1, s2, s3 = row[t], row[t + 1], row[t + 2], row[t + 3]
                s4, s5, s6, s7 = row[t + 4], row[t + 5], row[t + 6], row[t + 7]
                for w in range(f * windows, (f + 1) * windows):
                    g, a = grads[w], unsigned(corners[w] + k * 13 * 32 + block)
                    s0 += g * padded[a]
                    s1 += g * padded[a + 1]
                    s2 += g * padded[a + 2]
                    s3 += g * padded[a + 3]
                    s4 += g * padded[a + 4]
                    s5 += g * padded[a + 5]
                    s6 += g * padded[a + 6]
                    s7 += g * padded[a + 7]
                row[t], row[t + 1], row[t + 2], row[t + 3] = s0, s1, s2, s3
                row[t + 4], row[t + 5], row[t + 6], row[t + 7] = s4, s5, s6, s7


def variants():
    """Part 2: the update alone, 32 images' worth of made-up switches, one thread."""
    rng = numpy.random.default_rng(0)
    filters, windows = 64, 25
    padded = rng.standard_normal(13 * 13 * 32).astype(numpy.float32)
    weights = rng.standard_normal(filters * 288).astype(numpy.float32)
    corners = (rng.integers(0, 10, filters * windows) * 13 * 32
               + rng.integers(0, 10, filters * windows) * 32).astype(numpy.int64)
    grads = rng.standard_normal(filters * windows).astype(numpy.float32)
    print("Part 2: the update alone, 51200 switches, one thread (medians; same results as the first?):")
    first = None
    for variant in (as_the_engine, constant_run, blocks_of_16, sums_in_scalars):
        row, grad_padded = numpy.zeros(filters * 288, numpy.float32), numpy.zeros_like(padded)

        def thirty_two_images():
            for _ in range(32):
                variant(row, grad_padded, padded, weights, corners, grads, 96, filters, windows)
        milliseconds = median_ms(thirty_two_images, calls=15)
        row[:], grad_padded[:] = 0, 0
        variant(row, grad_padded, padded, weights, corners, grads, 96, filters, windows)
        if first is None:
            first = (row.copy(), grad_padded.copy())
        same = numpy.array_equal(row, first[0]) and (variant is sums_in_scalars
                                                     or numpy.array_equal(grad_padded, first[1]))
        print(f"  {variant.__name__:16s} {milliseconds:.2f} ms   same: {same}"
              + ("   (dL/dW only)" if variant is sums_in_scalars else ""))


if __name__ == "__main__":
    threads.set_num_threads(1)
    print(machine_line())
    engine_loop()
    variants()
