"""Routes: the faster ways of computing a whole op, and the one table that chooses them.

An op's Function in minicnn/engine/functional/ is its reference, the plain
formula a learner reads (conv2d: im2col, one matrix product, col2im). A
*route* computes the same op another way, faster on some backend and at
some sizes, and gives the reference's numbers (the same sums, possibly
added in another order: tests/test_routes.py checks values and gradients
against the reference, for every dtype the route takes).

    op                     reference (what you read)            routes (tried in this order)
    conv2d                 im2col      functional/conv.py       winograd F(4x4,3x3),
                                                                winograd F(2x2,3x3), chunks
    conv2d_input_gradient  col2im(W^T @ g) functional/conv.py   chunks
    conv2d+max_pool2d      conv2d, then max_pool2d              direct, pooled in cache;
                           (then relu, with relu=True)          chunks, pooled in cache;
                           (functional/conv_pool.py)            im2col pooled, gradients at
                                                                switches;
                                                                im2col, pooled from the product
    local_response_norm    x * scale ** -beta                   square roots (beta 3/4)
                           functional/normalization.py

A conv2d+max_pool2d call with relu=True (nn.Sequential's Conv2d, ReLU,
MaxPool2d) takes the same routes; each puts a chunk's maxima through the
ReLU as soon as it has pooled them (ConvCall.relu; kernels/pooling.py,
chunk_pooler), and its Function is named "conv2d+max_pool2d+relu by ...".

``ROUTES`` below is the only place that decides: each op asks ``choose``,
which returns the first route whose ``when`` holds for the call (a ConvCall
or an LRNCall: the shapes, dtype, device and settings), or None
for the reference. ``set_routes("reference")`` (or ``with
using_routes("reference"):``) switches every route off, and nn.Sequential's
fusion with it: everything then runs as written. ``describe`` says which
route an op would take, without running it; ``model.summary()`` and
``minicnn summary`` show it per layer.

Routes are one level above the kernels (KERNELS in kernels/__init__.py,
which pick a compiled twin of one hot loop); a route calls whole functions
of the kernels/ file its ``code`` names (winograd.py, convolution.py,
direct_pool.py, pooled_product.py, switch_gradients.py, lrn_square_roots.py), which call
kernels. Why each route is faster, and when it is not: the docstrings of
those files; the measurements: benchmarks/README.md and benchmarks/results/.
"""

import contextlib
from dataclasses import dataclass

import numpy

from .. import buffers, threads
from ..backend import get_backend, is_cupy_array
from . import (convolution, direct_pool, lrn_square_roots, pooled_product, relu, switch_gradients,
               winograd, winograd_4x4)

MODES = ("fast", "reference")
_mode = {"name": "fast"}


def set_routes(mode):
    """"fast": ops take their routes where ``ROUTES`` says (the default); "reference":
    every op runs its reference Function and nn.Sequential runs its layers as written."""
    if mode not in MODES:
        raise ValueError(f"set_routes: unknown mode {mode!r}; choose 'fast' (routes where "
                         f"they pay, the default) or 'reference' (every op as written)")
    _mode["name"] = mode


def get_routes():
    """The current mode: "fast" or "reference"."""
    return _mode["name"]


@contextlib.contextmanager
def using_routes(mode):
    """``with using_routes("reference"): ...`` runs a block with every route off (or on)."""
    previous = get_routes()
    set_routes(mode)
    try:
        yield
    finally:
        _mode["name"] = previous


# ----- what a route is asked about ----------------------------------------------------------

@dataclass(frozen=True)
class ConvCall:
    """One convolution call, as the routes see it: shapes, dtype, device and settings.

    input_shape: (N, C, H, W); weight_shape: (F, C/G, KH, KW); stride, padding,
    dilation: (h, w) pairs; out: (OH, OW); pool: the max-pool after it for
    conv2d+max_pool2d, (kernel, stride, padding, dilation, pooled size), else None;
    relu: whether a ReLU follows that pool, folded into the op
    (relu(max_pool2d(conv2d(x))): the conv+pool routes put each chunk's maxima
    through it while they are in the cache).
    """

    input_shape: tuple
    weight_shape: tuple
    dtype: object
    on_gpu: bool
    backend: str
    stride: tuple
    padding: tuple
    dilation: tuple
    groups: int
    out: tuple
    pool: tuple = None
    relu: bool = False

    @classmethod
    def of(cls, x, weight_shape, stride, padding, dilation, groups, out, pool=None, backend=None,
           input_shape=None, relu=False):
        """The call for an input array x on ``backend`` (default: the active one).
        x may be any array of the call's dtype and device, with input_shape then given
        (conv2d_input_gradient passes its g)."""
        shape = tuple(x.shape) if input_shape is None else tuple(input_shape)
        return cls(shape, tuple(weight_shape), x.dtype, is_cupy_array(x),
                   backend or get_backend(), tuple(stride), tuple(padding), tuple(dilation),
                   groups, tuple(out), pool, relu)

    @property
    def rows(self):
        """K = C/G * KH * KW: the rows of one group's im2col matrix."""
        return self.weight_shape[1] * self.weight_shape[2] * self.weight_shape[3]

    @property
    def on_numba(self):
        """NumPy arrays, with images in them, on the numba backend."""
        return (self.backend == "numba" and not self.on_gpu and self.input_shape[0] > 0
                and all(size > 0 for size in self.input_shape[1:]))


@dataclass(frozen=True)
class LRNCall:
    """One local_response_norm call: input (N, C, H, W), dtype, device, backend, settings."""

    input_shape: tuple
    dtype: object
    on_gpu: bool
    backend: str
    size: int
    alpha: float
    beta: float
    k: float

    @classmethod
    def of(cls, x, size, alpha, beta, k, backend=None):
        return cls(tuple(x.shape), x.dtype, is_cupy_array(x), backend or get_backend(), size, alpha,
                   beta, k)

    on_numba = ConvCall.on_numba


# ----- when each route runs ------------------------------------------------------------------

def in_chunks(call):
    """A few images at a time on each thread (kernels/convolution.py): the numba backend,
    one group, fewer than CHUNKS_BELOW_ROWS rows C*KH*KW (first layers, whose thin
    products leave the time to moving the matrices), and minicnn able to give each of
    its threads a BLAS thread of its own."""
    return (call.on_numba and call.groups == 1 and call.rows < convolution.CHUNKS_BELOW_ROWS
            and threads.blas_control())


def by_winograd(call):
    """Winograd's F(2x2, 3x3) (kernels/winograd.py): the numba backend; float32 or float64;
    a 3x3 filter, stride 1, dilation 1, one group, any padding; not a first layer (at least
    CHUNKS_BELOW_ROWS rows, else chunks); where the multiply-adds saved outweigh the data
    the transforms move (winograd.pays); and minicnn able to split BLAS on its threads."""
    return (call.on_numba and call.groups == 1 and call.weight_shape[2:] == (3, 3)
            and call.stride == (1, 1) and call.dilation == (1, 1)
            and call.dtype.kind == "f" and call.dtype.itemsize >= 4
            and call.rows >= convolution.CHUNKS_BELOW_ROWS
            and winograd.pays(call.input_shape, call.weight_shape[0], call.padding)
            and threads.blas_control())


def by_winograd_4x4(call):
    """Winograd's F(4x4, 3x3) (kernels/winograd_4x4.py): where F(2x2, 3x3) would run
    (by_winograd) and the batch has at least winograd_4x4.IMAGES_FROM images, the length
    of the vectors its transforms compute with."""
    return by_winograd(call) and call.input_shape[0] >= winograd_4x4.IMAGES_FROM


def directly(call):
    """A first layer's convolution summed directly, then max pooled, its gradients read at the
    switches (kernels/direct_pool.py): the numba backend, one group, at most MOST_TAPS rows
    C*KH*KW (where im2col copies each pixel K times to feed sums of K terms), stride 1 (the
    contiguous runs its loops sum over), float32 or float64. It calls no BLAS."""
    return (call.on_numba and call.groups == 1 and call.rows <= direct_pool.MOST_TAPS
            and call.stride == (1, 1) and call.dtype.kind == "f" and call.dtype.itemsize >= 4)


def pooled_from_the_product(call):
    """A convolution followed by max pooling whose convolution runs by the formulas
    (kernels/pooled_product.py): the numba backend, one group, at least
    CHUNKS_BELOW_ROWS rows (fewer: the chunks route), not where Winograd pays (that
    route's convolution, then the pool), float32 or float64, and minicnn able to split
    BLAS on its threads (its dL/dx is the chunks route's)."""
    return (call.on_numba and call.groups == 1 and call.rows >= convolution.CHUNKS_BELOW_ROWS
            and call.dtype.kind == "f" and call.dtype.itemsize >= 4 and not by_winograd(call)
            and threads.blas_control())


def at_the_switches(call):
    """pooled_from_the_product's forward pass, and gradients read at the pool's switches,
    channels last (kernels/switch_gradients.py): where that route runs and the pool leaves
    few switches (a pool of stride 2 or more) over runs of channels long enough for vector
    instructions (switch_gradients.pays)."""
    return (pooled_from_the_product(call)
            and switch_gradients.pays(call.weight_shape[1], call.weight_shape[3], call.dilation[1],
                                      call.out, call.pool[4]))


def input_gradient_in_chunks(call):
    """dL/dx = col2im(W^T @ g) a few images at a time on each thread: the numba backend,
    one group, and minicnn able to split BLAS on its threads (every layer size: the
    (K, N*OH*OW) matrix W^T @ g never has to exist whole)."""
    return call.on_numba and call.groups == 1 and threads.blas_control()


def by_square_roots(call):
    """beta = 3/4 (AlexNet's and ZFNet's) as two square roots (kernels/lrn_square_roots.py):
    the numba backend, float32 or float64."""
    return (call.on_numba and call.beta == lrn_square_roots.BETA and call.dtype.kind == "f"
            and call.dtype.itemsize >= 4)


# ----- what each route computes: forward(call, x, weight, bias) -> (y, saved) and
# ----- backward(call, saved, grad_y, needs) -> (dL/dx, dL/dW, dL/db), needs = 3 booleans

def _winograd_forward(call, x, weight, bias):
    return winograd.winograd_forward_numba(x, weight, bias, call.padding, call.out)


def _winograd_backward(call, saved, grad_y, needs):
    return winograd.winograd_backward_numba(grad_y, saved, call.input_shape, call.padding, *needs)


def _winograd_4x4_forward(call, x, weight, bias):
    return winograd_4x4.winograd_4x4_forward_numba(x, weight, bias, call.padding, call.out)


def _winograd_4x4_backward(call, saved, grad_y, needs):
    return winograd_4x4.winograd_4x4_backward_numba(grad_y, saved, call.input_shape, call.padding,
                                                    *needs)


def _chunks_forward(call, x, weight, bias):
    y = convolution.conv2d_forward_numba(x, weight, bias, call.stride, call.padding, call.dilation,
                                         call.out)
    return y, (x, weight)


def _chunks_backward(call, saved, grad_y, needs):
    x, weight = saved
    return convolution.conv2d_backward_numba(grad_y, x, weight, call.stride, call.padding,
                                             call.dilation, *needs)


def _input_gradient_chunks(call, g, weight):
    return convolution.input_gradient_numba(g, weight, call.input_shape, call.stride, call.padding,
                                            call.dilation, call.out)


def _relu_mask(call):
    """Where a ReLU follows the pool (call.relu), an empty bool array of the pooled
    output's shape (N, F, PH, PW) for the conv+pool routes to write relu's mask into;
    else None."""
    if not call.relu:
        return None
    shape = (call.input_shape[0], call.weight_shape[0]) + tuple(call.pool[4])
    return buffers.empty(shape, numpy.bool_)


def _through_relu(grad_output, positive):
    """dL/d(pooled) from dL/d(relu(pooled)) by relu's backward loop (positive: the mask
    the forward pass wrote), or grad_output itself where no ReLU followed the pool."""
    return grad_output if positive is None else relu.relu_backward_numba(grad_output, positive)


def _conv_pool_forward(call, x, weight, bias):
    positive = _relu_mask(call)
    pooled, switches = convolution.conv2d_max_pool_forward_numba(
        x, weight, bias, call.stride, call.padding, call.dilation, call.out, call.pool, positive)
    return pooled, (switches, x, weight, positive)


def _conv_pool_backward(call, saved, grad_output, needs):
    switches, x, weight, positive = saved
    return convolution.conv2d_max_pool_backward_numba(
        _through_relu(grad_output, positive), switches, x, weight, call.stride, call.padding,
        call.dilation, call.out, *needs)


def _direct_pool_forward(call, x, weight, bias):
    positive = _relu_mask(call)
    pooled, switches, finite = direct_pool.conv2d_max_pool_forward_direct(
        x, weight, bias, call.padding, call.dilation, call.out, call.pool, positive)
    return pooled, (switches, finite, x, weight, positive)


def _direct_pool_backward(call, saved, grad_output, needs):
    switches, finite, x, weight, positive = saved
    return direct_pool.conv2d_max_pool_backward_direct(
        _through_relu(grad_output, positive), switches, finite, x, weight, call.padding,
        call.dilation, call.out, *needs)


def _lrn_forward(call, x):
    y, scale, power = lrn_square_roots.lrn_forward_square_roots_numba(x, call.size, call.alpha,
                                                                      call.k)
    return y, (x, y, scale, power)


def _lrn_backward(call, saved, grad_y, needs):
    x, y, scale, power = saved
    return (lrn_square_roots.lrn_backward_square_roots_numba(grad_y, x, y, scale, power, call.size,
                                                            call.alpha),)


def _pooled_product_forward(call, x, weight, bias):
    positive = _relu_mask(call)
    pooled, switches, cols = pooled_product.conv2d_max_pool_forward_rows(
        x, weight, bias, call.stride, call.padding, call.dilation, call.out, call.pool, positive)
    return pooled, (switches, cols, weight, positive)


def _pooled_product_backward(call, saved, grad_output, needs):
    switches, cols, weight, positive = saved
    return pooled_product.conv2d_max_pool_backward_rows(
        _through_relu(grad_output, positive), switches, cols, weight, call.input_shape, call.stride,
        call.padding, call.dilation, call.out, *needs)


def _switches_forward(call, x, weight, bias):
    positive = _relu_mask(call)
    pooled, switches, reach = switch_gradients.conv2d_max_pool_forward_in_reach(
        x, weight, bias, call.stride, call.padding, call.dilation, call.out, call.pool, positive)
    return pooled, (switches, reach, x, weight, positive)


def _switches_backward(call, saved, grad_output, needs):
    switches, reach, x, weight, positive = saved
    return switch_gradients.conv2d_max_pool_backward_at_switches(
        _through_relu(grad_output, positive), switches, x, weight, call.stride, call.padding,
        call.dilation, call.out, reach, *needs)


# ----- the table -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    """A faster way of computing a whole op, equal to its reference.

    op:       the op it computes ("conv2d", ...), a key of ROUTES
    name:     how summaries and profiles name it ("winograd F(2x2,3x3)")
    equals:   the reference it gives the numbers of, and where to read it
    code:     where its loops are
    when:     when(call) -> bool: whether it runs for this call (ConvCall, LRNCall)
    forward:  forward(call, *arrays) -> (output, saved)  (or the output alone, for
              conv2d_input_gradient, which has no backward of its own)
    backward: backward(call, saved, grad_output, needs) -> one gradient per input, or None
    inputs:   the names of the op's inputs, in order (error messages; ``needs`` has one each)
    """

    op: str
    name: str
    equals: str
    code: str
    when: object
    forward: object
    backward: object = None
    inputs: tuple = ("input", "weight", "bias")


REFERENCE = {
    "conv2d": "im2col",
    "conv2d_input_gradient": "col2im(W^T @ g)",
    "conv2d+max_pool2d": "conv2d, then max_pool2d",
    "local_response_norm": "x * scale ** -beta",
}

ROUTES = {
    "conv2d": (
        Route("conv2d", "winograd F(4x4,3x3)", "Conv2dFunction, functional/conv.py",
              "kernels/winograd_4x4.py", by_winograd_4x4, _winograd_4x4_forward,
              _winograd_4x4_backward),
        Route("conv2d", "winograd F(2x2,3x3)", "Conv2dFunction, functional/conv.py",
              "kernels/winograd.py", by_winograd, _winograd_forward, _winograd_backward),
        Route("conv2d", "chunks", "Conv2dFunction, functional/conv.py",
              "kernels/convolution.py", in_chunks, _chunks_forward, _chunks_backward),
    ),
    "conv2d_input_gradient": (
        Route("conv2d_input_gradient", "chunks", "conv2d_input_gradient, functional/conv.py",
              "kernels/convolution.py", input_gradient_in_chunks, _input_gradient_chunks),
    ),
    "conv2d+max_pool2d": (
        Route("conv2d+max_pool2d", "direct, pooled in cache",
              "max_pool2d(conv2d(x)), functional/conv_pool.py", "kernels/direct_pool.py",
              directly, _direct_pool_forward, _direct_pool_backward),
        Route("conv2d+max_pool2d", "chunks, pooled in cache",
              "max_pool2d(conv2d(x)), functional/conv_pool.py", "kernels/convolution.py",
              in_chunks, _conv_pool_forward, _conv_pool_backward),
        Route("conv2d+max_pool2d", "im2col pooled, gradients at switches",
              "max_pool2d(conv2d(x)), functional/conv_pool.py", "kernels/switch_gradients.py",
              at_the_switches, _switches_forward, _switches_backward),
        Route("conv2d+max_pool2d", "im2col, pooled from the product",
              "max_pool2d(conv2d(x)), functional/conv_pool.py", "kernels/pooled_product.py",
              pooled_from_the_product, _pooled_product_forward, _pooled_product_backward),
    ),
    "local_response_norm": (
        Route("local_response_norm", "square roots (beta 3/4)",
              "LocalResponseNormFunction, functional/normalization.py", "kernels/lrn_square_roots.py",
              by_square_roots, _lrn_forward, _lrn_backward, inputs=("input",)),
    ),
}


def choose(op, call):
    """The route op ``op`` takes for ``call`` (a ConvCall or LRNCall), or None: its reference."""
    if get_routes() == "reference":
        return None
    for route in ROUTES[op]:
        if route.when(call):
            return route
    return None


def describe(op, call):
    """How ``op`` runs for ``call``, in words: the route's name, or the reference's."""
    route = choose(op, call)
    return REFERENCE[op] if route is None else route.name
