"""GPU twins of the loops in kernels/reference.py, written as numba.cuda kernels.

Each public function here has the name, arguments and return values of its
twin in ``reference.py`` and takes CuPy arrays (or, under Numba's CUDA
simulator, NumPy arrays). It allocates the outputs with the input's array
module and launches one ``@cuda.jit`` kernel, ``_*_kernel``.

How a kernel is laid out. A GPU runs thousands of threads at once. The
kernels here are launched on a two-dimensional grid of threads: along x,
one thread per element of an image plane (a pixel, a pooled window, an
output position), along y one row of threads per plane (``plane`` is
``n * C + c``). Each thread reads its pair of indices from ``cuda.grid(2)``;
with fewer threads than elements it steps on by the grid's size
(``cuda.gridsize(2)``, a "grid-stride loop"), so any launch size is correct.
Neighbouring threads handle neighbouring elements of one plane, so their
reads and writes fall on neighbouring addresses (coalesced).

Scatters become gathers where the geometry is known: col2im lets each
pixel *collect* the column entries that land on it, instead of letting each
entry *add itself* to its pixel. No two threads write the same place, so no
atomic operations are needed, and each pixel's sum is added in the
reference's order (taps in row-major order), so col2im matches the
reference bit for bit. maxpool_scatter cannot do that: its arguments say
where each value goes, not which windows could reach a pixel, so it adds
with ``cuda.atomic.add`` into a float64 buffer (the reference also sums in
float64) and rounds once; the order of those atomic additions varies from
run to run, so overlapping windows agree with the reference to float64
rounding before the final cast (see tests/test_kernels.py).

Streams. The kernels run on CuPy's current stream
(``cuda.external_stream``), after whatever CuPy work produced the inputs and
before any CuPy work that reads the outputs, so no host synchronisation is
needed; arrays are handed over with ``cuda.as_cuda_array(..., sync=False)``
for that reason. Time them with ``cupy.cuda.Device().synchronize()``.

Testing without a GPU. With NUMBA_ENABLE_CUDASIM=1 set before numba is
imported, numba.cuda runs these same kernels on the CPU over NumPy arrays
(slowly: one Python thread per GPU thread). tests/test_kernels.py does that.

Notation as in reference.py; ``plane`` is ``n * C + c`` as the wrappers
reshape (N, C, H, W) to (N*C, H, W).
"""

from ..backend import get_array_module
from .availability import cupy, is_cupy_array, numba, numba_reason

if numba is None:
    raise ImportError(f"minicnn.engine.kernels.cuda needs numba: {numba_reason}")
import numpy  # noqa: E402

if not hasattr(numpy, "row_stack"):
    # numba-cuda 0.30 still calls numpy.row_stack, which NumPy 2.5 removed (it was
    # an alias of vstack); without this, compiling any kernel fails on such machines.
    numpy.row_stack = numpy.vstack
try:
    from numba import cuda
except Exception as error:  # an old numba, a broken install
    raise ImportError(f"minicnn.engine.kernels.cuda: numba.cuda cannot be imported ({error})") from error
if not cuda.is_available():
    raise ImportError(
        "minicnn.engine.kernels.cuda: numba.cuda finds no usable CUDA GPU and driver on this machine; "
        "to run these kernels on the CPU for testing, set NUMBA_ENABLE_CUDASIM=1 before "
        "numba is imported"
    )

# The kernels used by the dispatcher for CuPy arrays: those that beat the
# reference run on CuPy. MEASURED TWICE ON ONE MACHINE ONLY, an NVIDIA H100
# (CuPy 14.2, numba-cuda 0.30.4), by benchmarks/kernels.py at batch 128
# keras-MNIST and batch 32 ZFNet sizes on 2026-11-22 (the table is in
# benchmarks/results/kernels-cpu.md); re-measure on your GPU. What it showed:
# each launch through numba.cuda costs about 0.3-0.5 ms of Python before the
# GPU starts (typing the arguments, wrapping each CuPy array), more than
# these kernels take on the GPU at those sizes, so a twin wins only where the
# reference is slow on CuPy too: maxpool_forward 2.2-3.2x (the reference's
# argmax along a strided axis), im2col 2.3x at ZFNet size and 0.9-1.1x at
# keras size, maxpool_scatter 1.0-1.4x (0.9x once), lrn_forward 1.2x. Not
# listed: col2im (0.6-1.2x), maxpool_gather (0.75-1.1x), lrn_backward (0.9-1.0x).
FASTER_THAN_REFERENCE = ("im2col", "maxpool_forward", "maxpool_scatter", "lrn_forward")

SIMULATOR = bool(numba.config.ENABLE_CUDASIM)
# Threads per block: a multiple of the 32-thread warp. The simulator starts
# one Python thread per GPU thread, so there a small block is faster.
THREADS_PER_BLOCK = 32 if SIMULATOR else 256
MAX_BLOCKS = 65535   # per grid dimension; more work than threads is fine: grid-stride loops


def _launch(kernel, per_plane, plane_count, *arguments):
    """Run ``kernel`` on a grid of ``per_plane`` x ``plane_count`` threads (or fewer)."""
    threads = min(THREADS_PER_BLOCK, 32 * max(1, -(-per_plane // 32)))   # whole warps
    blocks = (max(1, min(MAX_BLOCKS, -(-per_plane // threads))),
              max(1, min(MAX_BLOCKS, plane_count)))
    if any(is_cupy_array(argument) for argument in arguments):
        # CuPy's current stream (pointer 0 is the legacy default stream).
        pointer = cupy.cuda.get_current_stream().ptr
        stream = cuda.external_stream(pointer) if pointer else cuda.default_stream()
        arguments = [cuda.as_cuda_array(argument, sync=False) if is_cupy_array(argument)
                     else argument for argument in arguments]
        kernel[blocks, (threads, 1), stream](*arguments)
    else:
        kernel[blocks, (threads, 1)](*arguments)


def _planes(xp, array):
    """(N, C, ...) -> (N*C, ...), C-contiguous (a view when it already was)."""
    array = xp.ascontiguousarray(array)
    return array.reshape((array.shape[0] * array.shape[1],) + array.shape[2:])


# --------------------------------------------------------------------------
# im2col and its adjoint col2im
# --------------------------------------------------------------------------

@cuda.jit
def _im2col_kernel(images, kernel_height, kernel_width, stride_y, stride_x,
                   padding_y, padding_x, pad_value, cols):
    """One thread per window (plane, oy, ox), plane = n*C + c.

    images: (N, C, H, W) -> cols: (C, KH, KW, N, OH, OW).

        cols[c, i, j, n, oy, ox] = images[n, c, oy*SH + i - PH, ox*SW + j - PW]

    or ``pad_value`` where that row or column lies in the padding.
    """
    count, channels, height, width = images.shape
    out_height, out_width = cols.shape[4], cols.shape[5]
    first_window, first_plane = cuda.grid(2)
    window_step, plane_step = cuda.gridsize(2)
    for plane in range(first_plane, count * channels, plane_step):
        n, c = plane // channels, plane % channels
        for window in range(first_window, out_height * out_width, window_step):
            oy, ox = window // out_width, window % out_width
            for i in range(kernel_height):
                row = oy * stride_y + i - padding_y
                for j in range(kernel_width):
                    column = ox * stride_x + j - padding_x
                    if 0 <= row < height and 0 <= column < width:
                        cols[c, i, j, n, oy, ox] = images[n, c, row, column]
                    else:
                        cols[c, i, j, n, oy, ox] = pad_value


def im2col(x, kernel, stride, padding, out, pad_value=0.0):
    """Unfold every window of x into a column; see reference.im2col.

    x: (N, C, H, W). Returns cols: (C, KH, KW, N, OH, OW), dtype of x.
    """
    xp = get_array_module(x)
    (kernel_height, kernel_width), (stride_y, stride_x) = kernel, stride
    (padding_y, padding_x), (out_height, out_width) = padding, out
    n, c = x.shape[:2]
    cols = xp.empty((c, kernel_height, kernel_width, n, out_height, out_width), dtype=x.dtype)
    _launch(_im2col_kernel, out_height * out_width, n * c, xp.ascontiguousarray(x),
            int(kernel_height), int(kernel_width), int(stride_y), int(stride_x),
            int(padding_y), int(padding_x), float(pad_value), cols)
    return cols


@cuda.jit
def _col2im_kernel(cols, stride_y, stride_x, padding_y, padding_x, zero, images):
    """One thread per pixel (plane, row, column) of images: (N, C, H, W),
    plane = n*C + c; cols: (C, KH, KW, N, OH, OW).

    The pixel collects cols[c, i, j, n, oy, ox] from every tap (i, j) and
    window (oy, ox) that lands on it:

        oy*SH + i - PH = row   and   ox*SW + j - PW = column

    Tap i reaches this row only when row + PH - i is a multiple of SH: the
    taps i = (row + PH) % SH and every SH-th after it, each from window row
    oy = (row + PH - i) / SH, if that lies in 0 .. OH-1 (likewise for j).
    Taps are added in row-major order starting from ``zero`` (0 in the
    arrays' dtype): the reference's order and precision, so the sums agree
    bit for bit.
    """
    count, channels, height, width = images.shape
    kernel_height, kernel_width = cols.shape[1], cols.shape[2]
    out_height, out_width = cols.shape[4], cols.shape[5]
    first_pixel, first_plane = cuda.grid(2)
    pixel_step, plane_step = cuda.gridsize(2)
    for plane in range(first_plane, count * channels, plane_step):
        n, c = plane // channels, plane % channels
        for pixel in range(first_pixel, height * width, pixel_step):
            row, column = pixel // width, pixel % width
            total = zero
            for i in range((row + padding_y) % stride_y, kernel_height, stride_y):
                oy = (row + padding_y - i) // stride_y
                if oy < 0 or oy >= out_height:
                    continue
                for j in range((column + padding_x) % stride_x, kernel_width, stride_x):
                    ox = (column + padding_x - j) // stride_x
                    if 0 <= ox < out_width:
                        total += cols[c, i, j, n, oy, ox]
            images[n, c, row, column] = total


def col2im(cols, input_shape, kernel, stride, padding):
    """Add every column entry back to its pixel; see reference.col2im.

    cols: (C, KH, KW, N, OH, OW). Returns (N, C, H, W) = input_shape, dtype of cols.
    """
    xp = get_array_module(cols)
    (stride_y, stride_x), (padding_y, padding_x) = stride, padding
    x = xp.empty(tuple(input_shape), dtype=cols.dtype)
    _launch(_col2im_kernel, x.shape[2] * x.shape[3], x.shape[0] * x.shape[1],
            xp.ascontiguousarray(cols), int(stride_y), int(stride_x),
            int(padding_y), int(padding_x), cols.dtype.type(0), x)
    return x


# --------------------------------------------------------------------------
# Max pooling: forward with switches, scatter (backward / unpooling), gather
# --------------------------------------------------------------------------

@cuda.jit
def _maxpool_forward_kernel(planes, kernel_height, kernel_width, stride_y, stride_x,
                            padding_y, padding_x, minus_infinity, maxima, switches):
    """One thread per window (plane, oy, ox).

    planes: (N*C, H, W) -> maxima, switches: (N*C, OH, OW), written in place.

    Window (oy, ox) covers rows top .. top+KH-1, top = oy*SH - PH, and
    columns left .. left+KW-1, left = ox*SW - PW. The rules are the
    reference's (see numba_cpu._maxpool_forward_loops for why skipping the
    padding gives the same answer): taps in row-major order, strictly larger
    replaces (ties go to the first maximum), the first NaN wins, and a
    window whose taps are all -inf reports tap (0, 0).
    switches = row * W + column of the winning tap.
    """
    plane_count, height, width = planes.shape
    out_height, out_width = maxima.shape[1], maxima.shape[2]
    first_window, first_plane = cuda.grid(2)
    window_step, plane_step = cuda.gridsize(2)
    for plane in range(first_plane, plane_count, plane_step):
        for window in range(first_window, out_height * out_width, window_step):
            oy, ox = window // out_width, window % out_width
            top = oy * stride_y - padding_y
            left = ox * stride_x - padding_x
            best_value = minus_infinity
            best_index = max(top, 0) * width + max(left, 0)  # tap (0, 0), clipped into the image
            for row in range(max(0, top), min(height, top + kernel_height)):
                for column in range(max(0, left), min(width, left + kernel_width)):
                    value = planes[plane, row, column]
                    if value > best_value or (value != value and best_value == best_value):
                        best_value = value
                        best_index = row * width + column
            maxima[plane, oy, ox] = best_value
            switches[plane, oy, ox] = best_index


def maxpool_forward(x, kernel, stride, padding, out):
    """Window maxima and their switches; see reference.maxpool_forward.

    x: (N, C, H, W). Returns y: (N, C, OH, OW), dtype of x, and
    switches: (N, C, OH, OW), int64 flat indices ``row * W + column``.
    """
    xp = get_array_module(x)
    (kernel_height, kernel_width), (stride_y, stride_x) = kernel, stride
    (padding_y, padding_x), (out_height, out_width) = padding, out
    n, c = x.shape[:2]
    y = xp.empty((n, c, out_height, out_width), dtype=x.dtype)
    switches = xp.empty((n, c, out_height, out_width), dtype=xp.int64)
    _launch(_maxpool_forward_kernel, out_height * out_width, n * c, _planes(xp, x),
            int(kernel_height), int(kernel_width), int(stride_y), int(stride_x),
            int(padding_y), int(padding_x), x.dtype.type(-xp.inf),
            _planes(xp, y), _planes(xp, switches))
    return y, switches


@cuda.jit
def _maxpool_scatter_kernel(values, switches, sums):
    """One thread per value (plane, k); values, switches: (N*C, OH*OW); sums: (N*C, H*W), float64.

        sums[plane, switches[plane, k]] += values[plane, k]

    with an atomic addition, since overlapping windows may share a switch.
    Switches outside 0 .. H*W-1 are skipped (maxpool_forward makes one only
    for a window that holds nothing but -inf and padding).
    """
    plane_count, pixel_count = sums.shape
    window_count = values.shape[1]
    first_window, first_plane = cuda.grid(2)
    window_step, plane_step = cuda.gridsize(2)
    for plane in range(first_plane, plane_count, plane_step):
        for k in range(first_window, window_count, window_step):
            where = switches[plane, k]
            if 0 <= where < pixel_count:
                cuda.atomic.add(sums, (plane, where), float(values[plane, k]))


def maxpool_scatter(values, switches, input_shape):
    """Put each value back at its switch position; see reference.maxpool_scatter.

    values, switches: (N, C, OH, OW). Returns (N, C, H, W) = input_shape,
    dtype of values; values sharing a switch add up (in float64, then rounded).
    """
    xp = get_array_module(values)
    n, c, height, width = input_shape
    sums = xp.zeros((n * c, height * width), dtype=xp.float64)
    _launch(_maxpool_scatter_kernel, values.size // max(1, n * c), n * c,
            _planes(xp, values).reshape(n * c, -1),
            _planes(xp, switches.astype(xp.int64, copy=False)).reshape(n * c, -1), sums)
    return sums.astype(values.dtype, copy=False).reshape(n, c, height, width)


@cuda.jit
def _maxpool_gather_kernel(planes, switches, out):
    """One thread per entry (plane, k) of out: (N*C, OH*OW); planes: (N*C, H*W).

        out[plane, k] = planes[plane, switches[plane, k]]

    (0 where a switch lies outside 0 .. H*W-1, which maxpool_forward makes
    only for a window that holds nothing but -inf and padding).
    """
    plane_count, pixel_count = planes.shape
    window_count = out.shape[1]
    first_window, first_plane = cuda.grid(2)
    window_step, plane_step = cuda.gridsize(2)
    for plane in range(first_plane, plane_count, plane_step):
        for k in range(first_window, window_count, window_step):
            where = switches[plane, k]
            if 0 <= where < pixel_count:
                out[plane, k] = planes[plane, where]
            else:
                out[plane, k] = 0


def maxpool_gather(x, switches):
    """Read x at the switch positions; see reference.maxpool_gather.

    x: (N, C, H, W); switches: (N, C, OH, OW). Returns (N, C, OH, OW), dtype of x.
    """
    xp = get_array_module(x)
    n, c, height, width = x.shape
    out = xp.empty(switches.shape, dtype=x.dtype)
    _launch(_maxpool_gather_kernel, out.size // max(1, n * c), n * c,
            _planes(xp, x).reshape(n * c, height * width),
            _planes(xp, switches.astype(xp.int64, copy=False)).reshape(n * c, -1),
            out.reshape(n * c, -1))
    return out


# --------------------------------------------------------------------------
# Local response normalization (AlexNet 3.3): forward and backward
# --------------------------------------------------------------------------

@cuda.jit
def _lrn_forward_kernel(x, size, alpha_over_size, minus_beta, k, zero, y, scale):
    """One thread per element (n, c, p) of x: (N, C, H*W); y, scale written.

        scale[n, c] = k + alpha/size * sum_{c' = c - size//2}^{c + (size-1)//2} x[n, c']^2
        y[n, c]     = x[n, c] * scale[n, c] ** -beta

    The sum runs over the channels inside 0..C-1 in increasing order, from
    ``zero``, in the arrays' dtype: the reference's arithmetic, except that
    ``**`` is the GPU's pow, which may differ from NumPy's in the last bit.
    """
    batch, channels, pixel_count = x.shape
    before, after = size // 2, (size - 1) // 2
    first_pixel, first_plane = cuda.grid(2)
    pixel_step, plane_step = cuda.gridsize(2)
    for plane in range(first_plane, batch * channels, plane_step):
        n, c = plane // channels, plane % channels
        for p in range(first_pixel, pixel_count, pixel_step):
            total = zero
            for neighbour in range(max(0, c - before), min(channels, c + after + 1)):
                total += x[n, neighbour, p] * x[n, neighbour, p]
            total = k + alpha_over_size * total
            scale[n, c, p] = total
            y[n, c, p] = x[n, c, p] * total ** minus_beta


def lrn_forward(x, size, alpha, beta, k):
    """Local response normalization across channels; see reference.lrn_forward.

    x: (N, C, H, W). Returns (y, scale), both (N, C, H, W), dtype of x.
    """
    xp = get_array_module(x)
    x = xp.ascontiguousarray(x)
    n, c, height, width = x.shape
    as_dtype = x.dtype.type
    y = xp.empty_like(x)
    scale = xp.empty_like(x)
    flat = (n, c, height * width)
    _launch(_lrn_forward_kernel, height * width, n * c, x.reshape(flat), int(size),
            as_dtype(alpha / size), as_dtype(-beta), as_dtype(k), as_dtype(0),
            y.reshape(flat), scale.reshape(flat))
    return y, scale


@cuda.jit
def _lrn_backward_kernel(grad_y, x, y, scale, size, coefficient, minus_beta, zero, grad_x):
    """One thread per element (n, c, p); all arrays (N, C, H*W); grad_x written.

        mirrored[c] = sum_{c' = c - (size-1)//2}^{c + size//2} grad_y[c'] * y[c'] / scale[c']
        grad_x[c]   = grad_y[c] * scale[c] ** -beta - (2 alpha beta / size) * x[c] * mirrored[c]

    coefficient = 2 alpha beta / size, in the arrays' dtype.
    """
    batch, channels, pixel_count = x.shape
    before, after = (size - 1) // 2, size // 2
    first_pixel, first_plane = cuda.grid(2)
    pixel_step, plane_step = cuda.gridsize(2)
    for plane in range(first_plane, batch * channels, plane_step):
        n, c = plane // channels, plane % channels
        for p in range(first_pixel, pixel_count, pixel_step):
            mirrored = zero
            for neighbour in range(max(0, c - before), min(channels, c + after + 1)):
                mirrored += grad_y[n, neighbour, p] * y[n, neighbour, p] / scale[n, neighbour, p]
            grad_x[n, c, p] = (grad_y[n, c, p] * scale[n, c, p] ** minus_beta
                               - coefficient * x[n, c, p] * mirrored)


def lrn_backward(grad_y, x, y, scale, size, alpha, beta):
    """Gradient of LRN with respect to x; see reference.lrn_backward.

    All arrays (N, C, H, W). Returns grad_x: (N, C, H, W), dtype of grad_y.
    """
    xp = get_array_module(grad_y)
    grad_y, x, y, scale = (xp.ascontiguousarray(a) for a in (grad_y, x, y, scale))
    n, c, height, width = x.shape
    as_dtype = grad_y.dtype.type
    grad_x = xp.empty_like(grad_y)
    flat = (n, c, height * width)
    _launch(_lrn_backward_kernel, height * width, n * c, grad_y.reshape(flat), x.reshape(flat),
            y.reshape(flat), scale.reshape(flat), int(size), as_dtype(2.0 * alpha * beta / size),
            as_dtype(-beta), as_dtype(0), grad_x.reshape(flat))
    return grad_x
