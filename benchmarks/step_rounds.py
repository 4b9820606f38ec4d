"""The keras_mnist_cnn training step, numba vs PyTorch, over several fresh processes.

    python benchmarks/step_rounds.py [--rounds 4] [--model keras_mnist_cnn] [--out FILE.md]

One ``benchmarks/run.py --suite models`` run gives one median per library,
and on a shared machine one run's median can be far from the next one's
(the rounds in benchmarks/results/cpu-2026-11-22-tuned/step-rounds-keras_mnist_cnn.md
show how far). This script runs each setting below once per round, in turn,
in a fresh process (so every process-wide setting really starts from
scratch), for several rounds, and reports every round's medians and the
median over the rounds:

- ``same process``: numba and PyTorch in one process with minicnn's process
  settings (minicnn/engine/process.py) -- the issue's protocol.
- ``numba untuned``: numba alone with MINICNN_TUNE_PROCESS=0, to show what
  the process settings are worth.
- ``PyTorch alone, its defaults``: PyTorch alone with MINICNN_TUNE_PROCESS=0,
  so OpenMP keeps libgomp's defaults (idle threads spin a while, GOMP_SPINCOUNT
  turns, before they sleep), the way PyTorch runs when nothing else is in the process. It is the fairest
  figure for PyTorch: minicnn's short-spin setting suits our two thread
  pools (OpenBLAS's and Numba's), not necessarily PyTorch's one.
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
SETTINGS = (  # label, backends, extra environment
    ("same process", "numba,torch", {}),
    ("numba untuned", "numba", {"MINICNN_TUNE_PROCESS": "0"}),
    ("PyTorch alone, its defaults", "torch", {"MINICNN_TUNE_PROCESS": "0"}),
)


def one_run(backends, environment, model, folder):
    """Median step time in ms per backend, from one fresh benchmarks/run.py process."""
    env = dict(os.environ)
    for name in ("OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        env.pop(name, None)                       # let minicnn (or nobody) set them
    env.update(environment)
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
    rows = {label: [] for label, _, _ in SETTINGS}
    machine = None
    with tempfile.TemporaryDirectory() as scratch:
        for round_number in range(arguments.rounds):
            for index, (label, backends, environment) in enumerate(SETTINGS):
                medians, machine_here = one_run(backends, environment, arguments.model,
                                                pathlib.Path(scratch) / f"{round_number}-{index}")
                machine = machine or machine_here
                rows[label].append(medians)
                print(f"round {round_number + 1} {label}: "
                      + ", ".join(f"{name} {ms:.1f} ms" for name, ms in medians.items()),
                      file=sys.stderr, flush=True)

    def middle(label, backend):
        return statistics.median(round_[backend] for round_ in rows[label])

    same_numba, same_torch = middle("same process", "numba"), middle("same process", "torch-cpu")
    alone_torch = middle("PyTorch alone, its defaults", "torch-cpu")
    untuned = middle("numba untuned", "numba")
    lines = [
        f"# {arguments.model} training step, batch 128: {arguments.rounds} rounds of fresh processes",
        "",
        f"`python benchmarks/step_rounds.py --rounds {arguments.rounds} --model {arguments.model}`; "
        f"{machine['cpu_model']}, {machine['usable_cores']} cores, 2 threads per library, "
        f"OPENBLAS_CORETYPE={machine['environment'].get('OPENBLAS_CORETYPE')}, "
        f"load average before the first run {machine['load_average_before'][0]:.2f}.",
        "Each cell: the median of 11 timed steps in one process (ms).",
        "",
        "| round | same process: numba | same process: PyTorch | numba untuned | PyTorch alone, its defaults |",
        "|---:|---:|---:|---:|---:|",
    ]
    for number in range(arguments.rounds):
        lines.append(f"| {number + 1} | {rows['same process'][number]['numba']:.1f} | "
                     f"{rows['same process'][number]['torch-cpu']:.1f} | "
                     f"{rows['numba untuned'][number]['numba']:.1f} | "
                     f"{rows['PyTorch alone, its defaults'][number]['torch-cpu']:.1f} |")
    lines += [
        f"| median | {same_numba:.1f} | {same_torch:.1f} | {untuned:.1f} | {alone_torch:.1f} |",
        "",
        f"- numba / PyTorch images/s in the same process: **{same_torch / same_numba:.2f}x**",
        f"- numba (tuned) / PyTorch alone with its own defaults: **{alone_torch / same_numba:.2f}x**",
        f"- the process settings made the numba step {untuned / same_numba:.2f}x faster",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if arguments.out:
        arguments.out.write_text(text)


if __name__ == "__main__":
    main()
