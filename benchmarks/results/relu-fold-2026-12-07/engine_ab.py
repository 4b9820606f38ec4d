"""keras-MNIST's whole training step by an earlier commit's engine against this checkout's, in
one process, alternating step by step (the only comparison this machine's swings allow):
the same weights, batch and SGD with momentum; the numba backend, minicnn's default threads.

    python benchmarks/results/relu-fold-2026-12-07/engine_ab.py --before 28d513f --batch 32 --steps 100

The earlier engine is taken from git (``git archive``) into a temporary folder and imported
as a package of its own (minicnn/engine imports only within itself), with its own threads
and buffers. Prints each median and after / before (after = this checkout).
"""

import argparse
import importlib
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy

import minicnn.engine  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "winograd-runs-2026-12-07"))
from common import machine_line  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[3]
PARTS = ("nn", "optim", "functional", "backend", "tensor")


def engine_at(revision, folder):
    """minicnn/engine as it was at ``revision``, imported as the package ``engine_before``."""
    archive = subprocess.run(["git", "archive", revision, "minicnn/engine"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
    (pathlib.Path(folder) / "minicnn" / "engine").rename(pathlib.Path(folder) / "engine_before")
    sys.path.insert(0, folder)
    engine = importlib.import_module("engine_before")
    for part in PARTS:
        importlib.import_module(f"engine_before.{part}")
    return engine


def keras_mnist_cnn(engine):
    """models/small.py's keras_mnist_cnn, built from ``engine``'s layers."""
    nn = engine.nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default="28d513f")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    for part in PARTS:
        importlib.import_module(f"minicnn.engine.{part}")
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal((args.batch, 1, 28, 28)).astype(numpy.float32)
    labels = rng.integers(0, 10, args.batch)
    with tempfile.TemporaryDirectory() as folder:
        engines = {"after": minicnn.engine, "before": engine_at(args.before, folder)}
        setups, weights = {}, None
        for name, engine in engines.items():
            engine.backend.set_backend("numba")
            model = keras_mnist_cnn(engine)
            parameters = list(model.parameters())
            weights = weights or [p.data.copy() for p in parameters]
            for parameter, value in zip(parameters, weights):
                parameter.data[...] = value
            setups[name] = (engine, model, engine.tensor.tensor(x),
                            engine.optim.SGD(parameters, lr=0.001, momentum=0.9))

        def step(name):
            engine, model, images, optimizer = setups[name]
            engine.backend.set_backend("numba")
            start = time.perf_counter()
            optimizer.zero_grad()
            engine.functional.cross_entropy(model(images), labels).backward()
            optimizer.step()
            return time.perf_counter() - start

        times = {"after": [], "before": []}
        for round_ in range(args.steps + 4):
            for name in (("before", "after") if round_ % 2 else ("after", "before")):
                seconds = step(name)
                if round_ >= 4:                       # compiling and caches: not kept
                    times[name].append(seconds)
    after, before = (numpy.array(times[name]) for name in ("after", "before"))
    print(machine_line())
    print(f"keras_mnist_cnn, batch {args.batch}, {args.steps} steps each, engine of {args.before} "
          f"(before) against this checkout (after): before {numpy.median(before) * 1e3:.2f} ms, after "
          f"{numpy.median(after) * 1e3:.2f} ms; after / before {numpy.median(after) / numpy.median(before):.3f} "
          f"(medians), {statistics.median(after / before):.3f} (median of step pairs)")


if __name__ == "__main__":
    main()
