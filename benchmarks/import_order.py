"""minicnn's numba training step against PyTorch CPU's, whatever the script imported first.

    python benchmarks/import_order.py                  # every order, both models, batch 128 and 32 (~10 min)
    python benchmarks/import_order.py --processes 1 --rounds 2 --steps 4   # a quick look (~2 min)

A learner who compares the two libraries writes ``import numpy as np``,
``import torch`` and ``import minicnn`` in some order, builds the same
network in both, and times a training step of each in the same script.
This benchmark does exactly that, in fresh Python processes, once per import
order:

    minicnn first                    import minicnn, numpy, torch
    NumPy first                      import numpy, minicnn, torch
    NumPy, then PyTorch, then minicnn  import numpy, torch, minicnn

for keras_mnist_cnn and zfnet_small (width 2; the zoo's default), at batch
128 and 32: float32, SGD with momentum 0.9, dropout on, the same weights and
the same batch in both (minicnn.bench.suite_models builds both steps). No
setting is made that a user would not make: no environment variable, no
thread count (both libraries pick their own: minicnn the usable cores,
PyTorch its default, recorded in the results), nothing from
minicnn.engine.process.

In each process the two steps are timed in turns, ``--rounds`` times:
``--warmup`` steps, then ``--steps`` timed steps of one library, then the
same for the other (which library goes first alternates from round to
round). Each process gives one median per library, over all its timed
steps, and their ratio. ``--processes`` fresh processes per case give the
median of those ratios and their range. Every figure is also given as a
fraction of the step's arithmetic limit: its GEMM FLOPs
(minicnn/bench/flops.py) at the float32 GEMM rate NumPy reaches on this
machine with all its threads (a 2048 x 2048 product, best of 5, measured
here).

Writes ``benchmarks/results/import-order-cpu-<date>.{md,json}`` (or --out;
``-2``, ``-3`` ... added to a second run of the same day, which keeps the first).
"""

import argparse
import datetime
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
ORDERS = {
    "minicnn first": ("minicnn", "numpy", "torch"),
    "NumPy first": ("numpy", "minicnn", "torch"),
    "NumPy, then PyTorch, then minicnn": ("numpy", "torch", "minicnn"),
}
CASES = (("keras_mnist_cnn", 128), ("keras_mnist_cnn", 32), ("zfnet_small", 128), ("zfnet_small", 32))


# ----- one process: import in the given order, time both steps ---------------------------------

def child(order, model, batch, rounds, warmup, steps):
    """Runs in a fresh interpreter: import in ``order``, then time the two steps; print JSON."""
    for name in order:
        __import__(name)                     # the order under test, before anything else
    import numpy
    import torch
    import minicnn
    from minicnn.bench.suite_models import ModelCase
    from minicnn.bench.targets import make_targets

    case = ModelCase(model, "train step", batch, 4)
    arrays = case.inputs(numpy.random.default_rng(0), "time")
    targets, missing = make_targets(["numba", "torch-cpu"])
    if missing:
        raise SystemExit(f"import_order.py needs both numba and PyTorch CPU: missing {missing}")
    runs = []
    for target in targets:
        with target.active():
            runs.append((target, case.runner(target, arrays, "time")))
    times = {target.name: [] for target, _ in runs}
    for number in range(rounds):
        for target, run in (runs if number % 2 == 0 else runs[::-1]):
            with target.active():
                for step in range(warmup + steps):
                    start = time.perf_counter()
                    run()
                    target.synchronize()
                    if step >= warmup:
                        times[target.name].append((time.perf_counter() - start) * 1e3)
    print(json.dumps({
        "times_ms": times,
        "minicnn_threads": minicnn.get_num_threads(),
        "torch_threads": torch.get_num_threads(),
        "gemm_flops": case.work.flops,
        "environment_unchanged": all(name not in os.environ for name in
                                     ("OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")),
    }))


def run_child(order, model, batch, arguments):
    command = [sys.executable, __file__, "--child", ",".join(order), model, str(batch),
               str(arguments.rounds), str(arguments.warmup), str(arguments.steps)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


# ----- the machine ---------------------------------------------------------------------------

def gemm_rate():
    """Float32 GEMM GFLOP/s that NumPy reaches here with all its threads (best of 5), in a fresh process."""
    code = ("import numpy, time\n"
            "a = numpy.random.default_rng(0).standard_normal((2048, 2048), dtype=numpy.float32)\n"
            "a @ a\n"
            "best = float('inf')\n"
            "for _ in range(5):\n"
            "    start = time.perf_counter(); a @ a; best = min(best, time.perf_counter() - start)\n"
            "print(2 * 2048**3 / best / 1e9)\n")
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.strip())


def machine():
    """The machine, the libraries and their threads; PyTorch imported for its version and threads."""
    import ctypes
    try:
        import torch
    except ImportError:
        torch = None
    from minicnn.bench.machine import _openblas_libraries, machine_info
    from minicnn.engine import threads
    info = machine_info(threads=None)
    if torch is not None:
        info["torch_parallel"] = [line.strip() for line in torch.__config__.parallel_info().splitlines()[:6]]
    info["numpy_openblas_threads"] = (threads._blas["library"][1]() if threads.blas_control() else None)
    info["openblas_kernels"] = {}
    for path, library, prefix, suffix in _openblas_libraries():
        corename = getattr(library, f"{prefix}openblas_get_corename{suffix}")
        corename.restype = ctypes.c_char_p
        info["openblas_kernels"][os.path.basename(path)] = corename().decode()
    return info


# ----- the parent: every case, every order, several processes ----------------------------------

def summarize(results, limit_ms):
    numba = [statistics.median(result["times_ms"]["numba"]) for result in results]
    torch = [statistics.median(result["times_ms"]["torch-cpu"]) for result in results]
    ratios = [t / n for n, t in zip(numba, torch)]
    return {
        "numba_ms": statistics.median(numba), "numba_range_ms": [min(numba), max(numba)],
        "torch_ms": statistics.median(torch), "torch_range_ms": [min(torch), max(torch)],
        "ratio": statistics.median(ratios), "ratio_range": [min(ratios), max(ratios)],
        "numba_of_limit": limit_ms / statistics.median(numba),
        "torch_of_limit": limit_ms / statistics.median(torch),
        "limit_ms": limit_ms,
        "per_process": [{"numba_ms": n, "torch_ms": t, "ratio": r} for n, t, r in zip(numba, torch, ratios)],
        "threads": {"minicnn": results[0]["minicnn_threads"], "torch": results[0]["torch_threads"]},
        "environment_unchanged": all(result["environment_unchanged"] for result in results),
    }


def markdown(document):
    info = document["machine"]
    lines = [
        f"# numba training step vs PyTorch CPU, in every import order ({document['date']})",
        "",
        f"`{document['command']}`",
        "",
        f"- Machine: {info['cpu_model']}, {info['usable_cores']} usable cores, {info['ram_gib']} GiB; "
        f"load average before {info['load_average_before'][0]:.2f}, after {document['load_average_after'][0]:.2f}.",
        f"- NumPy's BLAS: {info['numpy_blas'].get('name')} {info['numpy_blas'].get('version')} "
        f"({(info['numpy_blas'].get('openblas configuration') or '').strip()}); kernels chosen at run "
        f"time: {', '.join(f'{name} {kernel}' for name, kernel in info['openblas_kernels'].items())} "
        f"(OPENBLAS_CORETYPE={info['environment'].get('OPENBLAS_CORETYPE')}); NumPy's OpenBLAS threads: "
        f"{info.get('numpy_openblas_threads')}.",
        f"- Threads, as each library chose them (nothing set): minicnn "
        f"{document['cases'][0]['threads']['minicnn']}, PyTorch {document['cases'][0]['threads']['torch']}.",
        f"- Versions: " + ", ".join(f"{name} {version}" for name, version in sorted(info["versions"].items())
                                     if version) + ".",
        f"- float32 GEMM rate (NumPy, 2048 x 2048, all threads, best of 5): "
        f"{document['gemm_gflops']:.0f} GFLOP/s; a step's arithmetic limit is its GEMM FLOPs at that rate.",
        f"- Each case: {document['settings']['processes']} fresh processes; in each, "
        f"{document['settings']['rounds']} rounds of {document['settings']['warmup']} warm-up + "
        f"{document['settings']['steps']} timed steps per library, the libraries taking turns.",
        f"- `import minicnn` left OPENBLAS_THREAD_TIMEOUT, OMP_WAIT_POLICY and GOMP_SPINCOUNT unset in every "
        f"process: {all(case['environment_unchanged'] for case in document['cases'])}.",
        "",
        "ratio = PyTorch's step time / numba's (images/s of numba over PyTorch's; above 1: numba is faster).",
        "Medians over processes, [min - max] of the per-process medians.",
        "",
        "| model | batch | import order | numba ms | PyTorch ms | ratio | numba, of limit | PyTorch, of limit |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for case in document["cases"]:
        lines.append(
            f"| {case['model']} | {case['batch']} | {case['order']} "
            f"| {case['numba_ms']:.1f} [{case['numba_range_ms'][0]:.1f}-{case['numba_range_ms'][1]:.1f}] "
            f"| {case['torch_ms']:.1f} [{case['torch_range_ms'][0]:.1f}-{case['torch_range_ms'][1]:.1f}] "
            f"| **{case['ratio']:.2f}** [{case['ratio_range'][0]:.2f}-{case['ratio_range'][1]:.2f}] "
            f"| {100 * case['numba_of_limit']:.0f}% | {100 * case['torch_of_limit']:.0f}% |")
    lines += ["", f"Arithmetic limits: " + ", ".join(
        f"{case['model']} batch {case['batch']} {case['limit_ms']:.1f} ms"
        for case in document["cases"] if case["order"] == "minicnn first") + "."]
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        order, model, batch, rounds, warmup, steps = sys.argv[2:8]
        return child(order.split(","), model, int(batch), int(rounds), int(warmup), int(steps))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=3, help="fresh processes per case (default 3)")
    parser.add_argument("--rounds", type=int, default=4, help="turns per library in each process (default 4)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps before each turn (default 2)")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per turn (default 6)")
    parser.add_argument("--models", default=",".join(sorted({model for model, _ in CASES})))
    parser.add_argument("--batches", default="128,32")
    parser.add_argument("--out", type=pathlib.Path, default=None,
                        help="folder for the results (default benchmarks/results)")
    arguments = parser.parse_args()
    from tqdm import tqdm

    cases = [(model, batch) for model, batch in CASES
             if model in arguments.models.split(",") and str(batch) in arguments.batches.split(",")]
    info = machine()
    rate = gemm_rate()
    collected = {(model, batch, label): [] for model, batch in cases for label in ORDERS}
    jobs = [(model, batch, label) for _ in range(arguments.processes)
            for model, batch in cases for label in ORDERS]
    for model, batch, label in tqdm(jobs, desc="fresh processes", unit="process"):
        collected[(model, batch, label)].append(run_child(ORDERS[label], model, batch, arguments))
    document = {
        "date": datetime.date.today().isoformat(),
        "command": "python benchmarks/import_order.py " + " ".join(sys.argv[1:]),
        "machine": info, "load_average_after": list(os.getloadavg()), "gemm_gflops": rate,
        "settings": {key: getattr(arguments, key) for key in ("processes", "rounds", "warmup", "steps")},
        "cases": [],
    }
    for (model, batch, label), results in collected.items():
        limit_ms = results[0]["gemm_flops"] / (rate * 1e9) * 1e3
        document["cases"].append({"model": model, "batch": batch, "order": label,
                                  **summarize(results, limit_ms), "raw": results})
    folder = arguments.out or ROOT / "benchmarks" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    from minicnn.bench.report import unused_stem
    stem = unused_stem(folder, f"import-order-cpu-{document['date']}")
    stem.with_suffix(".json").write_text(json.dumps(document, indent=1) + "\n")
    text = markdown(document)
    stem.with_suffix(".md").write_text(text)
    print(text)
    print(f"written: {stem}.md and {stem}.json")


if __name__ == "__main__":
    main()
