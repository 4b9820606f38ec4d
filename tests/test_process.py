"""``import minicnn`` leaves the process alone; minicnn.engine.process.tune() changes it when asked.

Each case runs in a fresh Python, because what is checked acts once per
process: environment variables are read by OpenBLAS and libgomp when they
load, mallopt changes the allocator for the rest of the process, and a
module is imported only once.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROCESS_FILE = os.path.join(ROOT, "minicnn", "engine", "process.py")
TUNED_VARIABLES = ("OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MINICNN_TUNE_PROCESS")


def _glibc_version():
    try:
        return os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        return None


linux_glibc = pytest.mark.skipif(_glibc_version() is None,
                                 reason="mallopt and its effect on page faults are glibc (Linux) features")
linux = pytest.mark.skipif(not os.path.isdir("/proc/self/task"),
                           reason="threads and loaded libraries are read from /proc (Linux)")


def run_python(code, **environment):
    """Run code in a fresh interpreter, without the variables tune() sets; return its last line as JSON."""
    env = {key: value for key, value in os.environ.items() if key not in TUNED_VARIABLES}
    env.update(environment)
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


# ----- import minicnn changes nothing ------------------------------------------------------------

PROBES = r"""
import ctypes, json, os, sys, threading

def tasks():
    # every thread of the process, started by Python or by a C library
    return len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else None

def openmp_loaded():
    try:
        with open("/proc/self/maps") as maps:
            return any(name in line for line in maps for name in ("libgomp", "libomp", "libiomp"))
    except OSError:
        return None

def openblas_threads():
    # OpenBLAS's own thread count, for each OpenBLAS loaded (minicnn/bench/machine.py's symbol names)
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps
                            if "openblas" in os.path.basename(line.split()[-1]).lower()})
    except OSError:
        return None
    counts = {}
    for path in paths:
        library = ctypes.CDLL(path)
        for prefix, suffix in (("scipy_", "64_"), ("", "64_"), ("", "")):
            name = f"{prefix}openblas_get_num_threads{suffix}"
            if hasattr(library, name):
                counts[path] = getattr(library, name)()
                break
    return counts

def state():
    return {"tasks": tasks(), "python_threads": threading.active_count(),
            "openmp": openmp_loaded(), "openblas": openblas_threads()}
"""


def test_import_minicnn_leaves_the_environment_exactly_as_it_was():
    out = run_python(PROBES + """
before = dict(os.environ)
import minicnn
after_minicnn = dict(os.environ)
import minicnn.training, minicnn.data, minicnn.models, minicnn.visualize
after_lab = dict(os.environ)
import minicnn.engine.process
print(json.dumps({"minicnn": after_minicnn == before, "lab": after_lab == before,
                  "changed": sorted(set(after_lab.items()) ^ set(before.items())),
                  "settings": minicnn.engine.process.settings(),
                  "applied": minicnn.engine.process._applied}))
""")
    assert out["minicnn"] and out["lab"], out["changed"]
    assert out["settings"]["tuned"] is False
    assert out["settings"]["memory"] == "unchanged (tune() not called)"
    assert out["applied"] == {}            # tune() did not run: no mallopt, no variable


@linux
def test_import_minicnn_starts_no_thread_and_loads_no_openmp():
    # NumPy first: loading OpenBLAS starts OpenBLAS's own threads, which are
    # NumPy's doing; what import minicnn adds on top of it must be nothing.
    out = run_python(PROBES + """
import numpy
numpy_state = state()
import minicnn
import minicnn.training, minicnn.data, minicnn.models, minicnn.visualize
print(json.dumps({"numpy": numpy_state, "minicnn": state()}))
""")
    assert out["minicnn"] == out["numpy"]
    assert out["minicnn"]["openmp"] is False
    assert out["minicnn"]["python_threads"] == 1


@linux
def test_import_minicnn_first_starts_no_python_thread_and_loads_no_openmp():
    out = run_python(PROBES + """
before = state()
import minicnn
print(json.dumps({"before": before, "after": state()}))
""")
    assert out["after"]["python_threads"] == out["before"]["python_threads"] == 1
    assert out["after"]["openmp"] is False


def test_minicnn_threads_are_its_own_setting():
    out = run_python("""
import json, os
before = dict(os.environ)
import minicnn
default = minicnn.get_num_threads()
previous = minicnn.set_num_threads(1)
print(json.dumps({"default": default, "previous": previous, "now": minicnn.get_num_threads(),
                  "environment_unchanged": dict(os.environ) == before}))
""")
    assert out["default"] >= 1 and out["previous"] == out["default"] and out["now"] == 1
    assert out["environment_unchanged"]


# ----- tune(), called explicitly ------------------------------------------------------------------

REPORT = """
import json, os
print(json.dumps({"settings": settings,
                  "timeout": os.environ.get("OPENBLAS_THREAD_TIMEOUT"),
                  "spin": os.environ.get("GOMP_SPINCOUNT"),
                  "policy": os.environ.get("OMP_WAIT_POLICY")}))
"""
TUNE = "import minicnn\nfrom minicnn.engine import process\nsettings = process.tune()\n"


def test_tune_sets_the_openmp_variables_when_called():
    out = run_python(TUNE + REPORT)
    assert out["settings"]["tuned"] is True
    assert (out["policy"], out["spin"]) == ("PASSIVE", "5000")
    assert out["settings"]["openmp"] == "OMP_WAIT_POLICY=PASSIVE, GOMP_SPINCOUNT=5000"


def test_tune_after_numpy_leaves_the_blas_timeout_unset_and_says_so():
    # import minicnn imports NumPy, which has read OPENBLAS_THREAD_TIMEOUT already
    out = run_python(TUNE + REPORT)
    assert out["timeout"] is None
    assert "NumPy had loaded OpenBLAS before tune()" in out["settings"]["blas"]


def test_tune_before_numpy_sets_the_blas_timeout():
    # process.py imports nothing of minicnn or NumPy; loaded on its own, tune() runs before NumPy
    out = run_python(f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("process", {PROCESS_FILE!r})
process = importlib.util.module_from_spec(spec)
spec.loader.exec_module(process)
assert "numpy" not in sys.modules
settings = process.tune()
""" + REPORT)
    assert out["timeout"] == "4"
    assert out["settings"]["blas"] == "OPENBLAS_THREAD_TIMEOUT=4"


def test_libgomp_loaded_before_tune_is_reported():
    # PyTorch or Numba's OpenMP pool may load libgomp first; then the
    # variables come too late, and settings() must say so.
    code = """
import ctypes, ctypes.util
name = ctypes.util.find_library("gomp")
if name is None:
    import json; print(json.dumps(None)); raise SystemExit
ctypes.CDLL(name)
""" + TUNE + REPORT
    out = run_python(code)
    if out is None:
        pytest.skip("no libgomp on this machine")
    assert "libgomp had loaded already" in out["settings"]["openmp"]


def test_a_value_you_set_is_kept():
    out = run_python(TUNE + REPORT, OPENBLAS_THREAD_TIMEOUT="9", GOMP_SPINCOUNT="0")
    assert out["timeout"] == "9" and out["spin"] == "0"
    assert "set outside minicnn" in out["settings"]["blas"]
    assert "GOMP_SPINCOUNT=0 (set outside minicnn)" in out["settings"]["openmp"]


FAULTS = """
import json, resource
import numpy
faults = []
for _ in range(6):          # like a training step: several blocks held at once, then freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    held = [numpy.ones(n, dtype=numpy.float32)
            for n in (750_000, 2_750_000, 4_250_000, 1_250_000, 3_000_000)]   # 3 to 17 MB
    del held
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps(faults))
"""


@linux_glibc
def test_tune_makes_freed_memory_reused_without_page_faults_and_import_alone_does_not():
    # Without tune() (import minicnn alone), glibc gives some of these 48 MB
    # back to the kernel on free and faults them in again next round: about
    # 1,600 faults a round here (fewer than 48 MB / 4 KiB because NumPy asks
    # for huge pages). After tune(), the first round faults its pages in and
    # later rounds reuse them: 0 faults.
    untuned = run_python("import minicnn" + FAULTS)
    tuned = run_python(TUNE + FAULTS)
    assert min(untuned[1:]) >= 500, untuned
    assert max(tuned[1:]) <= 50, tuned
