"""Tried and not kept (2026-12-07): 3x3 max pooling with stride 2 from the plane's four phases.

minicnn's _maxpool_3x3_stride2_loops (kernels/pooling.py) copies a plane's even rows and odd
rows apart, then reads each window's nine taps at 2q, 2q+1, 2q+2: loads two apart, which the
compiler vectorises poorly. Here the plane is split four ways (even or odd row, even or odd
column), so that every tap is a load one apart along q = oy*pitch + ox, and the winning tap is
kept as its offset from the window's first pixel (i*W + j), so that the switches need no
division. The same maxima and switches bit for bit (pool_ab.py checks it), but not clearly
faster in a training step (pool-ab.txt).
"""

import numpy
import numba

from minicnn.engine.kernels.compiled import unsigned


@numba.njit(nogil=True)
def _pick(value, tap, best_value, best_tap):
    take = (value > best_value) | ((value != value) & (best_value == best_value))
    return (value if take else best_value), (tap if take else best_tap)


@numba.njit(nogil=True, fastmath=False)
def maxpool_3x3_stride2_from_phases(images, height, width, padding_y, padding_x, out_height, out_width, maxima, switches, first, last):
    pitch = out_width + 1
    size = (out_height + 1) * pitch
    ph = numpy.full(4 * size, -numpy.inf, dtype=images.dtype)   # even rows: ee, eo; odd rows: oe, oo
    count = (out_height - 1) * pitch + out_width
    best = numpy.empty(count, dtype=images.dtype)
    offs = numpy.empty(count, dtype=numpy.int32)
    w = numpy.int32(width)
    # column parities: x + padding_x even -> even array at (x + padding_x) // 2
    first_even = padding_x % 2                          # first x whose padded column is even
    first_odd = 1 - first_even
    for plane in range(first, last):
        image = plane * height * width
        for y in range(height):
            row = y + padding_y
            target = (row % 2) * 2 * size + (row // 2) * pitch
            source = image + y * width
            start = (first_even + padding_x) // 2
            for k in range((width - first_even + 1) // 2):
                ph[unsigned(target + start + k)] = images[unsigned(source + first_even + 2 * k)]
            start = (first_odd + padding_x) // 2
            for k in range((width - first_odd + 1) // 2):
                ph[unsigned(target + size + start + k)] = images[unsigned(source + first_odd + 2 * k)]
        for q in range(count):
            value, tap = ph[unsigned(q)], numpy.int32(0)
            value, tap = _pick(ph[unsigned(size + q)], numpy.int32(1), value, tap)
            value, tap = _pick(ph[unsigned(q + 1)], numpy.int32(2), value, tap)
            value, tap = _pick(ph[unsigned(2 * size + q)], w, value, tap)
            value, tap = _pick(ph[unsigned(3 * size + q)], w + 1, value, tap)
            value, tap = _pick(ph[unsigned(2 * size + q + 1)], w + 2, value, tap)
            value, tap = _pick(ph[unsigned(q + pitch)], 2 * w, value, tap)
            value, tap = _pick(ph[unsigned(size + q + pitch)], 2 * w + 1, value, tap)
            value, tap = _pick(ph[unsigned(q + pitch + 1)], 2 * w + 2, value, tap)
            best[q], offs[q] = value, tap
        out = plane * out_height * out_width
        for oy in range(out_height):
            base = (2 * oy - padding_y) * width - padding_x
            at = out + oy * out_width
            for ox in range(out_width):
                maxima[unsigned(at + ox)] = best[oy * pitch + ox]
                switches[unsigned(at + ox)] = base + 2 * ox + offs[oy * pitch + ox]
        # windows whose first tap is padding: if that tap won (all -inf), its place clipped into the image
        if padding_y > 0 or padding_x > 0:
            for oy in range(out_height):
                for ox in range(out_width):
                    if 2 * oy < padding_y or 2 * ox < padding_x:
                        if offs[oy * pitch + ox] == 0:
                            y = min(max(2 * oy - padding_y, 0), height - 1)
                            x = min(max(2 * ox - padding_x, 0), width - 1)
                            switches[unsigned(out + oy * out_width + ox)] = y * width + x
                    else:
                        break
