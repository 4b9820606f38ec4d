"""Other ways of writing the two passes of gradients at the switches, timed alone against the
engine's (switch_gradients._switch_gradient_loops), one thread, keras-MNIST's second layer at
batch 32, calls alternating; each checked against the engine's results.

    python benchmarks/results/switch-passes-2026-12-07/variants.py

- "two passes, blocks of B": the engine's two passes with B windows (dL/dW) and B filters
  (dL/dx) at a time in place of four, B = 2, 6, 8 (made from one template, below);
- "one pass by output": dL/dW and dL/dx together in the switches' sorted order, four filters
  at a time, a float32 row of dL/dW per filter for the image.
"""

import os
import sys
import time

import numba
import numpy

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "winograd-runs-2026-12-07"))
from common import machine_line  # noqa: E402

from minicnn.engine.kernels import switch_gradients as S  # noqa: E402
from minicnn.engine.kernels.compiled import flat, ints  # noqa: E402

unsigned = numba.uint64
to_channels_last, to_planes = S._to_channels_last, S._to_planes    # the engine's layout copies


def source(B, name):
    """The source of the two passes with blocks of B windows (dL/dW) and B filters (dL/dx)."""
    gs = ", ".join(f"g{i}" for i in range(B))
    dw_g = ", ".join(f"grad_pooled[unsigned(w + {i})]" for i in range(B))
    dw_c = ", ".join(f"corners[unsigned(switches[unsigned(w + {i})])]" for i in range(B))
    cs = ", ".join(f"c{i}" for i in range(B))
    dw_expr = "row[t]"
    for i in range(B):
        dw_expr = f"({dw_expr} + g{i} * padded[unsigned(c{i} + o + j)])"
    dx_g = ", ".join(f"grad_pooled[unsigned(base + order[i + {i}])]" for i in range(B))
    rs = ", ".join(f"r{i}" for i in range(B))
    dx_r = ", ".join(f"rows[i + {i}] + along" for i in range(B))
    dx_expr = "grad_padded[t]"
    for i in range(B):
        dx_expr = f"({dx_expr} + g{i} * weight_last[unsigned(r{i} + j)])"
    return f'''


@numba.njit(nogil=True, fastmath=False)
def {name}(grad_pooled, switches, x, channels, height, width, padding_h, padding_w,
              padded_height, padded_width, windows, corners, offsets, run, weight_last,
              needs_x, needs_weight, grad_weight, grad_bias, grad_x, checks, first, last):
    runs = offsets.shape[0]
    taps = runs * run
    filters = weight_last.shape[0] // taps
    padded = numpy.zeros(padded_height * padded_width * channels, dtype=x.dtype)
    grad_padded = numpy.zeros(padded.shape[0] if needs_x else 1, dtype=x.dtype)
    row = numpy.zeros(taps, dtype=x.dtype)
    positions = corners.shape[0]
    count = numpy.zeros(positions, dtype=numpy.int64)
    begin = numpy.zeros(positions, dtype=numpy.int64)
    order = numpy.zeros(filters * windows, dtype=numpy.int64)
    rows = numpy.zeros(filters * windows, dtype=numpy.int64)
    check = 0.0
    for n in range(first, last):
        check += to_channels_last(x, n, channels, height, width, padding_h, padding_w, padded_width, padded)
        for f in range(filters):
            start = (n * filters + f) * windows
            end = start + windows
            total = 0.0
            for w in range(start, end):
                total += grad_pooled[unsigned(w)]
            grad_bias[f] += total
            if not needs_weight:
                continue
            for t in range(taps):
                row[t] = 0.0
            w = start
            while w + {B} <= end:
                {gs} = {dw_g}
                {cs} = {dw_c}
                for k in range(runs):
                    o, along = offsets[k], k * run
                    for j in range(run):
                        t = unsigned(along + j)
                        row[t] = {dw_expr}
                w += {B}
            while w < end:
                g, corner = grad_pooled[unsigned(w)], corners[unsigned(switches[unsigned(w)])]
                for k in range(runs):
                    at, along = corner + offsets[k], k * run
                    for j in range(run):
                        row[unsigned(along + j)] += g * padded[unsigned(at + j)]
                w += 1
            for t in range(taps):
                grad_weight[unsigned(f * taps + t)] += row[t]
        if needs_x:
            for i in range(grad_padded.shape[0]):
                grad_padded[i] = 0.0
            base = n * filters * windows
            for s in range(positions):
                count[s] = 0
            for e in range(filters * windows):
                count[switches[unsigned(base + e)]] += 1
            total_count = 0
            for s in range(positions):
                begin[s] = total_count
                total_count += count[s]
                count[s] = begin[s]
            for f in range(filters):
                for w in range(windows):
                    e = f * windows + w
                    s = switches[unsigned(base + e)]
                    order[count[s]] = e
                    rows[count[s]] = f * taps
                    count[s] += 1
            for s in range(positions):
                i, stop = begin[s], count[s]
                corner = corners[s]
                while i + {B} <= stop:
                    {gs} = {dx_g}
                    for k in range(runs):
                        at, along = corner + offsets[k], k * run
                        {rs} = {dx_r}
                        for j in range(run):
                            t = unsigned(at + j)
                            grad_padded[t] = {dx_expr}
                    i += {B}
                while i < stop:
                    g = grad_pooled[unsigned(base + order[i])]
                    for k in range(runs):
                        at, along = corner + offsets[k], rows[i] + k * run
                        for j in range(run):
                            grad_padded[unsigned(at + j)] += g * weight_last[unsigned(along + j)]
                    i += 1
            to_planes(grad_padded, n, channels, height, width, padding_h, padding_w, padded_width, grad_x)
    checks[0] += check
'''
def make(B):
    """The two passes with blocks of B, compiled as the engine's loops are (not cached)."""
    g = {"numba": numba, "numpy": numpy, "unsigned": unsigned, "to_channels_last": to_channels_last,
         "to_planes": to_planes}
    exec(source(B, f"loops{B}"), g)
    return g[f"loops{B}"]


@numba.njit(nogil=True, fastmath=False)
def one_pass_by_output(grad_pooled, switches, x, channels, height, width, padding_h, padding_w,
              padded_height, padded_width, windows, corners, offsets, run, weight_last,
              needs_x, needs_weight, grad_weight, grad_bias, grad_x, checks, first, last):
    runs = offsets.shape[0]
    taps = runs * run
    filters = weight_last.shape[0] // taps
    padded = numpy.zeros(padded_height * padded_width * channels, dtype=x.dtype)
    grad_padded = numpy.zeros(padded.shape[0], dtype=x.dtype)
    rowsum = numpy.zeros(filters * taps, dtype=x.dtype)
    positions = corners.shape[0]
    count = numpy.zeros(positions, dtype=numpy.int64)
    begin = numpy.zeros(positions, dtype=numpy.int64)
    order = numpy.zeros(filters * windows, dtype=numpy.int64)
    rows = numpy.zeros(filters * windows, dtype=numpy.int64)
    check = 0.0
    for n in range(first, last):
        check += to_channels_last(x, n, channels, height, width, padding_h, padding_w, padded_width, padded)
        for f in range(filters):
            start = (n * filters + f) * windows
            total = 0.0
            for w in range(start, start + windows):
                total += grad_pooled[unsigned(w)]
            grad_bias[f] += total
        for i in range(grad_padded.shape[0]):
            grad_padded[i] = 0.0
        for i in range(rowsum.shape[0]):
            rowsum[i] = 0.0
        base = n * filters * windows
        for s in range(positions):
            count[s] = 0
        for e in range(filters * windows):
            count[switches[unsigned(base + e)]] += 1
        total_count = 0
        for s in range(positions):
            begin[s] = total_count
            total_count += count[s]
            count[s] = begin[s]
        for f in range(filters):
            for w in range(windows):
                e = f * windows + w
                s = switches[unsigned(base + e)]
                order[count[s]] = e
                rows[count[s]] = f * taps
                count[s] += 1
        for s in range(positions):
            i, stop = begin[s], count[s]
            corner = corners[s]
            while i + 4 <= stop:
                g0, g1 = grad_pooled[unsigned(base + order[i])], grad_pooled[unsigned(base + order[i + 1])]
                g2, g3 = grad_pooled[unsigned(base + order[i + 2])], grad_pooled[unsigned(base + order[i + 3])]
                for k in range(runs):
                    at, along = corner + offsets[k], k * run
                    r0, r1, r2, r3 = rows[i] + along, rows[i + 1] + along, rows[i + 2] + along, rows[i + 3] + along
                    for j in range(run):
                        t = unsigned(at + j)
                        p = padded[t]
                        rowsum[unsigned(r0 + j)] += g0 * p
                        rowsum[unsigned(r1 + j)] += g1 * p
                        rowsum[unsigned(r2 + j)] += g2 * p
                        rowsum[unsigned(r3 + j)] += g3 * p
                        grad_padded[t] = (((grad_padded[t] + g0 * weight_last[unsigned(r0 + j)]) + g1 * weight_last[unsigned(r1 + j)])
                                          + g2 * weight_last[unsigned(r2 + j)]) + g3 * weight_last[unsigned(r3 + j)]
                i += 4
            while i < stop:
                g = grad_pooled[unsigned(base + order[i])]
                for k in range(runs):
                    at, along = corner + offsets[k], rows[i] + k * run
                    for j in range(run):
                        rowsum[unsigned(along + j)] += g * padded[unsigned(at + j)]
                        grad_padded[unsigned(at + j)] += g * weight_last[unsigned(along + j)]
                i += 1
        for i in range(rowsum.shape[0]):
            grad_weight[i] += rowsum[i]
        to_planes(grad_padded, n, channels, height, width, padding_h, padding_w, padded_width, grad_x)
    checks[0] += check


def main():
    print(machine_line())
    rng = numpy.random.default_rng(0)
    batch, out, pool = 32, (11, 11), ((2, 2), (2, 2), (0, 0), (1, 1), (5, 5))
    x = rng.standard_normal((batch, 32, 13, 13)).astype(numpy.float32)
    weight = (rng.standard_normal((64, 32, 3, 3)) * 0.1).astype(numpy.float32)
    _, switches, reach = S.conv2d_max_pool_forward_in_reach(x, weight, None, (1, 1), (0, 0), (1, 1), out, pool)
    grad = rng.standard_normal(switches.shape).astype(numpy.float32)
    offsets, run = S.run_offsets((3, 3), (1, 1), 13, 32)
    weight_last = numpy.ascontiguousarray(numpy.transpose(weight, (0, 2, 3, 1))).reshape(-1)
    corners = S.corner_table(tuple(reach), (1, 1), 13, 32)

    def call(loop):
        outputs = (numpy.zeros(64 * 288), numpy.zeros(64), numpy.zeros(x.size, numpy.float32), numpy.zeros(1))
        arguments = (flat(grad), flat(switches), x.reshape(-1), *ints(32, 13, 13, 0, 0, 13, 13, 25), corners,
                     offsets, run, weight_last, True, True, *outputs)
        return (lambda: loop(*arguments, 0, batch)), outputs
    loops = {"engine (blocks of 4)": S._switch_gradient_loops}
    loops.update({f"two passes, blocks of {b}": make(b) for b in (2, 6, 8)})
    loops["one pass by output"] = one_pass_by_output
    calls = {name: call(loop) for name, loop in loops.items()}
    for function, _ in calls.values():
        function()                                         # compile; each output once
    engine = calls["engine (blocks of 4)"][1]
    times = {name: [] for name in calls}
    for _ in range(40):
        for name, (function, _) in calls.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    print("Both gradients, 32 images, one thread (medians of 40 calls; largest difference from the engine's,"
          " after the first call):")
    for name, (_, outputs) in calls.items():
        differences = [float(numpy.abs(mine - theirs).max()) for mine, theirs in zip(outputs[:3], engine[:3])]
        print(f"  {name:24s} {numpy.median(times[name]) * 1e3:.2f} ms   dL/dW {differences[0]:.1e}, "
              f"dL/db {differences[1]:.1e}, dL/dx {differences[2]:.1e}")


if __name__ == "__main__":
    main()
