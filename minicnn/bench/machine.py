"""What a benchmark ran on, how many threads each library used, and the machine's peaks.

A time means little without the machine next to it. ``machine_info`` records
the CPU, its cores and memory, the load average (other processes compete
for the same cores: a load near the core count means the figures are
pessimistic), library versions, the BLAS that NumPy calls and the GPU.

Threads. minicnn's own pool (minicnn/engine/threads.py), NumPy's BLAS
(OpenBLAS here), Numba's parallel loops and PyTorch each have a thread
count, by default one thread per core. ``limit_threads`` gives every one
the same count, so that no library wins by using more cores than another;
the JSON records what each reports afterwards. Nothing else about the
process is set: the benchmarks measure what a user gets, so they never
call ``minicnn.engine.process.tune()`` (the JSON records whether anything
in the process did, under "process"). OpenBLAS reads OPENBLAS_NUM_THREADS
only when it loads, so the limit is also applied at run time, through
threadpoolctl when it is installed and otherwise through OpenBLAS's own
``openblas_set_num_threads`` (found in the libraries this process has
loaded; Linux only).

OPENBLAS_CORETYPE. OpenBLAS picks its kernels for the CPU it detects; on a
CPU newer than the OpenBLAS build it may fall back to older, slower ones.
The variable overrides the choice (e.g. OPENBLAS_CORETYPE=SkylakeX); the
JSON records it and the core OpenBLAS actually chose.

Peaks. Each run also measures what the machine can do at best: a float32
matrix product of ``size``^3 (GFLOP/s; "fraction of GEMM peak" divides by
the best library on that device) and a large array copy (GB/s, for ops that
move memory rather than compute). A peak is what the machine can do, so it
is taken from the fastest sample, not the median, and measured at the start
and at the end of the run (``merge_peaks`` keeps the better): on a shared
machine, a busy minute must not lower the yardstick.
"""

import ctypes
import datetime
import os
import pathlib
import platform
import subprocess
import sys

import numpy

from ..engine import backend, process
from ..engine import threads as minicnn_threads
from .timing import measure

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
RECORDED_VARIABLES = THREAD_VARIABLES + ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OPENBLAS_CORETYPE", "MINICNN_BACKEND", "CUPY_TF32",
                                         "NUMBA_THREADING_LAYER", "CUDA_VISIBLE_DEVICES")


# ----- threads ----------------------------------------------------------------------------

def _openblas_libraries():
    """ctypes handles of the OpenBLAS libraries loaded in this process, with their symbol names.

    OpenBLAS builds name their functions ``openblas_set_num_threads``, or with
    a 64-bit-integer suffix and a prefix (NumPy's wheels:
    ``scipy_openblas_set_num_threads64_``).
    """
    try:
        maps = pathlib.Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return []
    paths = sorted({line.split()[-1] for line in maps
                    if "openblas" in os.path.basename(line.split()[-1]).lower()})
    found = []
    for path in paths:
        library = ctypes.CDLL(path)
        for prefix, suffix in (("scipy_", "64_"), ("", "64_"), ("", "")):
            if hasattr(library, f"{prefix}openblas_set_num_threads{suffix}"):
                found.append((path, library, prefix, suffix))
                break
    return found


def _openblas_call(library, prefix, suffix, name, restype=ctypes.c_int, *arguments):
    function = getattr(library, f"{prefix}openblas_{name}{suffix}")
    function.restype = restype
    return function(*arguments)


def set_thread_variables(count):
    """The thread-count variables, for libraries that load later and for child processes.

    Only the counts: how idle threads wait (OMP_WAIT_POLICY, GOMP_SPINCOUNT,
    OPENBLAS_THREAD_TIMEOUT) is left as the user's environment has it.
    """
    for variable in THREAD_VARIABLES:
        if variable == "NUMBA_NUM_THREADS" and "numba" in sys.modules:
            # Numba read it at import; changed afterwards, Numba refuses to compile
            # ("Cannot set NUMBA_NUM_THREADS to a different value once the threads
            # have been launched"). limit_threads uses numba.set_num_threads instead.
            continue
        os.environ[variable] = str(count)


def limit_threads(count):
    """Make minicnn, NumPy's BLAS, Numba and PyTorch use ``count`` threads; return what each reports."""
    set_thread_variables(count)
    minicnn_threads.set_num_threads(count)
    report = {"requested": count, "minicnn": minicnn_threads.get_num_threads()}
    try:
        import threadpoolctl
        threadpoolctl.threadpool_limits(count)
        report["blas_method"] = f"threadpoolctl {threadpoolctl.__version__}"
        report["blas"] = [{key: info.get(key) for key in ("internal_api", "version", "num_threads",
                                                          "architecture", "filepath")}
                          for info in threadpoolctl.threadpool_info()]
    except ImportError:
        report["blas_method"] = "openblas_set_num_threads via ctypes (threadpoolctl not installed)"
        report["blas"] = []
        for path, library, prefix, suffix in _openblas_libraries():
            _openblas_call(library, prefix, suffix, "set_num_threads", None, ctypes.c_int(count))
            report["blas"].append({
                "filepath": path,
                "num_threads": _openblas_call(library, prefix, suffix, "get_num_threads"),
                "corename": _openblas_call(library, prefix, suffix, "get_corename",
                                           ctypes.c_char_p).decode(),
                "config": _openblas_call(library, prefix, suffix, "get_config",
                                         ctypes.c_char_p).decode(),
            })
    if backend.numba is not None:
        numba = backend.numba
        numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))
        report["numba"] = numba.get_num_threads()
        report["numba_threading_layer"] = numba.config.THREADING_LAYER
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        torch.set_num_threads(count)
        report["torch"] = torch.get_num_threads()
    return report


# ----- the machine ------------------------------------------------------------------------------

def _cpu_model():
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib():
    try:
        for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _numpy_blas():
    """NumPy's build-time BLAS, from numpy.show_config (NumPy >= 1.26)."""
    try:
        blas = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return {key: blas.get(key) for key in ("name", "version", "openblas configuration")}
    except Exception as error:  # older NumPy: no dict mode
        return {"name": f"unknown ({type(error).__name__})"}


def _gpu():
    """Name, memory, driver and CUDA versions of GPU 0, or None without CuPy and PyTorch CUDA."""
    info = None
    cupy = backend.cupy
    if cupy is not None:
        device = cupy.cuda.Device()
        properties = cupy.cuda.runtime.getDeviceProperties(device.id)
        name = properties["name"]
        info = {
            "name": name.decode() if isinstance(name, bytes) else name,
            "memory_gib": round(properties["totalGlobalMem"] / 2**30, 1),
            "compute_capability": device.compute_capability,
            "cuda_driver_api": cupy.cuda.runtime.driverGetVersion(),
            "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
        }
    torch = sys.modules.get("torch")
    if info is None and torch is not None and torch.cuda.is_available():
        info = {"name": torch.cuda.get_device_name(0),
                "memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)}
    if info is not None:
        try:
            line = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                  capture_output=True, text=True, timeout=20).stdout.splitlines()
            info["driver"] = line[0].strip() if line else "unknown"
        except (OSError, subprocess.SubprocessError):
            info["driver"] = "unknown (no nvidia-smi)"
    return info


def _versions():
    from .. import __version__
    versions = {"python": platform.python_version(), "minicnn": __version__, "numpy": numpy.__version__}
    versions["numba"] = backend.numba.__version__ if backend.numba else None
    versions["cupy"] = backend.cupy.__version__ if backend.cupy else None
    torch = sys.modules.get("torch")
    versions["torch"] = torch.__version__ if torch is not None else None
    try:
        import matplotlib
        versions["matplotlib"] = matplotlib.__version__
    except ImportError:
        versions["matplotlib"] = None
    return versions


def machine_info(threads):
    """Everything about the machine that a reader needs next to the figures.

    threads: what ``limit_threads`` returned. "process" is
    ``minicnn.engine.process.settings()``: whether ``tune()`` was called
    (the benchmarks never call it).
    """
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gib": _ram_gib(),
        "load_average_before": list(os.getloadavg()),
        "threads": threads,
        "minicnn_threads": minicnn_threads.get_num_threads(),
        "environment": {name: os.environ.get(name) for name in sorted(
            set(RECORDED_VARIABLES) | {name for name in os.environ if name.startswith("OPENBLAS_")})},
        "numpy_blas": _numpy_blas(),
        "process": process.settings(),
        "versions": _versions(),
        "gpu": _gpu(),
    }
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        info["torch_cuda"] = {
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "allow_tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
            "allow_tf32_cudnn": torch.backends.cudnn.allow_tf32,
        }
    return info


# ----- peaks ---------------------------------------------------------------------------------------

def measure_peaks(targets, gemm_sizes, copy_megabytes, timing):
    """Best float32 GEMM GFLOP/s and copy GB/s on each device, measured now (fastest sample).

    gemm_sizes: {"cpu": n, "gpu": n}, the side of the square matrices (a GPU
    needs bigger ones to reach its peak). Returns {"cpu": {...}, "gpu": {...}}
    with, per device, the figure of each library ("gemm_gflops": {"numpy": ...,
    "torch-cpu": ...}) and the best ("gemm_peak_gflops", "copy_peak_gb_per_s").
    """
    rng = numpy.random.default_rng(0)
    source = rng.standard_normal(copy_megabytes * 2**20 // 4, dtype=numpy.float32)
    peaks, done = {}, set()
    for target in targets:
        if target.peak_library in done:
            continue
        done.add(target.peak_library)
        size = gemm_sizes[target.device]
        a = rng.standard_normal((size, size), dtype=numpy.float32)
        b = rng.standard_normal((size, size), dtype=numpy.float32)
        with target.active():
            gemm = measure(target.gemm(a, b), target.synchronize, **timing)
            copy = measure(target.copy(source), target.synchronize, **timing)
        device = peaks.setdefault(target.device, {"gemm_size": size, "copy_megabytes": copy_megabytes,
                                                  "gemm_gflops": {}, "copy_gb_per_s": {}})
        device["gemm_gflops"][target.peak_library] = 2 * size**3 / gemm.min_s / 1e9
        device["copy_gb_per_s"][target.peak_library] = 2 * source.nbytes / copy.min_s / 1e9
    for device in peaks.values():
        device["gemm_peak_gflops"] = max(device["gemm_gflops"].values())
        device["copy_peak_gb_per_s"] = max(device["copy_gb_per_s"].values())
    return peaks


def merge_peaks(first, second):
    """The better figure of two measurements of the peaks, library by library."""
    merged = {}
    for device in first:
        peak = dict(first[device])
        for key in ("gemm_gflops", "copy_gb_per_s"):
            peak[key] = {name: max(value, second.get(device, {}).get(key, {}).get(name, 0.0))
                         for name, value in first[device][key].items()}
        peak["gemm_peak_gflops"] = max(peak["gemm_gflops"].values())
        peak["copy_peak_gb_per_s"] = max(peak["copy_gb_per_s"].values())
        merged[device] = peak
    return merged
