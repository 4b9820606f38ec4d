"""Whole training steps of a model with one route in the table and without it, alternating.

    python benchmarks/step_ab.py --without "im2col pooled, gradients at switches"
    python benchmarks/step_ab.py --model zfnet_small --batch 32 --steps 12 --json results/....json

A route's own A/B (route_ab.py) times its op alone; this times what a learner
gets from it: keras-MNIST's (or another zoo model's) training step, forward,
loss, backward and SGD, float32, on the numba backend, once with the route
table as it is and once with the route named by ``--without`` taken out of
it (the layers it served then take the next route whose ``when`` holds, as
they would have before it existed). The two alternate step by step, in one
process, so a shared machine's drift falls on both. Prints the median and
fastest step of each, and without / with, with the machine (CPU, BLAS,
threads).
"""

import argparse
import json
import pathlib
import time

import numpy

import minicnn as mc
from minicnn import functional as F
from minicnn import optim
from minicnn.bench.machine import machine_info
from minicnn.engine.kernels import routes
from minicnn.models import get_model


def without(route_name):
    """ROUTES with the route of this name taken out (a new dict; KeyError names the routes)."""
    names = [route.name for table in routes.ROUTES.values() for route in table]
    if route_name not in names:
        raise KeyError(f"step_ab: no route is named {route_name!r}; the routes are {names}")
    return {op: tuple(route for route in table if route.name != route_name)
            for op, table in routes.ROUTES.items()}


def training_step(model, x, labels, optimizer):
    """One step; its seconds."""
    start = time.perf_counter()
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), labels)
    loss.backward()
    optimizer.step()
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="keras_mnist_cnn")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=12, help="steps of each table (alternating)")
    parser.add_argument("--without", default="im2col pooled, gradients at switches",
                        help="the route to take out (default: %(default)r)")
    parser.add_argument("--json", type=pathlib.Path, help="also write the results here")
    args = parser.parse_args(argv)
    mc.set_backend("numba")
    tables = {"with": dict(routes.ROUTES), "without": without(args.without)}
    rng = numpy.random.default_rng(0)
    mc.manual_seed(0)
    model = get_model(args.model)
    x = mc.tensor(rng.standard_normal((args.batch,) + tuple(model.input_shape)).astype(numpy.float32))
    labels = rng.integers(0, 10, args.batch)
    optimizer = optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    times = {name: [] for name in tables}
    original = dict(routes.ROUTES)
    try:
        for round_ in range(args.steps + 2):                 # two rounds to compile and warm up
            for name, table in tables.items():
                routes.ROUTES.update(table)
                seconds = training_step(model, x, labels, optimizer)
                if round_ >= 2:
                    times[name].append(seconds)
    finally:
        routes.ROUTES.update(original)
    info = machine_info(threads=None)
    machine = {key: info[key] for key in ("date", "cpu_model", "usable_cores", "minicnn_threads",
                                          "numpy_blas", "versions", "load_average_before")}
    medians = {name: float(numpy.median(values)) * 1e3 for name, values in times.items()}
    fastest = {name: float(min(values)) * 1e3 for name, values in times.items()}
    ratio = medians["without"] / medians["with"]
    print(f"{machine['cpu_model']}, {machine['usable_cores']} cores, minicnn {machine['minicnn_threads']} "
          f"threads, NumPy's BLAS {machine['numpy_blas'].get('name')}; {args.model}, batch {args.batch}, "
          f"{args.steps} steps each, alternating")
    print(f"with every route: {medians['with']:.2f} ms (fastest {fastest['with']:.2f}); "
          f"without {args.without!r}: {medians['without']:.2f} ms (fastest {fastest['without']:.2f}); "
          f"without / with {ratio:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "model": args.model, "batch": args.batch,
                                         "without": args.without, "steps": args.steps, "median_ms": medians,
                                         "fastest_ms": fastest, "without_over_with": ratio}, indent=1))


if __name__ == "__main__":
    main()
