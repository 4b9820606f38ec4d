"""Which input pixels one unit sees: its receptive field, as a box.

A window layer (convolution or pooling) with kernel F, stride S, padding P
and dilation D makes output unit u read inputs u*S - P + t*D for its taps
t = 0 .. F-1 (D = 1: the F neighbours u*S - P .. u*S - P + F - 1); what
lies outside the layer's input, 0 .. size - 1, is padding, which hides no
pixel. Starting from the chosen unit and going down one window layer at a
time, this marks every row (and, the same way, every column: windows are
rectangular) that the unit depends on; the box runs from the first marked
row to the last. Elementwise layers (ReLU, LRN, dropout) keep the marks;
after Flatten or Linear a unit sees the whole image.

Without dilation the marked rows of a unit range [start, end) run, before
clipping, from

    input start = start * S - P     to     input end = (end - 1) * S - P + F

so the box has the size ``summary()`` reports (minicnn/engine/shapes.py,
``receptive_field_step``), clipped to the image. Marking row by row is what
keeps dilated windows exact: their taps skip rows, and near the padding the
first and last rows a unit reads are not the ends of its span.

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

    Also returns whether a dense layer (Flatten or Linear) comes after them,
    and the (H, W) of the last window layer's output.
    """
    height, width = input_size
    windows = []
    for module in layers:
        if isinstance(module, (Flatten, Linear)):
            return windows, True, (height, width)
        if getattr(module, "window", None) is not None:    # Conv2d and the pools
            windows.append((module, (height, width)))
            (kh, kw), (sh, sw), (ph, pw) = module.kernel_size, module.stride, module.padding
            dh, dw = module.dilation
            ceil_mode = getattr(module, "ceil_mode", False)
            caller = module.describe()
            height = conv_output_size(height, kh, sh, ph, ceil_mode, caller=caller, axis="height", dilation=dh)
            width = conv_output_size(width, kw, sw, pw, ceil_mode, caller=caller, axis="width", dilation=dw)
    return windows, False, (height, width)


def _down(marked, kernel, stride, padding, dilation, size):
    """The rows of a layer's input that its marked output rows read.

    marked: (K, OUT) bools, for each of K units the rows of the layer's output
    it depends on. Returns (K, size) bools: row u*S - P + t*D of the input is
    marked when output row u is, for every tap t, unless it is padding.
    """
    read = numpy.zeros((marked.shape[0], size), dtype=bool)
    units = numpy.arange(marked.shape[1])
    for tap in range(kernel):
        rows = units * stride - padding + tap * dilation          # tap t of every window
        inside = (rows >= 0) & (rows < size)
        read[:, rows[inside]] |= marked[:, inside]
    return read


def _ends(marked):
    """(K, size) bools -> (K, 2): [first marked row, last marked row + 1); (0, 0) if none."""
    size = marked.shape[1]
    first = marked.argmax(axis=1)
    end = size - marked[:, ::-1].argmax(axis=1)
    some = marked.any(axis=1)
    return numpy.stack([numpy.where(some, first, 0), numpy.where(some, end, 0)], axis=1)


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
    windows, dense, (out_height, out_width) = _window_inputs(leaves(list(model)[:layer + 1]), input_size)
    if dense:                                     # a dense unit sees everything below it
        full = numpy.array([0, height, 0, width], dtype=numpy.int64)
        return numpy.tile(full, (len(positions), 1))
    rows_at, cols_at = positions[:, 0], positions[:, 1]
    if len(positions) and (rows_at.min() < 0 or rows_at.max() >= out_height
                           or cols_at.min() < 0 or cols_at.max() >= out_width):
        raise IndexError(f"receptive_boxes: a position lies outside the {out_height}x{out_width} maps "
                         f"of layer {layer}")
    units = numpy.arange(len(positions))
    rows = numpy.zeros((len(positions), out_height), dtype=bool)
    cols = numpy.zeros((len(positions), out_width), dtype=bool)
    rows[units, rows_at] = True                   # each unit marks its own row and column
    cols[units, cols_at] = True
    for module, (size_h, size_w) in reversed(windows):
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = module.kernel_size, module.stride, module.padding, module.dilation
        rows = _down(rows, kh, sh, ph, dh, size_h)
        cols = _down(cols, kw, sw, pw, dw, size_w)
    return numpy.concatenate([_ends(rows), _ends(cols)], axis=1).astype(numpy.int64)


def receptive_box(model, layer, position, input_size):
    """One unit's box ``(row_start, row_end, col_start, col_end)``; see ``receptive_boxes``."""
    return tuple(int(v) for v in receptive_boxes(model, layer, [position], input_size)[0])
