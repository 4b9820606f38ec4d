"""The command line: ``python benchmarks/run.py ...`` or ``minicnn bench ...``.

    --quick                      tiny shapes, few repetitions: a smoke test (well under a minute)
    --suite ops,models,scaling   which suites (default: all three)
    --backends numpy,numba,cupy,torch
                                 which backends (default: every one this machine has;
                                 "torch" means torch-cpu and, with a GPU, torch-cuda)
    --out DIR                    where results.json, results.md and the PNGs go
                                 (default benchmarks/results/<cpu|gpu>-<date>[-quick])
    --threads N                  CPU threads for every library (default 2)
    --only TEXT[,TEXT]           only cases whose op or workload contains one of these
    --include-cpu-zfnet          also run ZFNet at 224x224 on CPU backends

``main(args)`` returns the exit status: 0 when every result passed its
correctness check, 1 when one failed or raised.
"""

import argparse
import datetime
import json
import os
import pathlib
import sys
import time

from . import harness, machine, plots, report, suite_models, suite_ops, suite_scaling, targets

SUITES = ("ops", "models", "scaling")


def add_arguments(parser):
    """The options, on an argparse parser (``minicnn bench`` adds them to its subparser)."""
    parser.add_argument("--quick", action="store_true",
                        help="tiny shapes and 3 repetitions: checks that everything runs (not a measurement)")
    parser.add_argument("--suite", default=",".join(SUITES),
                        help="comma-separated suites among ops, models, scaling (default: all)")
    parser.add_argument("--backends", default=",".join(targets.ALL_NAMES),
                        help="comma-separated among numpy, numba, cupy, torch (= torch-cpu, torch-cuda); "
                             "missing ones are reported and skipped (default: all)")
    parser.add_argument("--out", type=pathlib.Path, default=None,
                        help="output folder (default benchmarks/results/<cpu|gpu>-<date>[-quick])")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads for NumPy's BLAS, Numba and PyTorch on the CPU (default 2, the same "
                             "for every library so none wins by using more cores)")
    parser.add_argument("--repeat", type=int, default=None, help="timed samples per result (default 7; quick 3)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed warm-up calls (default 2; quick 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every input and weight (default 0)")
    parser.add_argument("--batch", type=int, default=128, help="batch of the 28x28 model steps (default 128)")
    parser.add_argument("--zfnet-batch", type=int, default=32, help="batch of the ZFNet 224x224 cases (default 32)")
    parser.add_argument("--include-cpu-zfnet", action="store_true",
                        help="also run ZFNet at 224x224 on CPU backends (slow: its steps are many times "
                             "the work of the 28x28 models')")
    parser.add_argument("--only", default="",
                        help="only cases whose op or workload contains one of these comma-separated texts")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    return parser


def parse(argv=None):
    parser = argparse.ArgumentParser(prog="minicnn bench", description=__doc__.splitlines()[0])
    return add_arguments(parser).parse_args(argv)


def _log(message):
    print(message, file=sys.stderr, flush=True)


def _settings(args):
    suites = [name.strip() for name in args.suite.split(",") if name.strip()]
    unknown = sorted(set(suites) - set(SUITES))
    if unknown:
        raise SystemExit(f"minicnn bench: unknown suite {', '.join(unknown)}; choose from {', '.join(SUITES)}")
    quick = args.quick
    timing = {"warmup": 1 if quick else 2, "repeat": 3 if quick else 7, "min_sample_s": 0.002 if quick else 0.02}
    if args.repeat is not None:
        timing["repeat"] = max(1, args.repeat)
    if args.warmup is not None:
        timing["warmup"] = max(0, args.warmup)
    return {"quick": quick, "suites": suites, "threads": args.threads, "seed": args.seed,
            "batch": args.batch, "zfnet_batch": args.zfnet_batch,
            "include_cpu_zfnet": args.include_cpu_zfnet, "only": args.only, "timing": timing,
            "gemm_sizes": {"cpu": 512 if quick else 2048, "gpu": 1024 if quick else 4096},
            "copy_megabytes": 16 if quick else 256,
            "tolerance": {"ops": suite_ops.TOLERANCE, "scaling": suite_ops.TOLERANCE,
                          "models": suite_models.TOLERANCE}}


def _cases(settings, have_gpu):
    chosen, notes = [], []
    if "ops" in settings["suites"]:
        chosen += suite_ops.cases(settings["quick"])
    if "models" in settings["suites"]:
        model_cases, notes = suite_models.cases(settings["quick"], have_gpu, settings["batch"],
                                                settings["zfnet_batch"], settings["include_cpu_zfnet"],
                                                settings["seed"])
        chosen += model_cases
    if "scaling" in settings["suites"]:
        chosen += suite_scaling.cases(settings["quick"])
    wanted = [text.strip().lower() for text in settings["only"].split(",") if text.strip()]
    if wanted:
        chosen = [case for case in chosen
                  if any(text in case.name.lower() or text in case.workload.lower() for text in wanted)]
    return chosen, notes


def _default_out(have_gpu, quick):
    kind = "gpu" if have_gpu else "cpu"
    return pathlib.Path("benchmarks/results") / f"{kind}-{datetime.date.today().isoformat()}{'-quick' if quick else ''}"


def main(args=None):
    """Run the benchmarks; ``args``: a list of strings, an argparse Namespace, or None (sys.argv)."""
    if args is None or isinstance(args, (list, tuple)):
        args = parse(args)
    started = time.perf_counter()
    settings = _settings(args)
    machine.set_thread_variables(settings["threads"])    # before PyTorch loads its OpenMP
    try:
        names = targets.expand(args.backends.split(","))
    except ValueError as error:  # expand names the unknown backend and lists the known ones
        raise SystemExit(f"minicnn bench: --backends: {error}") from None
    chosen_targets, missing = targets.make_targets(names)
    if not chosen_targets:
        raise SystemExit(f"minicnn bench: none of the backends is available here: {missing}")
    threads = machine.limit_threads(settings["threads"])
    info = machine.machine_info(threads)
    have_gpu = any(target.device == "gpu" for target in chosen_targets)
    _log(f"minicnn bench: {', '.join(t.name for t in chosen_targets)}; "
         f"{settings['threads']} CPU threads; load average {info['load_average_before']}")
    peaks = machine.measure_peaks(chosen_targets, settings["gemm_sizes"], settings["copy_megabytes"],
                                  settings["timing"])
    for device, peak in peaks.items():
        _log(f"  {device} GEMM peak {peak['gemm_peak_gflops']:.1f} GFLOP/s, copy {peak['copy_peak_gb_per_s']:.1f} GB/s")
    reference = targets.MinicnnTarget("numpy")
    cases, notes = _cases(settings, have_gpu)
    records = []
    for case in cases:
        try:
            records.append(harness.run_case(case, chosen_targets, reference, settings, _log))
        except Exception as error:  # the reference itself failed: record it, go on
            _log(f"ERROR  {case.name} [{case.workload}]: the NumPy reference raised {type(error).__name__}: {error}")
            records.append({"suite": case.suite, "name": case.name, "workload": case.workload,
                            "params": case.params, "flops": case.work.flops, "bytes": case.work.bytes,
                            "flop_formula": case.work.formula, "tolerance": case.tolerance,
                            "results": [{"backend": "numpy (reference)", "status": "error",
                                         "reason": f"{type(error).__name__}: {error}"}]})
    peaks = machine.merge_peaks(peaks, machine.measure_peaks(chosen_targets, settings["gemm_sizes"],
                                                             settings["copy_megabytes"], settings["timing"]))
    for record in records:
        harness.add_rates(record, peaks)
    info["load_average_after"] = list(os.getloadavg())
    if machine.backend.numba is not None:
        try:
            info["threads"]["numba_threading_layer_used"] = machine.backend.numba.threading_layer()
        except ValueError:  # no parallel Numba code ran
            pass
    failed = [f"{record['name']} [{record['workload']}] on {result['backend']}: {result['reason']}"
              for record in records for result in record["results"]
              if result.get("status") in ("check failed", "error")]
    document = {
        "schema_version": 1,
        "settings": settings,
        "machine": info,
        "peaks": peaks,
        "backends": [target.name for target in chosen_targets],
        "missing_backends": missing,
        "compiled_kernels": {t.name: t.compiled_kernels() for t in chosen_targets if t.library == "minicnn"},
        "cases": records,
        "notes": notes,
        "failures": failed,
        "all_checks_passed": not failed,
        "duration_s": time.perf_counter() - started,
    }
    out = args.out or _default_out(have_gpu, settings["quick"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(document, indent=1, default=_json_default) + "\n")
    (out / "results.md").write_text(report.markdown(document))
    written = []
    if not args.no_plots:
        try:
            written = plots.plot_all(json.loads((out / "results.json").read_text()), out)
        except ImportError as error:
            _log(f"minicnn bench: no plots ({error}); install matplotlib")
    _log(f"minicnn bench: wrote {out / 'results.json'}, {out / 'results.md'}"
         + (f" and {len(written)} plots" if written else "") + f" in {document['duration_s']:.0f} s")
    if failed:
        _log("minicnn bench: FAILED checks or errors:\n  " + "\n  ".join(failed))
    return 1 if failed else 0


def _json_default(value):
    """NumPy scalars and tuples of them, for json.dumps."""
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
