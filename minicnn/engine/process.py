"""Process settings that make CPU training faster: idle threads, freed memory.

None of them changes a single number; they change how fast the same
arithmetic runs. ``import minicnn`` applies them (``minicnn/__init__.py``
calls ``tune()`` first thing) unless the environment says
MINICNN_TUNE_PROCESS=0. ``settings()`` reports what is in force; the
benchmarks record it. A value you set yourself is always kept.

A training step alternates between matrix products (OpenBLAS, with its own
thread pool) and compiled loops (Numba's OpenMP pool): im2col, pooling,
ReLU. On a machine with few cores the two pools take turns on the same
cores, and a pool that keeps its threads busy-waiting after its work slows
the other one down.

1. Idle OpenBLAS threads sleep at once (OPENBLAS_THREAD_TIMEOUT=4).
   After each product OpenBLAS's workers poll for more work for 2**28 CPU
   cycles (about 0.1 s); on a machine with few cores they hold the cores
   that the Numba loops in between (im2col, col2im, ...) need.
   4 means 2**4 cycles. OpenBLAS reads the variable once, when NumPy loads
   it, so this works only if minicnn is imported before NumPy (or if you
   set it in the shell).

2. Idle OpenMP threads spin briefly, then sleep (OMP_WAIT_POLICY=PASSIVE
   with GOMP_SPINCOUNT=5000, about 50 microseconds). libgomp's default is to
   spin for about 3 ms, which steals the cores from the next matrix product;
   pure PASSIVE (no spin) makes every parallel loop wait for its threads to
   wake, which costs PyTorch, whose every op is a parallel region, more
   than us. A brief spin keeps the threads awake between back-to-back
   loops and lets them sleep during a matrix product. libgomp reads these
   when it loads (at Numba's first parallel loop, or when PyTorch is
   imported); ``settings()`` says if it had loaded already. Numba's pool
   and PyTorch's are then the same libgomp.

3. Freed memory is kept for reuse (glibc's ``mallopt``). A training step
   allocates tens of MB of new arrays (im2col columns, activations,
   gradients) and frees them again. By default glibc serves blocks this
   large straight from the operating system and gives them back on free,
   so every step touches fresh pages, and each first touch is a page fault
   in which the kernel zeroes the page: thousands of faults in every
   keras-MNIST step at batch 128. Raising M_MMAP_THRESHOLD to 32 MiB (the
   most glibc allows) serves blocks up to that size from the heap, and a
   high M_TRIM_THRESHOLD keeps freed heap memory instead of returning it,
   so the next step reuses warm pages. The price: the process keeps its
   peak memory until it exits. Only glibc (Linux) has these knobs;
   elsewhere nothing changes.

What they are worth is measured, not written here: the keras_mnist_cnn
training step on the numba backend with and without them
(MINICNN_TUNE_PROCESS=0), in rounds of fresh processes, is in
benchmarks/results/cpu-2026-11-22-tuned/step-rounds-keras_mnist_cnn.md
(``python benchmarks/step_rounds.py`` re-measures it), and
benchmarks/README.md ("Process settings") explains the figures.
"""

import ctypes
import os
import sys

DISABLE_VARIABLE = "MINICNN_TUNE_PROCESS"
OPENBLAS_THREAD_TIMEOUT = "4"             # 2**4 cycles of polling, the least OpenBLAS allows
OPENMP_VARIABLES = {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "5000"}

# glibc's mallopt parameter numbers (malloc.h) and the values set.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_BYTES = 32 * 2**20         # glibc's maximum on 64-bit systems
TRIM_THRESHOLD_BYTES = 2**30              # keep up to 1 GiB of freed heap memory

_applied = {}


def enabled():
    """False when the environment asks minicnn to leave the process alone."""
    return os.environ.get(DISABLE_VARIABLE, "1").strip().lower() not in ("0", "false", "no", "off")


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
    set, or that NumPy had already loaded OpenBLAS (then nothing changes).
    """
    if "OPENBLAS_THREAD_TIMEOUT" in os.environ:
        value = os.environ["OPENBLAS_THREAD_TIMEOUT"]
        return f"OPENBLAS_THREAD_TIMEOUT={value}" + ("" if _applied.get("blas_by_us") else " (set outside minicnn)")
    if "numpy" in sys.modules:
        return "unchanged (NumPy was imported before minicnn; set OPENBLAS_THREAD_TIMEOUT=4 in the shell)"
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
    """Apply the settings once (unless MINICNN_TUNE_PROCESS=0); return settings()."""
    if not _applied and enabled():
        _applied["blas"] = quiet_idle_blas_threads()
        _applied["openmp"] = brief_openmp_spin()
        _applied["memory"] = keep_freed_memory()
    return settings()


def settings():
    """What is in force: {'tuned': bool, 'blas': str, 'openmp': str, 'memory': str}."""
    if not _applied:
        reason = f"unchanged ({DISABLE_VARIABLE}=0)" if not enabled() else "unchanged (tune() not called)"
        return {"tuned": False, "blas": reason, "openmp": reason, "memory": reason}
    return {"tuned": True, "blas": _applied["blas"], "openmp": _applied["openmp"],
            "memory": _applied["memory"]}
