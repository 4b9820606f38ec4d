"""Optional process-wide settings for CPU training: idle threads, freed memory.

    from minicnn.engine import process
    process.tune()        # explicit, once, for the whole process
    process.settings()    # what is in force (the benchmarks record it)

``import minicnn`` never calls ``tune()``: importing a library must leave
the process as it found it. Nothing here is needed for minicnn's speed:
minicnn computes on its own pool of threads (minicnn/engine/threads.py),
which asks the BLAS library for one thread while it shares out a matrix
product, so OpenBLAS's and OpenMP's idle threads no longer fight minicnn's
loops for the cores. ``tune()`` is for a script that wants these settings
for everything else in the process too, knowing what they do.

Everything ``tune()`` changes is process-wide: it applies to every library
in the process (PyTorch's OpenMP threads, NumPy's OpenBLAS, every
allocation), not to minicnn alone, and lasts until the process exits. None
of it changes a single number, only how fast the same arithmetic runs. A
value you set yourself is always kept.

1. Idle OpenBLAS threads sleep at once (OPENBLAS_THREAD_TIMEOUT=4).
   After each product OpenBLAS's workers poll for more work for 2**28 CPU
   cycles (about 0.1 s); 4 means 2**4 cycles. OpenBLAS reads the variable
   once, when NumPy loads it, so this works only if ``tune()`` runs before
   NumPy is imported. ``import minicnn`` imports NumPy, so after it the
   variable can only be set in the shell (``OPENBLAS_THREAD_TIMEOUT=4
   python ...``); ``tune()`` then leaves it alone and says so.

2. Idle OpenMP threads spin briefly, then sleep (OMP_WAIT_POLICY=PASSIVE
   with GOMP_SPINCOUNT=5000: 5,000 turns of the busy-wait loop). libgomp's
   default is 300,000 turns, sixty times as many. libgomp reads these when
   it loads (at Numba's first parallel loop, or when PyTorch is imported);
   ``settings()`` says if it had loaded already. They change PyTorch's
   threads as much as Numba's: a PyTorch op is a parallel region, and
   threads that sleep between regions must be woken for the next one.

3. Freed memory is kept for reuse (glibc's ``mallopt``). A training step
   allocates tens of MB of new arrays (im2col columns, activations,
   gradients) and frees them again. By default glibc serves blocks this
   large straight from the operating system and gives them back on free,
   so every step touches fresh pages, and each first touch is a page fault
   in which the kernel zeroes the page. Raising M_MMAP_THRESHOLD to 32 MiB
   (the most glibc allows) serves blocks up to that size from the heap, and
   a high M_TRIM_THRESHOLD keeps freed heap memory instead of returning it,
   so the next step reuses warm pages. The price: the process keeps its
   peak memory until it exits. Only glibc (Linux) has these knobs;
   elsewhere nothing changes. glibc offers no call to read them back, so
   ``settings()`` reports what ``tune()`` did.

What these settings were worth before minicnn had its own thread pool, when
``import minicnn`` still applied them, is in
benchmarks/results/cpu-2026-11-22-tuned/step-rounds-keras_mnist_cnn.md.
"""

import ctypes
import os
import sys

OPENBLAS_THREAD_TIMEOUT = "4"             # 2**4 cycles of polling, the least OpenBLAS allows
OPENMP_VARIABLES = {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "5000"}

# glibc's mallopt parameter numbers (malloc.h) and the values set.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_BYTES = 32 * 2**20         # glibc's maximum on 64-bit systems
TRIM_THRESHOLD_BYTES = 2**30              # keep up to 1 GiB of freed heap memory

_applied = {}   # what tune() did; empty until it is called


def _glibc():
    """The C library as a ctypes handle when it is glibc, else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
        libc.gnu_get_libc_version()
    except (OSError, AttributeError):
        return None                       # musl, or no C library symbols to see
    return libc


def keep_freed_memory():
    """Make glibc serve blocks below 32 MiB from the heap and keep freed ones.

    Returns a short description of what was done (or why nothing was).
    """
    libc = _glibc()
    if libc is None:
        return "unchanged (not glibc)"
    done = (libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
            and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    if not done:
        return "unchanged (mallopt refused)"
    return f"glibc mallopt: mmap threshold {MMAP_THRESHOLD_BYTES >> 20} MiB, trim threshold {TRIM_THRESHOLD_BYTES >> 20} MiB"


def quiet_idle_blas_threads():
    """Ask OpenBLAS (if it has not loaded yet) to put idle threads to sleep at once.

    Returns a short description of the state: the value set, the value you
    set, or that NumPy had already loaded OpenBLAS (then nothing changes:
    the variable would not be read, so it is not set).
    """
    if "OPENBLAS_THREAD_TIMEOUT" in os.environ:
        value = os.environ["OPENBLAS_THREAD_TIMEOUT"]
        return f"OPENBLAS_THREAD_TIMEOUT={value}" + ("" if _applied.get("blas_by_us") else " (set outside minicnn)")
    if "numpy" in sys.modules:
        return ("unchanged (NumPy had loaded OpenBLAS before tune(); "
                "set OPENBLAS_THREAD_TIMEOUT=4 in the shell)")
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = OPENBLAS_THREAD_TIMEOUT
    _applied["blas_by_us"] = True
    return f"OPENBLAS_THREAD_TIMEOUT={OPENBLAS_THREAD_TIMEOUT}"


def _libgomp_loaded():
    """True when libgomp is already in this process (Linux: /proc/self/maps)."""
    try:
        with open("/proc/self/maps") as maps:
            return any("libgomp" in line for line in maps)
    except OSError:
        return False


def brief_openmp_spin():
    """Set OMP_WAIT_POLICY=PASSIVE and GOMP_SPINCOUNT=5000 where not set; describe the state."""
    described = []
    for name, value in OPENMP_VARIABLES.items():
        if name in os.environ:
            described.append(f"{name}={os.environ[name]}" + (
                "" if _applied.get(name) else " (set outside minicnn)"))
        else:
            os.environ[name] = value
            _applied[name] = True
            described.append(f"{name}={value}")
    text = ", ".join(described)
    if _libgomp_loaded():
        text += " (but libgomp had loaded already: it keeps the values it read then)"
    return text


def tune():
    """Apply the three settings to the whole process, once; return settings().

    Process-wide and lasting: see the module's docstring for what each does
    and for whom. minicnn never calls it (neither on import nor in its
    benchmarks); only a user's own script does.
    """
    if not _applied:
        _applied["blas"] = quiet_idle_blas_threads()
        _applied["openmp"] = brief_openmp_spin()
        _applied["memory"] = keep_freed_memory()
    return settings()


def settings():
    """What is in force: {'tuned': bool, 'blas': str, 'openmp': str, 'memory': str}."""
    if not _applied:
        reason = "unchanged (tune() not called)"
        return {"tuned": False, "blas": reason, "openmp": reason, "memory": reason}
    return {"tuned": True, "blas": _applied["blas"], "openmp": _applied["openmp"],
            "memory": _applied["memory"]}
