"""Which input pixels one unit sees: its receptive field, as a box.

A window layer (convolution or pooling) with kernel F, stride S, padding P
and dilation D makes output unit u read inputs u*S - P + t*D for its taps
t = 0 .. F-1: the span u*S - P .. u*S - P + D(F - 1) (D = 1: F neighbours).
A range of output units [start, end) therefore reads

    input start = start * S - P
    input end   = (end - 1) * S - P + D(F - 1) + 1

clipped to the layer's input, 0 .. size - 1 (what lies outside is padding,
which hides no pixel). Applying this from the chosen layer down to the image
gives the rows (and, the same way, the columns) a unit at (r, c) of layer l
sees. Elementwise layers (ReLU, LRN, dropout) keep the box; after Flatten or
Linear a unit sees the whole image. Without padding and clipping the box
has the size ``summary()`` reports (minicnn/engine/shapes.py, ``receptive_field_step``).

The box is the smallest one holding every pixel the unit depends on. When a
stride is larger than its kernel, or a window is dilated, some pixels inside
the box are skipped. Groups change which channels a unit sees, not which
pixels, so they leave the box alone.

ZFNet's Fig. 2 shows, beside each projection, "the corresponding image
patch": the part of the image inside this box.
"""

import numpy

from ..engine.nn import Flatten, Linear, Sequential
from ..engine.shapes import conv_output_size
from .probe import check_sequential, layer_index


def leaves(modules):
    """The layers of a Sequential in order, with nested Sequentials opened up."""
    flat = []
    for module in modules:
        if isinstance(module, Sequential):
            flat.extend(leaves(list(module)))
        else:
            flat.append(module)
    return flat


def _window_inputs(layers, input_size):
    """For each window layer before the first Flatten/Linear: (layer, (H, W) of its input).

    Also returns whether a dense layer (Flatten or Linear) comes after them.
    """
    height, width = input_size
    windows = []
    for module in layers:
        if isinstance(module, (Flatten, Linear)):
            return windows, True
        if getattr(module, "window", None) is not None:    # Conv2d and the pools
            windows.append((module, (height, width)))
            (kh, kw), (sh, sw), (ph, pw) = module.kernel_size, module.stride, module.padding
            dh, dw = module.dilation
            ceil_mode = getattr(module, "ceil_mode", False)
            caller = module.describe()
            height = conv_output_size(height, kh, sh, ph, ceil_mode, caller=caller, axis="height", dilation=dh)
            width = conv_output_size(width, kw, sw, pw, ceil_mode, caller=caller, axis="width", dilation=dw)
    return windows, False


def _down(span, kernel, stride, padding, dilation, size):
    """Rows [start, end) of a layer's output -> the rows of its input they read, clipped."""
    start = numpy.clip(span[:, 0] * stride - padding, 0, size)
    end = numpy.clip((span[:, 1] - 1) * stride - padding + dilation * (kernel - 1) + 1, 0, size)
    return numpy.stack([start, numpy.maximum(start, end)], axis=1)


def receptive_boxes(model, layer, positions, input_size):
    """Receptive-field boxes of units of ``model[layer]``, clipped to the image.

    positions:  (K, 2) ints, (row, col) of each unit in the layer's output maps
    input_size: (H, W) of the image
    Returns (K, 4) int64 boxes ``(row_start, row_end, col_start, col_end)``:
    the unit sees image rows row_start..row_end-1 and columns col_start..col_end-1.
    """
    check_sequential(model, "receptive_boxes")
    layer = layer_index(model, layer, "receptive_boxes")
    positions = numpy.asarray(positions, dtype=numpy.int64).reshape(-1, 2)
    height, width = input_size
    windows, dense = _window_inputs(leaves(list(model)[:layer + 1]), input_size)
    if dense:                                     # a dense unit sees everything below it
        full = numpy.array([0, height, 0, width], dtype=numpy.int64)
        return numpy.tile(full, (len(positions), 1))
    rows = numpy.stack([positions[:, 0], positions[:, 0] + 1], axis=1)   # [start, end)
    cols = numpy.stack([positions[:, 1], positions[:, 1] + 1], axis=1)
    for module, (size_h, size_w) in reversed(windows):
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = module.kernel_size, module.stride, module.padding, module.dilation
        rows = _down(rows, kh, sh, ph, dh, size_h)
        cols = _down(cols, kw, sw, pw, dw, size_w)
    return numpy.concatenate([rows, cols], axis=1).astype(numpy.int64)


def receptive_box(model, layer, position, input_size):
    """One unit's box ``(row_start, row_end, col_start, col_end)``; see ``receptive_boxes``."""
    return tuple(int(v) for v in receptive_boxes(model, layer, [position], input_size)[0])
