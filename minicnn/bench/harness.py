"""Check, then time: one case on every target.

For each case (an op on a workload, a model's training step, a point of a
scaling curve) and each target (numpy, numba, cupy, torch-cpu, torch-cuda):

    1. compute the result on the target and compare it with the NumPy
       reference (minicnn's plain-array kernels) on the same inputs, from the
       same seed. The error is

           max |result - reference| / max |reference|

       for every output (integer outputs, like pooling switches, must be
       equal). Above the case's float32 tolerance the target is not timed:
       a fast wrong answer is not a result. The message says by how much.
    2. time it (timing.py): warm-up, calibration, repeated samples, medians.
    3. turn the median into rates (``add_rates``, once the run's peaks are
       known): GFLOP/s and its fraction of the device's GEMM peak, GB/s and
       its fraction of the copy peak (machine.py); and the speed-up over the
       numpy backend.

A case provides: ``suite``, ``name``, ``workload``, ``work`` (flops.Work),
``params``, ``tolerance``, ``check_differs`` (whether the check uses smaller
inputs than the timing), ``inputs(rng, purpose)``, ``runner(target, inputs,
purpose)`` (a function with no arguments returning a tuple of outputs) and
``skip_reason(target)``. purpose is "check" or "time".
"""

import sys
import traceback

import numpy

from ..engine import backend
from .timing import measure


def relative_error(expected, actual):
    """max |actual - expected| / max |expected| over all outputs (0 for an exact match).

    Integer outputs must match exactly (error 0 or infinity). A shape
    mismatch raises ValueError with both shapes.
    """
    if len(expected) != len(actual):
        raise ValueError(f"{len(actual)} outputs, the reference has {len(expected)}")
    worst = 0.0
    for index, (want, got) in enumerate(zip(expected, actual)):
        if want.shape != got.shape:
            raise ValueError(f"output {index} has shape {got.shape}, the reference's is {want.shape}")
        if numpy.issubdtype(want.dtype, numpy.integer):
            worst = max(worst, 0.0 if numpy.array_equal(want, got) else float("inf"))
            continue
        want64, got64 = want.astype(numpy.float64), got.astype(numpy.float64)
        scale = max(float(numpy.abs(want64).max(initial=0.0)), 1e-30)
        worst = max(worst, float(numpy.abs(got64 - want64).max(initial=0.0)) / scale)
    return worst


def _free_memory():
    """Give cached GPU memory back between targets (reference counting frees the rest;
    gc.collect() is left out: with PyTorch loaded it takes a third of a second)."""
    if backend.cupy is not None:
        backend.cupy.get_default_memory_pool().free_all_blocks()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def add_rates(record, peaks):
    """Fill in every timed result of a case record: GFLOP/s, GB/s, their fractions of
    the device's peaks (machine.measure_peaks), images/s for models. From the median."""
    for result in record["results"]:
        if result.get("status") != "ok":
            continue
        median = result["timing"]["median_ms"] / 1e3
        peak = peaks.get(result["device"], {})
        if record["flops"]:
            result["gflops"] = record["flops"] / median / 1e9
            if peak.get("gemm_peak_gflops"):
                result["fraction_of_gemm_peak"] = result["gflops"] / peak["gemm_peak_gflops"]
        if record["bytes"]:
            result["gb_per_s"] = record["bytes"] / median / 1e9
            if peak.get("copy_peak_gb_per_s"):
                result["fraction_of_copy_peak"] = result["gb_per_s"] / peak["copy_peak_gb_per_s"]
        if record["suite"] == "models":
            result["images_per_s"] = record["params"]["batch"] / median


def run_case(case, targets, reference, settings, log=print):
    """Check and time ``case`` on each target; returns the case's JSON record
    (the rates come later, from ``add_rates``, once the peaks are final)."""
    record = {
        "suite": case.suite, "name": case.name, "workload": case.workload, "params": case.params,
        "flops": case.work.flops, "bytes": case.work.bytes, "flop_formula": case.work.formula,
        "tolerance": case.tolerance, "results": [],
    }
    wanted = [t for t in targets if not case.skip_reason(t)]
    expected = check_inputs = timed_inputs = None
    if wanted:
        check_inputs = case.inputs(numpy.random.default_rng(settings["seed"]), "check")
        timed_inputs = (case.inputs(numpy.random.default_rng(settings["seed"]), "time")
                        if case.check_differs else check_inputs)
        with reference.active():
            expected = [reference.fetch(o) for o in case.runner(reference, check_inputs, "check")()]
        _free_memory()
    for target in targets:
        result = {"backend": target.name, "library": target.library, "device": target.device}
        record["results"].append(result)
        reason = case.skip_reason(target)
        if reason:
            result.update(status="skipped", reason=reason)
            continue
        try:
            with target.active():
                run = case.runner(target, check_inputs, "check")
                check_error = relative_error(expected, [target.fetch(o) for o in run()])
                result["check"] = {"max_relative_error": check_error, "tolerance": case.tolerance,
                                   "passed": check_error <= case.tolerance}
                if check_error > case.tolerance:
                    result.update(status="check failed", reason=(
                        f"max |result - reference| / max |reference| = {check_error:.3g} exceeds the "
                        f"float32 tolerance {case.tolerance:g}; not timed"))
                    log(f"CHECK FAILED  {case.name} [{case.workload}] on {target.name}: {result['reason']}")
                    continue
                if case.check_differs:
                    run = case.runner(target, timed_inputs, "time")
                timing = measure(run, target.synchronize, **settings["timing"])
        except Exception as error:  # out of memory, a missing kernel, ...: report, go on
            result.update(status="error", reason=f"{type(error).__name__}: {error}")
            log(f"ERROR  {case.name} [{case.workload}] on {target.name}: {result['reason']}")
            log(traceback.format_exc(limit=-3))
            continue
        finally:
            run = None
            _free_memory()
        result.update(status="ok", timing=timing.summary())
        log(f"  {case.suite:7s} {case.name:24s} {case.workload[:44]:44s} {target.name:10s} "
            f"{timing.median_s * 1e3:10.3f} ms  (check {check_error:.1e})")
    _speedups(record)
    return record


def _speedups(record):
    """speedup_vs_numpy = numpy's median / this median, where both were timed."""
    times = {r["backend"]: r["timing"]["median_ms"] for r in record["results"] if r.get("status") == "ok"}
    if "numpy" in times:
        for result in record["results"]:
            if result.get("status") == "ok":
                result["speedup_vs_numpy"] = times["numpy"] / result["timing"]["median_ms"]
