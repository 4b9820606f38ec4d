"""How the fast twins are built: Numba's compiled CPU loops and numba.cuda GPU kernels.

Every kernel family file (im2col_col2im.py, pooling.py, lrn.py, relu.py,
conv_layout.py) starts with plain-array references, written with ``xp``
for NumPy or CuPy; read those to learn the index arithmetic. Beneath them
come the twins, named after the reference with ``_numba`` or ``_cuda``
added: the same arguments, the same return values, the same numbers.
tests/test_kernels.py checks each twin against its reference. This module
holds what the twins share: the two compilers, set up once, and the
helpers that hand arrays to them. Which twins run, and when, is decided in
one place: ``kernels/__init__.py``.

Numba twins (CPU)
-----------------
A compiled loop, ``_*_loops``, runs over a range of the N*C image planes
(or of whatever items it handles independently), given as its last two
arguments ``first, last``; a thin Python wrapper allocates the outputs,
passes plain ints and hands the loop to ``share_out``, which splits the
items among minicnn's threads. Why loops at all, when NumPy is already compiled? A reference makes
one pass over the whole batch per filter tap (KH*KW passes for col2im,
plus a padded copy, an argmax along a strided axis, ...). A loop visits
each plane once, while it sits in the cache, and does all the taps there.
For im2col itself the reference's strided slice copies are already close
to memory speed, so the loop gains little there (tinygrad's lesson:
measure before reaching for a kernel).

Same numbers as the reference: the loops do the same arithmetic in the
same order, so results agree bit for bit (the tests use ``array_equal``).
Each family file says in which order its sums are added.

Three habits make these loops fast; they are marked where they occur:

* Flat indexing. The windowed loops index flat (1-D) arrays with offsets
  they compute themselves, written out in their docstrings. Indexing
  ``cols[c, i, j, n, oy, ox]`` multiplies six strides at every access, and
  taking a view such as ``cols[c, i, j, n]`` inside a compiled loop counts a
  reference up and down (atomically) each time.
* Unsigned indices. Computed indices in the innermost loops are wrapped in
  ``unsigned(...)`` (numba.uint64). Numba then knows the index cannot be
  negative and drops its Python-style wrap-around test (``a[-1]`` is the
  last element), a branch on every access that also stops LLVM from
  vectorising the loop. (A loop variable of ``range(n)`` needs no wrapping:
  LLVM sees it start at 0; a loop over a thread's share, ``range(first,
  last)``, does not start at 0, so a loop that indexes with its variable
  counts in unsigned integers: ``range(unsigned(first), unsigned(last))``.
  Without that, relu's loops were not vectorised: benchmarks/README.md,
  "What each change bought", ReLU loops counting in unsigned integers.)
  The loops only ever form non-negative indices: their ranges are clipped
  to the image first, and switches are checked.
* Selects, not branches. Comparisons choose with ``value if take else best``
  rather than an ``if`` block: a select instead of a branch, which random
  data would mispredict about every other window.

The loops run on minicnn's own threads, the same ones that compute the
matrix products, never on a second pool: minicnn/engine/threads.py says why.
Each loop itself is serial; it releases Python's lock (``nogil``), so the
threads run their shares at the same time.

CUDA twins (GPU)
----------------
Each takes CuPy arrays (or, under Numba's CUDA simulator, NumPy arrays),
allocates the outputs with the input's array module and launches one
``@cuda_kernel`` function, ``_*_kernel``, through ``launch`` below.

How a kernel is laid out. A GPU runs thousands of threads at once. The
kernels are launched on a two-dimensional grid of threads: along x, one
thread per element of an image plane (a pixel, a pooled window, an output
position), along y one row of threads per plane. Each thread reads its pair
of indices from ``cuda.grid(2)``; with fewer threads than elements it steps
on by the grid's size (``cuda.gridsize(2)``, a "grid-stride loop"), so any
launch size is correct. Neighbouring threads handle neighbouring elements of
one plane, so their reads and writes fall on neighbouring addresses
(coalesced).

Scatters become gathers where the geometry is known: rather than letting
each input *add itself* to its output (two threads may then write the same
place, which needs atomic operations), each output *collects* its inputs,
in the reference's order. Where the geometry is not known (pooling's
switches say where a value goes, not what reaches a pixel) the family file
says how it adds instead.

Streams. The kernels run on CuPy's current stream (``cuda.external_stream``),
after whatever CuPy work produced the inputs and before any CuPy work that
reads the outputs, so no host synchronisation is needed; arrays are handed
over with ``cuda.as_cuda_array(..., sync=False)`` for that reason. Time them
with ``cupy.cuda.Device().synchronize()``.

Testing without a GPU. With NUMBA_ENABLE_CUDASIM=1 set before numba is
imported, numba.cuda runs these same kernels on the CPU over NumPy arrays
(slowly: one Python thread per GPU thread). tests/test_kernels.py does that.

Without numba, the decorators below leave each compiled function as a stub
that raises, saying why; the references still run, and so does minicnn.

Notation, in every family file:
    x:      (N, C, H, W)      a batch of N images with C channels
    KH, KW  window (kernel) height and width
    SH, SW  strides;  PH, PW  zero-padding on each side
    DH, DW  dilation: the spacing of a window's taps (1: next to each other)
    OH, OW  output size: OH = (H + 2*PH - DH*(KH - 1) - 1) // SH + 1, which is
            (H - KH + 2*PH) // SH + 1 for DH = 1 (see minicnn/engine/shapes.py)
    plane   n*C + c, one (H, W) image: the wrappers pass (N, C, H, W)
            reshaped to (N*C, H, W) or flat, views where the array was contiguous
"""

import numpy

from .. import threads
from ..backend import cuda_simulator, cupy, is_cupy_array, numba, numba_reason


def _unavailable(function, reason):
    """A stand-in for a compiled ``function`` that cannot be compiled here: calling it raises."""
    def unavailable(*arguments, **keywords):
        raise RuntimeError(f"{function.__name__} is compiled code that cannot run here: {reason}")
    unavailable.__name__, unavailable.__doc__ = function.__name__, function.__doc__
    return unavailable


# ----- Numba on the CPU -----------------------------------------------------------------------

if numba is not None:
    # nogil: the loop releases Python's lock, so minicnn's threads run their
    # shares at the same time (see share_out below); cache: the machine code is
    # saved in __pycache__, so only the first run pays for compiling;
    # fastmath=False: no reordering of sums, no fused multiply-add, NaN respected.
    numba_loop = numba.njit(nogil=True, cache=True, fastmath=False)
    # A small compiled function called from the loops (compiled into them).
    numba_helper = numba.njit(nogil=True, cache=True)
    unsigned = numba.uint64
else:
    def numba_loop(function):
        return _unavailable(function, numba_reason)

    numba_helper = numba_loop
    unsigned = int


# Below this many bytes in a loop's arrays, one thread does the whole loop:
# handing out the work costs tens of microseconds (waking a thread, Python's
# lock passing between two threads), as long as a pass over a few MB held in
# the cache takes. Timed on a 2-core machine at keras-MNIST's batch-32 sizes,
# the layout moves over 1-2 MB ran slower on two threads than on one, and
# pooling over 5 MB faster (benchmarks/README.md, "Figures moved from the
# engine's comments").
SHARE_FROM_BYTES = 1 << 22


# Loops that do many operations per byte (a pooling window's comparisons, LRN's
# channel sums and divisions) pay for the second thread from smaller sizes:
# at keras-MNIST's and zfnet_small's batch-32 sizes, 0.5-3 MB, they ran faster
# on two threads than on one (benchmarks/README.md, "Figures moved from the
# engine's comments").
SHARE_FROM_BYTES_COMPUTING = 1 << 19


def share_out(loops, total, *arguments, share_from_bytes=None):
    """Run ``loops(*arguments, first, last)`` over first .. last-1 ranges covering 0 .. total-1,
    on minicnn's threads (minicnn/engine/threads.py), and return when all are done.

    Every ``_*_loops`` function takes its share of the independent items
    (image planes, (n, f) blocks, filters, elements) as its last two
    arguments, and writes nothing that another share writes. Loops over
    fewer than ``share_from_bytes`` bytes of arrays (default SHARE_FROM_BYTES)
    run whole on this thread.
    """
    size = sum(argument.nbytes for argument in arguments if isinstance(argument, numpy.ndarray))
    if size < (SHARE_FROM_BYTES if share_from_bytes is None else share_from_bytes):
        if total > 0:
            loops(*arguments, 0, total)
        return
    threads.parallel_for(total, lambda first, last: loops(*arguments, first, last))


@numba_helper
def inside(count, step, offset, size):
    """(first, end): the positions o = first .. end-1 of 0 .. count-1 for which
    o*step + offset lands inside 0 .. size-1 (and not in the padding).

    im2col's loops ask which windows o put one tap (offset) inside the image
    (step: the stride).
    """
    first = min(count, max(0, (step - 1 - offset) // step))   # o*step + offset >= 0
    end = min(count, (size - 1 - offset) // step + 1)          # o*step + offset <= size-1
    return first, max(first, end)


def flat(array):
    """Any array -> 1-D, C-contiguous (a view when it already was)."""
    return numpy.ascontiguousarray(array).reshape(-1)


def ints(*values):
    """Sizes as plain Python ints (NumPy integers would compile another version)."""
    return tuple(int(value) for value in values)


def planes(array, xp=numpy):
    """(N, C, ...) -> (N*C, ...), C-contiguous (a view when it already was)."""
    array = xp.ascontiguousarray(array)
    return array.reshape((array.shape[0] * array.shape[1],) + array.shape[2:])


# ----- numba.cuda on the GPU ------------------------------------------------------------------

# numba.cuda is imported with the rest of minicnn, but decorating a kernel
# compiles nothing: each kernel is compiled for its argument types at its
# first launch.
cuda = None
_cuda_import_reason = numba_reason
if numba is not None:
    try:
        from numba import cuda
    except Exception as error:  # an old numba, a broken install
        cuda, _cuda_import_reason = None, f"numba.cuda cannot be imported ({error})"

if cuda is not None:
    cuda_kernel = cuda.jit
else:
    def cuda_kernel(function):
        return _unavailable(function, _cuda_import_reason)

# Threads per block: a multiple of the 32-thread warp. The simulator starts
# one Python thread per GPU thread, so there a small block is faster.
THREADS_PER_BLOCK = 32 if cuda_simulator else 256
MAX_BLOCKS = 65535   # per grid dimension; more work than threads is fine: grid-stride loops

_cuda_state = {"reason": None}


def cuda_reason():
    """Why the CUDA twins cannot run on this machine, in words; "" when they can.

    Asks numba.cuda once (it looks for a driver and a GPU) and remembers.
    """
    if _cuda_state["reason"] is None:
        if cuda is None:
            _cuda_state["reason"] = _cuda_import_reason
        elif not cuda.is_available():
            _cuda_state["reason"] = (
                "numba.cuda finds no usable CUDA GPU and driver on this machine; to run the "
                "CUDA twins on the CPU for testing, set NUMBA_ENABLE_CUDASIM=1 before numba "
                "is imported")
        else:
            _cuda_state["reason"] = ""
    return _cuda_state["reason"]


def _let_numba_cuda_compile():
    """Give NumPy back ``numpy.row_stack`` if it lacks it, just before compiling for a GPU.

    numba.cuda (numba-cuda 0.30) registers its own version of numpy.row_stack
    when it compiles its first kernel; NumPy 2.5 removed that function (an
    alias of vstack), and without it every compilation fails. Adding the alias
    changes another library, so it is done here, at the first launch of a
    CUDA twin on a GPU, and never on import.
    """
    if not cuda_simulator and not hasattr(numpy, "row_stack"):
        numpy.row_stack = numpy.vstack


def launch(kernel, per_plane, plane_count, *arguments):
    """Run ``kernel`` on a grid of ``per_plane`` x ``plane_count`` threads (or fewer).

    Raises RuntimeError, saying why, on a machine where CUDA cannot run.
    """
    reason = cuda_reason()
    if reason:
        raise RuntimeError(f"a CUDA twin cannot run here: {reason}")
    _let_numba_cuda_compile()
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
