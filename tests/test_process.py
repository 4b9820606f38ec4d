"""minicnn.engine.process: the two process settings applied on import.

Each case runs in a fresh Python, because both settings act once per
process (OpenBLAS reads its variable when it loads; mallopt changes the
allocator for the rest of the process).
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

def _glibc_version():
    try:
        return os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        return None


linux_glibc = pytest.mark.skipif(_glibc_version() is None,
                                 reason="mallopt and its effect on page faults are glibc (Linux) features")


def run_python(code, **environment):
    """Run code in a fresh interpreter; return what it printed, parsed as JSON."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("OPENBLAS_THREAD_TIMEOUT", "MINICNN_TUNE_PROCESS",
                          "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(environment)
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                            capture_output=True, text=True, timeout=120, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


REPORT = """
import json, os
print(json.dumps({"settings": minicnn.engine.process.settings(),
                  "timeout": os.environ.get("OPENBLAS_THREAD_TIMEOUT"),
                  "spin": os.environ.get("GOMP_SPINCOUNT"),
                  "policy": os.environ.get("OMP_WAIT_POLICY")}))
"""


def test_import_sets_the_blas_timeout_before_numpy_loads():
    out = run_python("import minicnn" + REPORT)
    assert out["timeout"] == "4"
    assert out["settings"]["tuned"] is True
    assert out["settings"]["blas"] == "OPENBLAS_THREAD_TIMEOUT=4"
    assert (out["policy"], out["spin"]) == ("PASSIVE", "5000")
    assert out["settings"]["openmp"] == "OMP_WAIT_POLICY=PASSIVE, GOMP_SPINCOUNT=5000"


def test_libgomp_loaded_before_minicnn_is_reported():
    # PyTorch or Numba's OpenMP pool may load libgomp first; then the
    # variables come too late, and settings() must say so.
    code = """
import ctypes, ctypes.util
name = ctypes.util.find_library("gomp")
if name is None:
    import json; print(json.dumps(None)); raise SystemExit
ctypes.CDLL(name)
import minicnn""" + REPORT
    out = run_python(code)
    if out is None:
        pytest.skip("no libgomp on this machine")
    assert "libgomp had loaded already" in out["settings"]["openmp"]

def test_a_value_you_set_is_kept():
    out = run_python("import minicnn" + REPORT, OPENBLAS_THREAD_TIMEOUT="9", GOMP_SPINCOUNT="0")
    assert out["timeout"] == "9" and out["spin"] == "0"
    assert "set outside minicnn" in out["settings"]["blas"]
    assert "GOMP_SPINCOUNT=0 (set outside minicnn)" in out["settings"]["openmp"]


def test_numpy_imported_first_is_reported_not_hidden():
    out = run_python("import numpy\nimport minicnn" + REPORT)
    assert out["timeout"] is None
    assert "NumPy was imported before minicnn" in out["settings"]["blas"]


def test_the_environment_can_turn_it_off():
    out = run_python("import minicnn" + REPORT, MINICNN_TUNE_PROCESS="0")
    assert out["timeout"] is None and out["spin"] is None and out["policy"] is None
    unchanged = "unchanged (MINICNN_TUNE_PROCESS=0)"
    assert out["settings"] == {"tuned": False, "blas": unchanged, "openmp": unchanged,
                               "memory": unchanged}


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
def test_freed_memory_is_reused_without_page_faults():
    # Untuned, glibc gives some of these 48 MB back to the kernel on free and
    # faults them in again next round: 1,626 faults a round here (fewer than
    # 48 MB / 4 KiB because NumPy asks for huge pages). Tuned, the first
    # round faults its pages in and later rounds reuse them: 0 faults.
    untuned = run_python("import minicnn" + FAULTS, MINICNN_TUNE_PROCESS="0")
    tuned = run_python("import minicnn" + FAULTS)
    assert min(untuned[1:]) >= 500, untuned
    assert max(tuned[1:]) <= 50, tuned
