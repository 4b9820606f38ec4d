"""A convolution followed by max pooling, as one op where a route makes that faster.

    conv2d_max_pool2d(x, weight, bias, conv..., pool...) = max_pool2d(conv2d(x, weight, bias), pool...)
    conv2d_max_pool2d(..., relu=True) = relu(max_pool2d(conv2d(x, weight, bias), pool...))

Exactly those numbers, output and gradients. Its reference is those two
ops (three with the ReLU), one after the other, and that is what runs
unless kernels/routes.py's table gives a route, on the numba backend:

- "direct, pooled in cache", for a stride-1 first layer of at most 27
  taps C*KH*KW: each output summed directly from the padded image, nine
  products at a time, a chunk of images pooled while in the cache; the
  backward pass reads the input only at the switches
  (kernels/direct_pool.py);
- "chunks, pooled in cache", for other layers whose convolution runs in
  chunks of images (first layers, with few input channels): each chunk's
  convolution output is pooled while it is still in the cache, and its
  gradient is rebuilt from the switches there in the backward pass
  (kernels/convolution.py);
- "im2col pooled, gradients at switches", for a later layer whose
  convolution runs by the formulas, with many channels and a pool of stride
  2 or more: the forward pass as the next route's, over the outputs the
  pool reads only (a 2x2 pool of stride 2 over 11x11 outputs reads 10x10;
  the others feed no window); the backward pass reads
  the input and the weights only at the switches, channels last, and
  multiplies none of the zeros of dL/dy (kernels/switch_gradients.py);
- "im2col, pooled from the product", for a layer whose convolution runs by
  the formulas (one product for the whole batch): the product's rows are
  pooled a chunk of images at a time, and the backward pass puts the pooled
  gradient back into rows the same way (kernels/pooled_product.py).

Either way the (N, F, OH, OW) output, the largest array of keras-MNIST's and
zfnet_small's steps, is never written to memory and read back; and in the
backward pass of the routes that read at the switches, neither is its
gradient.

With relu=True every route puts a chunk's maxima through the ReLU right
after pooling them, while they are still in the cache (kernels/pooling.py,
chunk_pooler), and writes relu's mask; its backward pass starts with relu's
backward loop on dL/d(output). The ReLU's own pass over the pooled output,
to memory and back, is gone.

nn.Sequential uses it, with relu=True, for Conv2d, ReLU, MaxPool2d written
in a row (the ReLU after the pool: see Sequential.forward) unless built
with fuse=False. The switches stay inside the op; call the two ops to see
them.
"""

from ..errors import ArgumentError
from ..kernels import routes
from ..shapes import conv_output_size
from .activation import relu as relu_op
from .conv import checked_convolution, conv2d
from .pooling import max_pool2d, window_settings
from .routed import RoutedFunction


def conv2d_max_pool2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                      pool_kernel=2, pool_stride=None, pool_padding=0, ceil_mode=False, pool_dilation=1,
                      caller="conv2d", pool_caller="max_pool2d", relu=False, relu_caller="relu"):
    """max_pool2d(conv2d(x, weight, bias, stride, padding, dilation, groups), pool_kernel,
    pool_stride, pool_padding, ceil_mode, dilation=pool_dilation): the same checks, errors
    and numbers. x: (N, C, H, W) -> (N, F, PH, PW).

    relu=True: relu(max_pool2d(conv2d(...))), the ReLU folded into the op: a route puts
    each chunk's maxima through it while they are still in the cache, and its backward
    pass starts with relu's. relu_caller names the ReLU in error messages."""
    if not isinstance(relu, bool):
        raise ArgumentError(f"{caller}: relu must be True (a ReLU after the pool, folded into the "
                            f"op) or False, got {relu!r}")
    x, weight, bias, stride, padding, dilation, groups, out = checked_convolution(
        x, weight, bias, stride, padding, dilation, groups, caller)
    kernel, pool_stride, pool_padding, pool_dilation = window_settings(
        pool_caller, pool_kernel, pool_stride, pool_padding, pool_dilation)
    pooled = tuple(
        conv_output_size(out[axis], kernel[axis], pool_stride[axis], pool_padding[axis], ceil_mode,
                         caller=pool_caller, axis=("height", "width")[axis], dilation=pool_dilation[axis])
        for axis in (0, 1))
    call = routes.ConvCall.of(x.data, weight.shape, stride, padding, dilation, groups, out,
                              pool=(kernel, pool_stride, pool_padding, pool_dilation, pooled), relu=relu)
    route = routes.choose("conv2d+max_pool2d", call)
    if route is None:                                  # the reference: the two ops (three with relu)
        y = conv2d(x, weight, bias, stride, padding, dilation, groups, caller)
        y = max_pool2d(y, kernel, pool_stride, pool_padding, ceil_mode, dilation=pool_dilation,
                       caller=pool_caller)
        return relu_op(y, caller=relu_caller) if relu else y
    function = RoutedFunction(route, call)             # the same numbers: kernels/routes.py
    return function(x, weight) if bias is None else function(x, weight, bias)
