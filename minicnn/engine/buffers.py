"""Large arrays recycled from one training step to the next, instead of new memory each time.

    from minicnn.engine import buffers
    out = buffers.empty((128, 32, 26, 26), numpy.float32)   # like numpy.empty

Why. A training step allocates the same large arrays every time (im2col's
columns, activations, masks, gradients: about 130 MB per keras-MNIST step
at batch 128) and drops them again. Memory that the C library has just
taken from the operating system is not yet mapped: the first write to
each 4 KiB page stops the thread while the kernel finds and zeroes a page
(a "page fault"), thousands of times per step, and two threads that fault
at once wait for each other. Which sizes the C library keeps for reuse is a
process-wide allocator setting (glibc's mallopt), which minicnn leaves to
the program. So minicnn keeps its own large arrays and hands them out again.

How it knows an array is free. Every array handed out is a view of a
"block" that this module keeps in a list. A view, and every view of it,
holds a reference to its block; when all of them are gone, the only
references left are this module's own, and ``sys.getrefcount`` says so. A
block is handed out again only then, so two live arrays never share memory.
Nothing else changes: the arrays are ordinary NumPy arrays.

What it costs: the blocks stay allocated (up to ``LIMIT_BYTES`` of them,
per thread that asks), like any cache; ``release()`` gives them back.
Arrays below ``FROM_BYTES`` are not worth it and come from numpy.empty.
"""

import sys
import threading

import numpy

FROM_BYTES = 1 << 18                 # 256 KiB: smaller arrays come from numpy.empty
LIMIT_BYTES = 1 << 30                # at most 1 GiB of blocks kept per thread

_local = threading.local()           # .blocks: {nbytes: [block, ...]}, .held: bytes kept


def _blocks():
    if not hasattr(_local, "blocks"):
        _local.blocks, _local.held = {}, 0
    return _local.blocks


# A block nobody else refers to has these references: the list that keeps it,
# the loop variable below, and getrefcount's own argument.
_UNUSED_REFERENCES = 3


def empty(shape, dtype):
    """An uninitialised C-contiguous array of ``shape`` and ``dtype``, like numpy.empty.

    Large arrays reuse a kept block of the same size that no live array uses.
    """
    dtype = numpy.dtype(dtype)
    count = 1
    for size in shape:
        count *= int(size)
    nbytes = count * dtype.itemsize
    if nbytes < FROM_BYTES:
        return numpy.empty(shape, dtype)
    kept = _blocks().setdefault(nbytes, [])
    for block in kept:
        if sys.getrefcount(block) == _UNUSED_REFERENCES:
            return block.view(dtype).reshape(shape)
    block = numpy.empty(nbytes, numpy.uint8)
    if _local.held + nbytes <= LIMIT_BYTES:
        kept.append(block)
        _local.held += nbytes
    return block.view(dtype).reshape(shape)


def release():
    """Forget this thread's kept blocks (their memory is freed once no array uses them)."""
    _local.blocks, _local.held = {}, 0
