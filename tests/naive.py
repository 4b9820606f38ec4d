"""Naive-loop references: every op written as the plainest possible loops.

Slow and obvious on purpose; the tests compare minicnn's vectorised ops
against these on small shapes. Inputs and outputs are NumPy float64 arrays.
"""

import math

import numpy as np


def conv2d(x, w, b, stride, padding, dilation=(1, 1), groups=1):
    """Filter k belongs to group k // (F/groups) and sees that group's C/groups input
    channels; tap (u, v) of window (r, s) reads padded pixel (r*SH + u*DH, s*SW + v*DW)."""
    n, c, h, wd = x.shape
    f, group_channels, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    assert c == group_channels * groups and f % groups == 0
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n, f, oh, ow))
    for i in range(n):
        for k in range(f):
            group = k // (f // groups)
            for r in range(oh):
                for s in range(ow):
                    total = 0.0 if b is None else b[k]
                    for ch in range(group_channels):
                        for u in range(kh):
                            for v in range(kw):
                                total += (w[k, ch, u, v]
                                          * xp[i, group * group_channels + ch, r * sh + u * dh, s * sw + v * dw])
                    y[i, k, r, s] = total
    return y


def pool_output_size(n, k, s, p, ceil_mode, d=1):
    """Count window starts one by one (PyTorch's rule for the last partial window).

    A window of k taps d apart covers d*(k - 1) + 1 pixels from its start."""
    span = d * (k - 1) + 1
    count, start = 0, -p
    while start + span <= n + p:          # windows that fit in the padded input
        count, start = count + 1, start + s
    # ceil_mode keeps one partial window when the stride leaves a remainder,
    # but only if it starts inside the input or its left padding
    if ceil_mode and (n + 2 * p - span) % s != 0 and start < n:
        count += 1
    return count


def max_pool2d(x, kernel, stride, padding, ceil_mode=False, dilation=(1, 1)):
    """Returns (y, switches) with switches = row * W + col, first maximum wins.

    A window with no real pixel (possible with dilation) gives -inf, its
    switch the window's first tap moved into the image (minicnn's rule)."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    oh = pool_output_size(h, kh, sh, ph, ceil_mode, dh)
    ow = pool_output_size(w, kw, sw, pw, ceil_mode, dw)
    y = np.zeros((n, c, oh, ow))
    switches = np.zeros((n, c, oh, ow), dtype=np.int64)
    for i in range(n):
        for ch in range(c):
            for r in range(oh):
                for s in range(ow):
                    top, left = r * sh - ph, s * sw - pw
                    best, where = -np.inf, min(max(top, 0), h - 1) * w + min(max(left, 0), w - 1)
                    for u in range(kh):
                        for v in range(kw):
                            row, col = top + u * dh, left + v * dw
                            if 0 <= row < h and 0 <= col < w and x[i, ch, row, col] > best:
                                best, where = x[i, ch, row, col], row * w + col
                    y[i, ch, r, s], switches[i, ch, r, s] = best, where
    return y, switches


def max_unpool2d(y, switches, input_shape):
    out = np.zeros(input_shape)
    n, c, oh, ow = y.shape
    w = input_shape[3]
    for i in range(n):
        for ch in range(c):
            for r in range(oh):
                for s in range(ow):
                    index = switches[i, ch, r, s]
                    out[i, ch, index // w, index % w] += y[i, ch, r, s]
    return out


def avg_pool_windows(x_shape, kernel, stride, padding, ceil_mode, count_include_pad):
    """Every window of an average pool, one by one: yields (r, s, pixels, divisor).

    pixels: the (row, col) of the real pixels in window (r, s). divisor: how
    many of its KH*KW positions count, one by one: those inside the padded
    input (-P <= row < H + P), or, without count_include_pad, the real ones.
    """
    _, _, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh = pool_output_size(h, kh, sh, ph, ceil_mode)
    ow = pool_output_size(w, kw, sw, pw, ceil_mode)
    for r in range(oh):
        for s in range(ow):
            pixels, divisor = [], 0
            for u in range(kh):
                for v in range(kw):
                    row, col = r * sh - ph + u, s * sw - pw + v
                    real = 0 <= row < h and 0 <= col < w
                    in_padded = -ph <= row < h + ph and -pw <= col < w + pw
                    if real:
                        pixels.append((row, col))
                    if real or (count_include_pad and in_padded):
                        divisor += 1
            yield r, s, pixels, divisor


def avg_pool2d(x, kernel, stride, padding, ceil_mode=False, count_include_pad=True):
    n, c, h, w = x.shape
    oh = pool_output_size(h, kernel[0], stride[0], padding[0], ceil_mode)
    ow = pool_output_size(w, kernel[1], stride[1], padding[1], ceil_mode)
    y = np.zeros((n, c, oh, ow))
    for r, s, pixels, divisor in avg_pool_windows(x.shape, kernel, stride, padding, ceil_mode, count_include_pad):
        for i in range(n):
            for ch in range(c):
                y[i, ch, r, s] = sum(x[i, ch, row, col] for row, col in pixels) / divisor
    return y


def avg_pool2d_backward(grad_y, x_shape, kernel, stride, padding, ceil_mode=False, count_include_pad=True):
    """Each window sends grad / divisor to each of its real pixels."""
    grad_x = np.zeros(x_shape)
    n, c = x_shape[:2]
    for r, s, pixels, divisor in avg_pool_windows(x_shape, kernel, stride, padding, ceil_mode, count_include_pad):
        for i in range(n):
            for ch in range(c):
                for row, col in pixels:
                    grad_x[i, ch, row, col] += grad_y[i, ch, r, s] / divisor
    return grad_x


def sigmoid(x):
    """1 / (1 + e^-x), element by element with math (e^-x computed only where it is small)."""
    out = np.zeros_like(x)
    for index, value in np.ndenumerate(x):
        value = float(value)
        out[index] = 1 / (1 + math.exp(-value)) if value >= 0 else math.exp(value) / (1 + math.exp(value))
    return out


def tanh(x):
    out = np.zeros_like(x)
    for index, value in np.ndenumerate(x):
        out[index] = math.tanh(float(value))
    return out


def local_response_norm(x, size, alpha, beta, k):
    n, c, h, w = x.shape
    y = np.zeros_like(x)
    for i in range(n):
        for ch in range(c):
            for r in range(h):
                for s in range(w):
                    total = 0.0
                    for other in range(ch - size // 2, ch + (size - 1) // 2 + 1):
                        if 0 <= other < c:
                            total += x[i, other, r, s] ** 2
                    y[i, ch, r, s] = x[i, ch, r, s] / (k + alpha / size * total) ** beta
    return y


def linear(x, w, b):
    n, _ = x.shape
    out = np.zeros((n, w.shape[0]))
    for i in range(n):
        for j in range(w.shape[0]):
            out[i, j] = sum(x[i, t] * w[j, t] for t in range(w.shape[1])) + (0 if b is None else b[j])
    return out


def log_softmax(z):
    out = np.zeros_like(z)
    for i in range(z.shape[0]):
        m = max(z[i])
        total = sum(np.exp(v - m) for v in z[i])
        for j in range(z.shape[1]):
            out[i, j] = z[i, j] - m - np.log(total)
    return out


def cross_entropy(z, target):
    ls = log_softmax(z)
    return -sum(ls[i, target[i]] for i in range(z.shape[0])) / z.shape[0]
