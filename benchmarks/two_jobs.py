"""Two training jobs side by side: how much of its solo speed each keeps, minicnn against PyTorch.

    python benchmarks/two_jobs.py                          # keras_mnist_cnn, batch 128 (~2 min)
    python benchmarks/two_jobs.py --model zfnet_small --batch 32 --seconds 20

A learner often runs two experiments at once on a laptop. Each job here is
a fresh Python process that builds the model (minicnn.bench.suite_models,
the same network and batch in both libraries), takes a few warm-up steps,
says it is ready, waits for the common start the parent sends once every job
is ready, and then times training steps for ``--seconds``. First one job alone, then two at once (the same library
twice), for minicnn's numba backend and for PyTorch CPU, each with the
threads it picks by itself (nothing set, as in a learner's script).

kept = (solo median step time) / (that job's median step time beside the
other), per job; 0.5 means the two jobs share the machine as well as two
jobs can when each could use it all, less means they get in each other's
way (threads spinning or waiting on cores the other holds).

Writes ``benchmarks/results/two-jobs-cpu-<date>.{md,json}`` (or --out;
``-2``, ``-3`` ... added to a second run of the same day, which keeps the first).
"""

import argparse
import datetime
import json
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
LIBRARIES = {"numba": "minicnn numba", "torch-cpu": "PyTorch CPU"}


def worker(library, model, batch, warmup, seconds):
    """One job: build, warm up, print "ready", read the start time (time.time()) from stdin,
    time steps from then for ``seconds``; print JSON."""
    import numpy
    import torch
    import minicnn
    from minicnn.bench.suite_models import ModelCase
    from minicnn.bench.targets import make_targets

    case = ModelCase(model, "train step", batch, 4)
    arrays = case.inputs(numpy.random.default_rng(0), "time")
    targets, missing = make_targets([library])
    if missing:
        raise SystemExit(f"two_jobs.py needs {library}: missing {missing}")
    (target,) = targets
    times = []
    with target.active():
        run = case.runner(target, arrays, "time")
        for _ in range(warmup):
            run()
            target.synchronize()
        print("ready", flush=True)
        start_at = float(sys.stdin.readline())
        time.sleep(max(0.0, start_at - time.time()))
        while time.time() < start_at + seconds:
            start = time.perf_counter()
            run()
            target.synchronize()
            times.append((time.perf_counter() - start) * 1e3)
    print(json.dumps({"times_ms": times, "minicnn_threads": minicnn.get_num_threads(),
                      "torch_threads": torch.get_num_threads()}))


def jobs(library, count, arguments):
    """Median step time (ms) of each of ``count`` jobs started together, and their thread counts."""
    command = [sys.executable, __file__, "--worker", library, arguments.model, str(arguments.batch),
               str(arguments.warmup), str(arguments.seconds)]
    processes = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(count)]
    for process in processes:                       # every job built and warmed up
        if process.stdout.readline().strip() != "ready":
            raise SystemExit(f"two_jobs.py: a {library} job failed:\n{process.communicate()[1]}")
    start_at = time.time() + 0.2
    for process in processes:
        process.stdin.write(f"{start_at!r}\n")
        process.stdin.flush()
    results = []
    for process in processes:
        out, err = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"two_jobs.py: a {library} job failed:\n{err}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return [statistics.median(result["times_ms"]) for result in results], results[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="keras_mnist_cnn")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=15.0, help="timed seconds per job")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="solo and pair runs per library")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        library, model, batch, warmup, seconds = arguments.worker
        worker(library, model, int(batch), int(warmup), float(seconds))
        return
    sys.path.insert(0, str(ROOT))
    from minicnn.bench.machine import machine_info
    from minicnn.engine import threads as minicnn_threads

    rows, raw = [], {}
    for library, label in LIBRARIES.items():
        solo, pair, threads = [], [], None
        for round_number in range(arguments.rounds):
            alone, detail = jobs(library, 1, arguments)
            both, _ = jobs(library, 2, arguments)
            solo += alone
            pair += both
            threads = detail["minicnn_threads"] if library == "numba" else detail["torch_threads"]
            print(f"{label}, round {round_number + 1}: alone {alone[0]:.1f} ms, "
                  f"side by side {both[0]:.1f} and {both[1]:.1f} ms", file=sys.stderr)
        solo_median = statistics.median(solo)
        kept = [solo_median / value for value in pair]
        raw[library] = {"solo_ms": solo, "pair_ms": pair, "kept": kept, "threads": threads}
        rows.append(f"| {label} | {threads} | {solo_median:.1f} | {statistics.median(pair):.1f} "
                    f"[{min(pair):.1f}-{max(pair):.1f}] | **{statistics.median(kept):.2f}** "
                    f"[{min(kept):.2f}-{max(kept):.2f}] |")
    info = machine_info(threads=None)
    blas = " ".join(str(value) for value in info["numpy_blas"].values() if value)
    date = datetime.date.today().isoformat()
    command = "python benchmarks/two_jobs.py " + " ".join(sys.argv[1:])
    lines = [f"# Two training jobs side by side ({date})", "", f"`{command.strip()}`", "",
             f"- Machine: {info['cpu_model']}, {info['usable_cores']} usable cores, {info['ram_gib']} GiB; "
             f"load average before {info['load_average_before'][0]:.2f}.",
             f"- NumPy's BLAS: {blas}; minicnn's threads by default: "
             f"{minicnn_threads.get_num_threads()}.",
             f"- {arguments.model}, batch {arguments.batch}, float32 training steps; each job a fresh "
             f"process timing steps for {arguments.seconds:g} s from a common start; "
             f"{arguments.rounds} rounds of (one job alone, then two at once) per library.",
             "", "kept = median step alone / median step beside the other job (0.5: a fair share).",
             "", "| library | threads per job | alone, ms | side by side, ms [range over jobs] | kept [range] |",
             "|---|---:|---:|---:|---:|", *rows, ""]
    out = pathlib.Path(arguments.out)
    out.mkdir(parents=True, exist_ok=True)
    from minicnn.bench.report import unused_stem
    stem = unused_stem(out, f"two-jobs-cpu-{date}")
    stem.with_suffix(".md").write_text("\n".join(lines))
    stem.with_suffix(".json").write_text(json.dumps({"machine": info, "arguments": vars(arguments),
                                                     "results": raw}, indent=1, default=str))
    print("\n".join(lines))
    print(f"written: {stem}.md and {stem}.json")


if __name__ == "__main__":
    main()
