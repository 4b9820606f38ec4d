"""What the scripts in this folder (and in ../sgd-and-pool-2026-12-07) share: a learner's training step, the machine, and an A/B.

A learner's step: zfnet_small (or another zoo model) on the numba backend,
float32, minicnn's default threads, nothing set; a fixed random batch of N
images (N, C, H, W) with N labels; SGD with momentum.
"""

import time

import numpy

import minicnn as mc
from minicnn import functional as F
from minicnn import optim
from minicnn.bench.machine import machine_info
from minicnn.models import get_model


def setup(model_name, batch):
    """(model, x, labels, optimizer) for a learner's step at this batch size, seeded."""
    mc.set_backend("numba")
    rng = numpy.random.default_rng(0)
    mc.manual_seed(0)
    model = get_model(model_name)
    x = mc.tensor(rng.standard_normal((batch,) + tuple(model.input_shape)).astype(numpy.float32))
    labels = rng.integers(0, 10, batch)
    return model, x, labels, optim.SGD(model.parameters(), lr=0.001, momentum=0.9)


def train_step(model, x, labels, optimizer):
    """One training step (forward, loss, backward, SGD); its seconds."""
    start = time.perf_counter()
    optimizer.zero_grad()
    F.cross_entropy(model(x), labels).backward()
    optimizer.step()
    return time.perf_counter() - start


def infer_step(model, x):
    """The forward pass alone, under no_grad; its seconds."""
    start = time.perf_counter()
    with mc.no_grad():
        model(x)
    return time.perf_counter() - start


def alternate(versions, step, rounds, warm_up=2):
    """{name: [seconds]}: ``step()`` timed once per version per round, the versions taking
    turns; ``versions`` maps a name to a function that puts that version in place. The
    first ``warm_up`` rounds (compiling, caches) are not kept."""
    times = {name: [] for name in versions}
    for round_ in range(rounds + warm_up):
        for name, put_in_place in versions.items():
            put_in_place()
            seconds = step()
            if round_ >= warm_up:
                times[name].append(seconds)
    return times


def machine_line():
    """The CPU, its cores, minicnn's threads and NumPy's BLAS, on one line."""
    info = machine_info(threads=None)
    return (f"machine: {info['cpu_model']} | cores {info['cpu_count']} | minicnn threads "
            f"{info['minicnn_threads']} | BLAS "
            f"{info['numpy_blas'].get('openblas configuration', info['numpy_blas'])}")


def after_before(before, after):
    """Each version's median (ms) and after / before, as the ratio of the medians and as the
    median of the round-by-round ratios."""
    before, after = numpy.array(before), numpy.array(after)
    return (f"before {numpy.median(before) * 1e3:.2f} ms, after {numpy.median(after) * 1e3:.2f} ms; "
            f"after / before {numpy.median(after) / numpy.median(before):.3f} (medians), "
            f"{numpy.median(after / before):.3f} (median of step pairs)")


def options(model="zfnet_small", batch=32, steps=60):
    """--model, --batch and --steps from the command line, with these defaults."""
    import argparse
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=model)
    parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--steps", type=int, default=steps)
    return parser.parse_args()


def swapped(owner, name, replacement, step, rounds, warm_up=4):
    """alternate() between ``owner.name`` as it is ("before") and ``replacement`` in its
    place ("after"), ``step()`` timed each round; the original is put back at the end."""
    original = getattr(owner, name)
    try:
        return alternate({"before": lambda: setattr(owner, name, original),
                          "after": lambda: setattr(owner, name, replacement)}, step, rounds, warm_up)
    finally:
        setattr(owner, name, original)
