"""Two routes of conv2d+max_pool2d on the same layer, alternating in one process.

    python benchmarks/route_ab.py                     # the first layers of keras-MNIST and zfnet_small
    python benchmarks/route_ab.py --steps 30 --json results/....json
    python benchmarks/route_ab.py --layers later      # later layers: gradients at the switches or not

Each case is a Conv2d, ReLU, MaxPool2d row of a model (or a made-up one),
at a batch size, float32, on the numba backend. The route table
(kernels/routes.py) is set to one route, then to the other, step by step:
forward and backward through autograd, as in training. The drift of a
shared machine falls on both. Prints, per case, the median and fastest
step of each route and B / A, with the machine (CPU, BLAS, threads).
"""

import argparse
import dataclasses
import json
import pathlib
import time

import numpy

import minicnn as mc
from minicnn.bench.machine import machine_info
from minicnn.engine import functional as F
from minicnn.engine.kernels import routes

OP = "conv2d+max_pool2d"

# name, batch, input (C, H, W), filters, kernel, padding, pool (kernel, stride, padding, ceil_mode)
FIRST_LAYERS = (
    ("keras-MNIST's first layer", 128, (1, 28, 28), 32, 3, 0, (2, 2, 0, False)),
    ("keras-MNIST's first layer", 32, (1, 28, 28), 32, 3, 0, (2, 2, 0, False)),
    ("zfnet_small's first layer", 128, (1, 28, 28), 32, 5, 2, (3, 2, 0, True)),
    ("zfnet_small's first layer", 32, (1, 28, 28), 32, 5, 2, (3, 2, 0, True)),
    ("an RGB first layer, 27 taps", 128, (3, 32, 32), 32, 3, 1, (2, 2, 0, False)),
    ("two channels 5x5, 50 taps", 64, (2, 32, 32), 32, 5, 2, (2, 2, 0, False)),
)
LATER_LAYERS = (
    ("keras-MNIST's second layer", 128, (32, 13, 13), 64, 3, 0, (2, 2, 0, False)),
    ("keras-MNIST's second layer", 32, (32, 13, 13), 64, 3, 0, (2, 2, 0, False)),
    ("keras-MNIST's second layer", 1, (32, 13, 13), 64, 3, 0, (2, 2, 0, False)),
    ("zfnet_small's second layer (3x3/2 pool)", 128, (32, 14, 14), 64, 3, 1, (3, 2, 0, True)),
    ("zfnet_small's fifth layer (3x3/2 pool)", 128, (96, 7, 7), 64, 3, 1, (3, 2, 0, False)),
    ("zfnet_small's fifth layer (3x3/2 pool)", 32, (96, 7, 7), 64, 3, 1, (3, 2, 0, False)),
    ("a 2x2 pool of stride 1", 64, (32, 13, 13), 64, 3, 0, (2, 1, 0, False)),
    ("3 channels 5x5, runs of 15", 128, (3, 32, 32), 32, 5, 2, (2, 2, 0, False)),
    ("8 channels, runs of 24", 128, (8, 16, 16), 32, 3, 0, (2, 2, 0, False)),
    ("16 channels, runs of 48", 128, (16, 16, 16), 32, 3, 0, (2, 2, 0, False)),
)
# --layers: (cases, route A, route B)
LAYERS = {
    "first": (FIRST_LAYERS, "chunks, pooled in cache", "direct, pooled in cache"),
    "later": (LATER_LAYERS, "im2col, pooled from the product", "im2col pooled, gradients at switches"),
}


def only(table, route_name):
    """The op's row of the table with this one route of ``table``, taken wherever the backend is numba."""
    (route,) = [route for route in table if route.name == route_name]
    return (dataclasses.replace(route, when=lambda call: call.on_numba),)


def step(x, weight, bias, padding, pool):
    """One forward and backward of relu(conv2d_max_pool2d(x)), autograd included:
    (seconds, the name of the Function that computed the fused op)."""
    start = time.perf_counter()
    fused = F.conv2d_max_pool2d(x, weight, bias, 1, padding, 1, 1, *pool)
    y = F.relu(fused)
    y.backward(numpy.ones(y.shape, numpy.float32))
    return time.perf_counter() - start, fused.creator.name


def run_case(case, steps, names, input_gradient=False):
    """One case, both routes, alternating; input_gradient: whether x needs a gradient (a
    later layer's input does, a first layer's images do not)."""
    name, batch, shape, filters, kernel, padding, pool = case
    rng = numpy.random.default_rng(0)
    x = mc.tensor(rng.standard_normal((batch,) + shape).astype(numpy.float32), requires_grad=input_gradient)
    weight = mc.tensor(rng.standard_normal((filters, shape[0], kernel, kernel)).astype(numpy.float32) * 0.3,
                       requires_grad=True)
    bias = mc.tensor(numpy.zeros(filters, numpy.float32), requires_grad=True)
    table = routes.ROUTES[OP]
    times = {route_name: [] for route_name in names}
    try:
        for route_name in names:                       # compile, warm the buffers, check the route ran
            routes.ROUTES[OP] = only(table, route_name)
            _, ran = step(x, weight, bias, padding, pool)
            assert ran == f"{OP} by {route_name}", ran
        for _ in range(steps):
            for route_name in names:
                routes.ROUTES[OP] = only(table, route_name)
                times[route_name].append(step(x, weight, bias, padding, pool)[0])
    finally:
        routes.ROUTES[OP] = table
    medians = {route_name: float(numpy.median(values)) * 1e3 for route_name, values in times.items()}
    fastest = {route_name: float(min(values)) * 1e3 for route_name, values in times.items()}
    taps = shape[0] * kernel * kernel
    return {"case": name, "batch": batch, "taps": taps, "pool": f"{pool[0]}x{pool[0]}/{pool[1]}"
            + (" ceil" if pool[3] else ""), "median_ms": medians, "fastest_ms": fastest,
            "b_over_a": medians[names[1]] / medians[names[0]]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15, help="steps per route and case (alternating)")
    parser.add_argument("--layers", choices=sorted(LAYERS), default="first",
                        help="first layers (default; routes A and B: " + " against ".join(LAYERS["first"][1:])
                        + ") or later ones (" + " against ".join(LAYERS["later"][1:]) + ")")
    parser.add_argument("--a", help="route A (default: the --layers' first)")
    parser.add_argument("--b", help="route B (default: the --layers' second)")
    parser.add_argument("--json", type=pathlib.Path, help="also write the results here")
    args = parser.parse_args(argv)
    mc.set_backend("numba")
    cases, route_a, route_b = LAYERS[args.layers]
    names = (args.a or route_a, args.b or route_b)
    info = machine_info(threads=None)
    machine = {key: info[key] for key in ("date", "cpu_model", "usable_cores", "minicnn_threads",
                                          "numpy_blas", "versions", "load_average_before")}
    print(f"{machine['cpu_model']}, {machine['usable_cores']} cores, minicnn {machine['minicnn_threads']} "
          f"threads, NumPy's BLAS {machine['numpy_blas'].get('name')}; {args.steps} steps per route, "
          f"alternating")
    print(f"| layer | batch | taps | pool | A: {names[0]} ms (fastest) | B: {names[1]} ms (fastest) | B / A |")
    print("|---|---:|---:|---|---:|---:|---:|")
    results = []
    for case in cases:
        result = run_case(case, args.steps, names, input_gradient=args.layers != "first")
        results.append(result)
        a, b = (result["median_ms"][n] for n in names)
        fa, fb = (result["fastest_ms"][n] for n in names)
        print(f"| {result['case']} | {result['batch']} | {result['taps']} | {result['pool']} | "
              f"{a:.2f} ({fa:.2f}) | {b:.2f} ({fb:.2f}) | {result['b_over_a']:.2f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "layers": args.layers, "routes": names, "steps": args.steps,
                                         "results": results}, indent=1))


if __name__ == "__main__":
    main()
