"""Is a change slower? The numba training step of two source trees, in alternating fresh processes.

    git worktree add /tmp/before HEAD~3         # the tree before the change
    python benchmarks/compare_trees.py /tmp/before . [--rounds 8] [--steps 30] [--out FILE.md]
                                                     [--cases training|elsewhere]

``--cases elsewhere`` times, in place of the numba training steps, what a
change to them must not slow down (issue 23's "nothing slower elsewhere"):
the numpy backend's training step, numba inference (forward under no_grad,
evaluation mode), and the deconvnet's projection of one map for one image
at batch 1, which is what an explorer click computes (the page's /api/unit:
the forward pass up to the layer, then down to the pixels; the HTTP around
it is benchmarks/explore_latency.py's).

Each round runs every case once per tree, in turn (before, after), each in
a fresh Python process that imports NumPy and then minicnn from that tree
(PYTHONPATH), as a learner's script does, and times ``--steps`` training
steps of the model after 3 warm-up steps (minicnn.bench.suite_models: float32,
SGD with momentum, dropout on, the same weights and batch in both trees).
Each process gives the median and the fastest of its steps; the table gives,
per case, the median over the rounds of each, and after / before.

On a shared 2-core machine one process's median can be far from the next
one's; the alternation puts both trees under the same drift, the fastest
step is the figure least moved by other work on the machine, and the spread
is printed so that a difference can be compared with it.
"""

import argparse
import datetime
import json
import os
import pathlib
import statistics
import subprocess
import sys

CASES = (("keras_mnist_cnn", 128), ("keras_mnist_cnn", 32), ("zfnet_small", 128), ("zfnet_small", 32))

# --cases elsewhere: (what, model, backend, batch); "projection" is the deconvnet's, of the
# model's last convolution's map 0 at its strongest activation
ELSEWHERE = (("train step", "keras_mnist_cnn", "numpy", 32), ("train step", "zfnet_small", "numpy", 32),
             ("forward", "keras_mnist_cnn", "numba", 128), ("forward", "zfnet_small", "numba", 128),
             ("forward", "keras_mnist_cnn", "numba", 1),
             ("projection", "keras_mnist_cnn", "numba", 1), ("projection", "zfnet_small", "numba", 1),
             ("projection", "zfnet_small", "numpy", 1))

# One child for every case: (what, model, backend, batch, steps) on its command line.
CHILD = """
import json, statistics, sys, time
import numpy
import minicnn
from minicnn.bench.suite_models import ModelCase
from minicnn.bench.targets import make_targets
from minicnn.engine.backend import using_backend
from minicnn.engine.rng import manual_seed
from minicnn.models import get_model, input_shape
from minicnn.visualize import Deconvnet
what, model_name, backend, batch, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
if what == "projection":
    manual_seed(0)
    model = get_model(model_name)
    model.eval()
    last_conv = max(i for i, layer in enumerate(model) if type(layer).__name__ == "Conv2d")
    x = numpy.random.default_rng(0).standard_normal((batch,) + input_shape(model_name)).astype(numpy.float32)
    deconvnet = Deconvnet(model)
    context = using_backend(backend)
    run = lambda: deconvnet.project(x, last_conv, 0)
else:
    case = ModelCase(model_name, what, batch, 4)
    arrays = case.inputs(numpy.random.default_rng(0), "time")
    (target,), missing = make_targets([backend])
    context = target.active()
with context:
    if what != "projection":
        run = case.runner(target, arrays, "time")
    for _ in range(3):
        run()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
print(json.dumps({"median_ms": statistics.median(times), "fastest_ms": min(times),
                  "file": minicnn.__file__}))
"""


def one_process(tree, what, model, backend, batch, steps):
    """Median and fastest step (ms) of one case, ``what`` ("train step", "forward" or
    "projection") of ``model`` at ``batch`` on ``backend``, with minicnn imported from ``tree``."""
    environment = dict(os.environ, PYTHONPATH=str(tree))
    result = subprocess.run([sys.executable, "-c", CHILD, what, model, backend, str(batch), str(steps)], cwd="/",
                            env=environment, capture_output=True, text=True, check=True)
    timing = json.loads(result.stdout.strip().splitlines()[-1])
    if not timing.pop("file").startswith(str(tree)):
        raise SystemExit(f"the child did not import minicnn from {tree}")
    return timing


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=pathlib.Path)
    parser.add_argument("after", type=pathlib.Path)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--out", type=pathlib.Path, default=None, help="write the table (.md) and the raw (.json)")
    parser.add_argument("--cases", choices=("training", "elsewhere"), default="training",
                        help="numba training steps (default), or what they must not slow (the docstring)")
    parser.add_argument("--only", default="", help="only the cases whose name holds this text")
    arguments = parser.parse_args()
    trees = {"before": arguments.before.resolve(), "after": arguments.after.resolve()}
    if arguments.cases == "training":
        cases = {f"{model} {batch}": ("train step", model, "numba", batch) for model, batch in CASES}
        title = "numba training step"
    else:
        cases = {f"{what}, {model}, {backend}, batch {batch}": (what, model, backend, batch)
                 for what, model, backend, batch in ELSEWHERE}
        title = "what the numba training step must not slow"
    cases = {case: how for case, how in cases.items() if arguments.only in case}
    if not cases:
        parser.error(f"--only {arguments.only!r}: no case's name holds it")
    raw = {case: {"before": [], "after": []} for case in cases}
    for round_number in range(arguments.rounds):
        for case, how in cases.items():
            for name, tree in trees.items():
                raw[case][name].append(one_process(tree, *how, arguments.steps))
        print(f"round {round_number + 1} of {arguments.rounds} done", file=sys.stderr)
    lines = [f"# {title}, two trees ({datetime.date.today().isoformat()})", "",
             f"`python benchmarks/compare_trees.py {' '.join(sys.argv[1:])}`", "",
             f"before: {trees['before']}; after: {trees['after']}; {arguments.rounds} rounds, each a fresh "
             f"process per case and tree, {arguments.steps} timed steps after 3 warm-up; "
             f"CPU: {cpu_model()}, {os.cpu_count()} cores.", "",
             "| case | median step before [range] | after [range] | after / before | fastest step before | after | after / before |",
             "|---|---|---|---:|---:|---:|---:|"]
    for case, runs in raw.items():
        medians = {name: [r["median_ms"] for r in runs[name]] for name in runs}
        fastest = {name: [r["fastest_ms"] for r in runs[name]] for name in runs}
        mb, ma = statistics.median(medians["before"]), statistics.median(medians["after"])
        fb, fa = statistics.median(fastest["before"]), statistics.median(fastest["after"])
        lines.append(f"| {case} | {mb:.1f} [{min(medians['before']):.1f}-{max(medians['before']):.1f}] | "
                     f"{ma:.1f} [{min(medians['after']):.1f}-{max(medians['after']):.1f}] | {ma / mb:.3f} | "
                     f"{fb:.2f} | {fa:.2f} | {fa / fb:.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if arguments.out is not None:
        arguments.out.write_text(text)
        arguments.out.with_suffix(".json").write_text(json.dumps(raw, indent=1) + "\n")


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
