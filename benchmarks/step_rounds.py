"""The keras_mnist_cnn training step, numba vs PyTorch, over several fresh processes.

    python benchmarks/step_rounds.py [--rounds 4] [--model keras_mnist_cnn] [--out FILE.md]

One ``benchmarks/run.py --suite models`` run gives one median per library,
and on a shared machine one run's median can be far from the next one's.
This script runs each setting below once per round, in turn, in a fresh
process (so every process-wide state really starts from scratch), for
several rounds, and reports every round's medians and the median over the
rounds:

- ``same process``: numba and PyTorch in one process -- the issue's
  protocol. Nothing about the process is tuned: minicnn changes nothing on
  import and the benchmarks never call minicnn.engine.process.tune(), so
  this is what a user's script gets.
- ``PyTorch alone``: PyTorch without minicnn's kernels in the process, with
  its own defaults: the fairest figure for PyTorch.

Every run starts without OPENBLAS_THREAD_TIMEOUT, OMP_WAIT_POLICY and
GOMP_SPINCOUNT in its environment, so every library keeps its defaults.
(Rounds measured while ``import minicnn`` still tuned the process, with a
"numba untuned" column, are in
benchmarks/results/cpu-2026-11-22-tuned/step-rounds-keras_mnist_cnn.md.)
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
SETTINGS = (  # label, backends
    ("same process", "numba,torch"),
    ("PyTorch alone", "torch"),
)
DEFAULTED = ("OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")  # how idle threads wait


def one_run(backends, model, folder):
    """Median step time in ms per backend, from one fresh benchmarks/run.py process."""
    env = {name: value for name, value in os.environ.items() if name not in DEFAULTED}
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--suite", "models",
                    "--only", model, "--backends", backends, "--no-plots", "--out", str(folder),
                    "--repeat", "11"], env=env, check=True, capture_output=True)
    document = json.loads((folder / "results.json").read_text())
    medians = {}
    for case in document["cases"]:
        if case["name"] == "train step" and case["params"]["model"] == model:
            for result in case["results"]:
                medians[result["backend"]] = result["timing"]["median_ms"]
    return medians, document["machine"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--model", default="keras_mnist_cnn")
    parser.add_argument("--out", type=pathlib.Path, help="write the markdown table here too")
    arguments = parser.parse_args()
    rows = {label: [] for label, _ in SETTINGS}
    machine = None
    with tempfile.TemporaryDirectory() as scratch:
        for round_number in range(arguments.rounds):
            for index, (label, backends) in enumerate(SETTINGS):
                medians, machine_here = one_run(backends, arguments.model,
                                                pathlib.Path(scratch) / f"{round_number}-{index}")
                machine = machine or machine_here
                rows[label].append(medians)
                print(f"round {round_number + 1} {label}: "
                      + ", ".join(f"{name} {ms:.1f} ms" for name, ms in medians.items()),
                      file=sys.stderr, flush=True)

    def middle(label, backend):
        return statistics.median(round_[backend] for round_ in rows[label])

    same_numba, same_torch = middle("same process", "numba"), middle("same process", "torch-cpu")
    alone_torch = middle("PyTorch alone", "torch-cpu")
    lines = [
        f"# {arguments.model} training step, batch 128: {arguments.rounds} rounds of fresh processes",
        "",
        f"`python benchmarks/step_rounds.py --rounds {arguments.rounds} --model {arguments.model}`; "
        f"{machine['cpu_model']}, {machine['usable_cores']} cores, "
        f"{machine['threads']['requested']} threads per library, process settings: "
        f"{'tuned (not what a user gets)' if machine['process']['tuned'] else 'none (tune() not called)'}, "
        f"OPENBLAS_CORETYPE={machine['environment'].get('OPENBLAS_CORETYPE')}, "
        f"load average before the first run {machine['load_average_before'][0]:.2f}.",
        "Each cell: the median of 11 timed steps in one process (ms).",
        "",
        "| round | same process: numba | same process: PyTorch | PyTorch alone |",
        "|---:|---:|---:|---:|",
    ]
    for number in range(arguments.rounds):
        lines.append(f"| {number + 1} | {rows['same process'][number]['numba']:.1f} | "
                     f"{rows['same process'][number]['torch-cpu']:.1f} | "
                     f"{rows['PyTorch alone'][number]['torch-cpu']:.1f} |")
    lines += [
        f"| median | {same_numba:.1f} | {same_torch:.1f} | {alone_torch:.1f} |",
        "",
        f"- numba / PyTorch images/s in the same process: **{same_torch / same_numba:.2f}x**",
        f"- numba (same process) / PyTorch alone: **{alone_torch / same_numba:.2f}x**",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if arguments.out:
        arguments.out.write_text(text)


if __name__ == "__main__":
    main()
