"""Plain-array reference versions of the hot loops, on NumPy or CuPy.

Read this file to see the index arithmetic. Every compiled kernel
(kernels/numba_cpu.py, kernels/cuda.py) must give the same numbers as the
function of the same name here; tests/test_kernels.py checks that.

Notation, used in every docstring below:
    x:      (N, C, H, W)      a batch of N images with C channels
    KH, KW  window (kernel) height and width
    SH, SW  strides;  PH, PW  zero-padding on each side
    OH, OW  output size: OH = (H - KH + 2*PH) // SH + 1 (see minicnn/engine/shapes.py)
"""

from ..backend import get_array_module


def _pad_for_windows(x, kernel, stride, padding, out, value):
    """Pad x so that ``out`` windows fit along H and W.

    Pads ``padding`` on the top/left and enough on the bottom/right for the
    last window (one more than ``padding`` when ceil_mode keeps a partial
    window). Returns the padded array, (N, C, Hp, Wp).
    """
    xp = get_array_module(x)
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = kernel, stride, padding, out
    n, c, h, w = x.shape
    bottom = max(ph, sh * (oh - 1) + kh - h - ph)
    right = max(pw, sw * (ow - 1) + kw - w - pw)
    return xp.pad(x, ((0, 0), (0, 0), (ph, bottom), (pw, right)), constant_values=value)


def im2col(x, kernel, stride, padding, out, pad_value=0.0):
    """Unfold every window of ``x`` into a column.

    x: (N, C, H, W); kernel=(KH, KW), stride=(SH, SW), padding=(PH, PW),
    out=(OH, OW). Returns cols: (C, KH, KW, N, OH, OW) with

        cols[c, i, j, n, oy, ox] = x_padded[n, c, oy*SH + i, ox*SW + j]

    The loop runs over the KH*KW filter taps, not over the OH*OW output
    pixels: each tap (i, j) is one strided slice of the padded input
    (Chainer's im2col). The layout puts the batch next to the window
    positions so that ``cols.reshape(C*KH*KW, N*OH*OW)`` is one matrix
    without copying: convolution of the whole batch is then one matrix
    product with the filters reshaped to (F, C*KH*KW).
    """
    xp = get_array_module(x)
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out
    padded = _pad_for_windows(x, kernel, stride, padding, out, pad_value)
    n, c = x.shape[:2]
    cols = xp.empty((c, kh, kw, n, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            # (N, C, OH, OW) slice of the padded input, stored as (C, N, OH, OW)
            cols[:, i, j] = padded[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw].transpose(1, 0, 2, 3)
    return cols


def col2im(cols, input_shape, kernel, stride, padding):
    """The adjoint of im2col: add every column entry back to its pixel.

    cols: (C, KH, KW, N, OH, OW); input_shape = (N, C, H, W).
    Returns (N, C, H, W) with

        x[n, c, y, x] = sum of cols[c, i, j, n, oy, ox]
                        over all (i, j, oy, ox) with oy*SH + i - PH = y
                                                 and ox*SW + j - PW = x

    Overlapping windows add up; entries that fell on the padding are dropped.
    This is the backward pass of im2col (and of the convolution's input).
    """
    xp = get_array_module(cols)
    n, c, h, w = input_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh, ow = cols.shape[4:]
    bottom = max(ph, sh * (oh - 1) + kh - h - ph)
    right = max(pw, sw * (ow - 1) + kw - w - pw)
    padded = xp.zeros((n, c, h + ph + bottom, w + pw + right), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            padded[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += cols[:, i, j].transpose(1, 0, 2, 3)
    return padded[:, :, ph:ph + h, pw:pw + w]


def batch_major(y, batch, bias=None):
    """A convolution's (F, N*OH*OW) product -> (N, F, OH*OW), plus the bias.

    y: (F, N*S) with S = OH*OW, one row per filter; bias: (F,) or None.
    Returns out: (N, F, S), C-contiguous, with

        out[n, f, s] = y[f, n*S + s] + bias[f]
    """
    xp = get_array_module(y)
    filters = y.shape[0]
    if bias is not None:
        y = y + bias.reshape(filters, 1)
    return xp.ascontiguousarray(y.reshape(filters, batch, -1).transpose(1, 0, 2))


def filter_major(grad):
    """(N, F, OH, OW) -> (F, N*OH*OW), C-contiguous: one row per filter.

        out[f, n*S + s] = grad[n, f, s]   with S = OH*OW

    The layout the convolution's matrix products want (see functional/conv.py).
    """
    n, filters = grad.shape[:2]
    return grad.transpose(1, 0, 2, 3).reshape(filters, -1)


def filter_major_with_sums(grad):
    """filter_major(grad), and its row sums: the gradient of a convolution's bias.

    grad: (N, F, OH, OW). Returns ((F, N*OH*OW), sums (F,) in grad's dtype),
    the sums added in float64 (86,528 terms per filter in keras conv 1),
    first over the images in order, then over the pixels:

        per_pixel[f, s] = grad[0, f, s] + grad[1, f, s] + ... + grad[N-1, f, s]
        sums[f]         = sum over s of per_pixel[f, s]        (NumPy's sum)
    """
    xp = get_array_module(grad)
    n, filters = grad.shape[:2]
    per_pixel = grad.reshape(n, filters, -1).sum(axis=0, dtype=xp.float64)
    return filter_major(grad), per_pixel.sum(axis=1).astype(grad.dtype)


def maxpool_forward(x, kernel, stride, padding, out):
    """Max over each window, and where it was (the "switches").

    x: (N, C, H, W). Returns
        y:        (N, C, OH, OW)  the window maxima
        switches: (N, C, OH, OW)  int64, flat index ``row * W + col`` into the
                  H*W plane of ``x`` where each maximum sits (ZFNet 2.1).
    Padding counts as -inf, so it never wins over a real value. Ties go to the first maximum
    in row-major window order (``argmax`` returns the first).
    """
    xp = get_array_module(x)
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = kernel, stride, padding, out
    n, c, h, w = x.shape
    cols = im2col(x, kernel, stride, padding, out, pad_value=-xp.inf)
    cols = cols.reshape(c, kh * kw, n, oh, ow).transpose(2, 0, 1, 3, 4)   # (N, C, KH*KW, OH, OW)
    tap = cols.argmax(axis=2)                                   # 0 .. KH*KW-1
    y = xp.take_along_axis(cols, tap[:, :, None], axis=2)[:, :, 0]
    # window (oy, ox) starts at row oy*SH - PH, column ox*SW - PW of x. Padding
    # wins only when every tap is -inf (then argmax picks tap 0): clipping moves
    # that switch onto the window's first real pixel, so it never leaves the image.
    rows = xp.clip(xp.arange(oh).reshape(oh, 1) * sh - ph + tap // kw, 0, h - 1)
    columns = xp.clip(xp.arange(ow).reshape(1, ow) * sw - pw + tap % kw, 0, w - 1)
    switches = (rows * w + columns).astype(xp.int64)
    return y, switches


def maxpool_scatter(values, switches, input_shape):
    """Put each value back at its switch position; values sharing one add up.

    values, switches: (N, C, OH, OW); input_shape = (N, C, H, W).
    Returns (N, C, H, W), zero except at switch positions. This is both the
    backward pass of max pooling (the gradient flows only to the maximum)
    and ZFNet's unpooling. Where overlapping windows picked the same pixel,
    their values add: unpooling is the adjoint of pooling.
    """
    xp = get_array_module(values)
    n, c, h, w = input_shape
    plane = xp.arange(n * c, dtype=xp.int64).reshape(n, c, 1, 1) * (h * w)
    flat = (switches + plane).ravel()
    summed = xp.bincount(flat, weights=values.ravel(), minlength=n * c * h * w)
    return summed.astype(values.dtype).reshape(n, c, h, w)


def maxpool_gather(x, switches):
    """Read ``x`` at the switch positions: the adjoint of maxpool_scatter.

    x: (N, C, H, W); switches: (N, C, OH, OW). Returns (N, C, OH, OW) with
    out[n, c, oy, ox] = x[n, c].flat[switches[n, c, oy, ox]].
    """
    xp = get_array_module(x)
    n, c, h, w = x.shape
    flat = x.reshape(n, c, h * w)
    return xp.take_along_axis(flat, switches.reshape(n, c, -1), axis=2).reshape(switches.shape)


def relu_forward(x):
    """max(0, x) and where x was positive.

    x: any shape. Returns (y, positive): y = max(0, x) (NaN stays NaN,
    -inf gives 0, as in PyTorch), and positive = x > 0, a boolean array
    kept for the backward pass.
    """
    xp = get_array_module(x)
    return xp.maximum(x, x.dtype.type(0)), x > 0


def relu_backward(grad_y, positive):
    """dL/dx of ReLU: the gradient passes where x > 0 and is zeroed elsewhere.

    grad_y, positive: the same shape. Returns grad_y * positive (so ReLU'(0) = 0).
    """
    return grad_y * positive


def _channel_window_sum(a, before, after):
    """s[:, c] = a[:, c - before] + ... + a[:, c + after], zero outside 0..C-1."""
    xp = get_array_module(a)
    channels = a.shape[1]
    padded = xp.pad(a, ((0, 0), (before, after), (0, 0), (0, 0)))
    total = xp.zeros_like(a)
    for offset in range(before + after + 1):
        total += padded[:, offset:offset + channels]
    return total


def lrn_forward(x, size, alpha, beta, k):
    """Local response normalization across channels (AlexNet 3.3).

    x: (N, C, H, W). Returns (y, scale), both (N, C, H, W):

        scale[c] = k + alpha/size * sum_{c' = c - size//2}^{c + (size-1)//2} x[c']^2
        y[c]     = x[c] / scale[c]^beta

    Channels outside 0..C-1 count as zero (the PyTorch/Caffe convention).
    ``scale`` is kept for the backward pass.
    """
    scale = k + (alpha / size) * _channel_window_sum(x * x, size // 2, (size - 1) // 2)
    return x * scale ** -beta, scale


def lrn_backward(grad_y, x, y, scale, size, alpha, beta):
    """Gradient of LRN with respect to x.

    All arrays (N, C, H, W). Differentiating y[c'] = x[c'] scale[c']^-beta:

        dL/dx[c] = grad_y[c] * scale[c]^-beta
                   - 2 alpha beta / size * x[c]
                     * sum over c' whose window holds c of grad_y[c'] y[c'] / scale[c']

    Channel c is in the window of c' when c' - size//2 <= c <= c' + (size-1)//2,
    that is c' runs from c - (size-1)//2 to c + size//2: the window mirrored.
    """
    ratio = grad_y * y / scale
    mirrored = _channel_window_sum(ratio, (size - 1) // 2, size // 2)
    return grad_y * scale ** -beta - (2.0 * alpha * beta / size) * x * mirrored
