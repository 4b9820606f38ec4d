"""One pool of threads for minicnn's CPU work: the compiled loops and the matrix products.

    from minicnn.engine import threads
    threads.set_num_threads(2)           # how many threads minicnn computes with
    threads.parallel_for(total, work)    # work(first, last) on every thread, over 0 .. total-1
    threads.matmul(a, b)                 # a @ b, its output shared out among the threads

Why minicnn has its own pool. A training step alternates between matrix
products and loops (im2col, pooling, ReLU, ...). If the products ran on the
BLAS library's thread pool (OpenBLAS's) and the loops on another (Numba's
OpenMP threads), the two pools would take turns on the same cores, and a
pool that has just finished keeps its threads busy-waiting for more work:
OpenBLAS's idle threads poll for about 0.1 s after every product, libgomp's
spin for milliseconds. On a machine with few cores the loops that follow a
product then run on the cores those pollers hold, several times slower.
Settings that shorten the polling (OPENBLAS_THREAD_TIMEOUT, OMP_WAIT_POLICY)
are environment variables, read once when each library loads: whether they
work depends on what the user imported first, and they change the process
for every other library in it. So minicnn does not touch them.

Instead every piece of CPU work that minicnn shares out runs on minicnn's
own threads: the calling thread and ``get_num_threads() - 1`` workers,
started at the first parallel call (never on import). An idle worker blocks
on a queue (it uses no CPU while it waits). The compiled loops release
Python's global lock (Numba's ``nogil``), so the threads run them at the
same time. A matrix product is split into blocks of its output, one per
thread, each computed by the BLAS library on that thread alone: while minicnn
shares out a product, the BLAS library is asked for one thread (OpenBLAS's
``openblas_set_num_threads``, as scikit-learn does around its own parallel
loops through threadpoolctl), and its previous count is put back as soon as
the product is done. The BLAS pool is then never woken, so it never polls.
Where the BLAS library gives no such control (not OpenBLAS), the product runs
whole, on the BLAS library's own threads.

Shapes and results: ``parallel_for`` and ``matmul`` return exactly what the
plain loop or product over the whole range returns; only which thread
computes which part changes. (A product's blocks are computed by the same
BLAS kernels as the whole product, so float32 results can differ from an
unsplit product in the last bit.)
"""

import os
import queue
import threading

_settings = {"threads": None}


def _usable_cores():
    """The cores this process may run on (its CPU affinity where the system says)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# Read, never set: a count in the first of these that holds a whole number >= 1
# is the default. NUMBA_NUM_THREADS is on the list because minicnn's loops ran
# on Numba's threads before they ran on these, and scripts set it for them.
THREAD_VARIABLES = ("MINICNN_NUM_THREADS", "NUMBA_NUM_THREADS")


def _default_threads():
    for name in THREAD_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) >= 1:
            return int(value)
    return _usable_cores()


def get_num_threads():
    """How many threads minicnn's CPU kernels and products use.

    set_num_threads(n) decides; before it is called, MINICNN_NUM_THREADS or
    NUMBA_NUM_THREADS in the environment, else the cores this process may use.
    """
    if _settings["threads"] is None:
        return _default_threads()
    return _settings["threads"]


def set_num_threads(count):
    """Use ``count`` threads (>= 1) for minicnn's CPU work from now on; returns the previous count."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"set_num_threads: count must be a whole number >= 1 (threads to compute "
                         f"with), got {count!r}")
    previous = get_num_threads()
    _settings["threads"] = count
    return previous


# ----- the pool -------------------------------------------------------------------------------

class _Worker:
    """One worker thread: it sleeps until given a task, runs it, and sleeps again."""

    def __init__(self, number):
        self.tasks = queue.SimpleQueue()     # get() blocks without spinning until a task is put
        self.thread = threading.Thread(target=self._run, name=f"minicnn-worker-{number}", daemon=True)
        self.thread.start()

    def _run(self):
        _local.inside = True                 # work given to this thread runs serially
        while True:
            self.tasks.get()()


_local = threading.local()                   # .inside: this thread is running a share of the work
_pool = {"workers": []}                      # started at the first parallel call, never on import
_sections = threading.Lock()                 # one parallel section at a time


def _workers(count):
    """The first ``count`` workers, started if they do not exist yet."""
    workers = _pool["workers"]
    while len(workers) < count:
        workers.append(_Worker(len(workers) + 1))
    return workers[:count]


def _serial(total, work):
    if total > 0:
        work(0, total)


def parallel_for(total, work, pieces_per_thread=1):
    """Run ``work(first, last)`` over ranges that together cover 0 .. total-1, on every thread.

    total: how many independent items (image planes, filters, rows ...);
    work(first, last): does items first .. last-1; it must release Python's
    lock to run at the same time as the others (a Numba ``nogil`` loop, a
    NumPy product) and must not write where another range writes.
    The range is cut into about ``pieces_per_thread`` pieces per thread and
    each thread takes the next piece when it has finished one, so a thread
    slowed by something else on its core does less of the work. Returns when
    every piece is done; the first exception any piece raised is raised here.
    Runs serially, on the calling thread, with one thread, for a single item,
    or when called from inside a piece of work or while another thread of
    the program is in a parallel section.
    """
    threads = min(get_num_threads(), total)
    if threads <= 1 or getattr(_local, "inside", False) or not _sections.acquire(blocking=False):
        return _serial(total, work)
    import numpy
    # NumPy's floating-point error handling (numpy.errstate: warn, ignore, raise) belongs to
    # each thread; the helpers take the caller's, so that a piece overflowing on a helper
    # warns, or stays quiet, exactly as it would on the caller
    caller_errors = numpy.geterr()
    try:
        pieces = min(total, threads * pieces_per_thread)
        bounds = [total * piece // pieces for piece in range(pieces + 1)]
        taken = iter(range(pieces))                # next() on it: the next piece (under the GIL)
        errors, done = [], queue.SimpleQueue()

        def share():
            try:
                for piece in taken:
                    work(bounds[piece], bounds[piece + 1])
            except BaseException as error:       # handed to the caller below
                errors.append(error)

        # A helper that wakes after the caller has taken every piece has nothing to
        # do: the caller does not wait for it (waking a sleeping thread takes tens
        # of microseconds, longer than a small loop), and it goes back to sleep.
        section = {"open": True, "joined": 0}
        joining = threading.Lock()

        def helper_share():
            with joining:
                if not section["open"]:
                    return                       # too late: the caller has finished
                section["joined"] += 1
            try:
                with numpy.errstate(**caller_errors):
                    share()
            finally:
                done.put(True)                   # one token per helper that joined

        helpers = _workers(threads - 1)
        for worker in helpers:
            worker.tasks.put(helper_share)
        _local.inside = True
        try:
            share()
        finally:
            _local.inside = False
            with joining:
                section["open"] = False
                joined = section["joined"]
            for _ in range(joined):
                done.get()                       # every helper that joined has finished its pieces
    finally:
        _sections.release()
    if errors:
        raise errors[0]


# ----- the BLAS library's own threads ---------------------------------------------------------

_blas = {}     # "library": (set_num_threads, get_num_threads) of NumPy's OpenBLAS, or None; "lock", "depth", "saved"


def _numpy_openblas():
    """(set, get) ctypes functions of the OpenBLAS that NumPy's products call, or None.

    Found among the shared libraries this process has loaded (Linux's
    /proc/self/maps): an OpenBLAS inside NumPy's own install (its wheels
    bring one, ``numpy.libs/libscipy_openblas64_*.so``; SciPy may bring a
    second, which NumPy does not call). NumPy's wheels prefix and suffix the
    names (``scipy_openblas_set_num_threads64_``); other builds do not.
    """
    import ctypes
    import numpy
    home = os.path.dirname(os.path.dirname(os.path.abspath(numpy.__file__)))
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "/" in line}
    except OSError:
        return None
    mine = sorted(path for path in paths if "openblas" in os.path.basename(path).lower()
                  and (os.sep + "numpy.libs" + os.sep in path or os.sep + "numpy" + os.sep in path)
                  and path.startswith(home))
    for path in mine:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_", "64_"), ("", "64_"), ("", "")):
            setter = getattr(library, f"{prefix}openblas_set_num_threads{suffix}", None)
            getter = getattr(library, f"{prefix}openblas_get_num_threads{suffix}", None)
            if setter is not None and getter is not None:
                setter.restype, setter.argtypes = None, [ctypes.c_int]
                getter.restype, getter.argtypes = ctypes.c_int, []
                return setter, getter
    return None


def blas_control():
    """Whether minicnn can ask NumPy's BLAS for one thread (and so split products itself)."""
    if "library" not in _blas:
        _blas.update(library=_numpy_openblas(), lock=threading.Lock(), depth=0, saved=None)
    return _blas["library"] is not None


class _OneBlasThread:
    """``with _OneBlasThread():`` NumPy's OpenBLAS computes on the calling thread alone;
    its previous thread count is put back at the end (of the outermost such block)."""

    def __enter__(self):
        setter, getter = _blas["library"]
        with _blas["lock"]:
            if _blas["depth"] == 0:
                _blas["saved"] = getter()
                setter(1)
            _blas["depth"] += 1

    def __exit__(self, *exception):
        setter, _ = _blas["library"]
        with _blas["lock"]:
            _blas["depth"] -= 1
            if _blas["depth"] == 0:
                setter(_blas["saved"])


def blas_on_one_thread():
    """``with blas_on_one_thread():`` NumPy's BLAS computes each product on the thread that
    calls it (where minicnn can tell it so; otherwise nothing changes). For work that
    calls products from minicnn's threads (kernels/convolution.py)."""
    import contextlib
    return _OneBlasThread() if blas_control() else contextlib.nullcontext()


# Below this many multiply-adds a product is not worth sharing out. Sharing
# costs the same whatever the size: the worker must be woken (a system call,
# and on a virtual machine a message from one virtual core to the other), it
# must take Python's lock before it can start, and the caller must be woken
# when it is done. Each thread's half must save more than that. A thread's
# BLAS computes some tens of billions of multiply-adds a second, so a product
# of 2**23 (8 million) takes a few hundred microseconds whole on one thread:
# from there its halves save more than the hand-over costs, counted on a
# virtual machine where the hand-over is slow (benchmarks/README.md, "When
# a second thread pays"). Smaller products run whole on the calling thread.
SPLIT_FROM_MULTIPLY_ADDS = 2**23


def matmul(a, b):
    """a @ b for 2-D NumPy arrays a (M, K) and b (K, N): (M, N), computed on minicnn's threads.

    The output is cut into one block of whole rows (when M >= N) or whole
    columns (when N > M) per thread:

        out[rows r0..r1]    = a[r0:r1] @ b        (each thread reads all of b)
        out[:, cols c0..c1] = a @ b[:, c0:c1]     (each thread reads all of a)

    so that the larger operand is the one that is divided. Each block is one
    product by NumPy's BLAS, told to use one thread while the blocks run.
    Products of fewer than SPLIT_FROM_MULTIPLY_ADDS multiply-adds run whole,
    by BLAS on the calling thread alone (so BLAS's own pool is not woken
    either). Where minicnn has one thread, or cannot tell BLAS how many to
    use, every product runs whole on BLAS's own threads.
    """
    import numpy
    rows, inner = a.shape
    columns = b.shape[1]
    threads = get_num_threads()
    if threads <= 1 or getattr(_local, "inside", False) or not blas_control():
        return numpy.matmul(a, b)
    if rows * inner * columns < SPLIT_FROM_MULTIPLY_ADDS:
        with _OneBlasThread():
            return numpy.matmul(a, b)
    from . import buffers
    out = buffers.empty((rows, columns), numpy.result_type(a, b))
    if rows >= columns:
        def block(first, last):
            numpy.matmul(a[first:last], b, out=out[first:last])
        along = rows
    else:
        def block(first, last):
            numpy.matmul(a, b[:, first:last], out=out[:, first:last])
        along = columns
    with _OneBlasThread():
        parallel_for(along, block, pieces_per_thread=1)
    return out
