"""Where a training step spends its time: a timer around every op's forward and
backward, every hot-loop kernel and the optimizer.

    python -m minicnn.bench.profile --model keras_mnist_cnn --backend numba [--batch 128] [--steps 20]

The table starts with how each layer runs on that backend (its route, from
minicnn/engine/kernels/routes.py, as ``model.summary()`` shows it). For the
duration of the run, the ``forward`` and ``backward`` of every Function
subclass (conv2d, max_pool2d, relu, linear, ...; an op that took a route is
labelled by it, "conv2d by winograd F(2x2,3x3) forward"), each kernel of
minicnn.engine.kernels (im2col, col2im, maxpool_*, lrn_*, relu_*, the
convolution's layout kernels) and ``SGD.step`` are wrapped in timers (on
the GPU the timer synchronises first, which slows the step a little but
puts the time where the work is). Kernels run inside
ops, so their rows are part of an op's row, shown indented. What no timer
covers, the rest of the step, is Python: building the graph, walking it
backward, adding gradients, checking inputs.

Uninstrumented steps are timed first, so the table also shows what the
timers cost. Last, the step's matrix products (those of conv2d and linear,
forward and backward) are timed apart, at the same shapes, layouts and
dtype: their sum is the part of the step that BLAS does, which the other
rows include.
"""

import argparse
import contextlib
import json
import os
import pathlib
import statistics
import sys
import time
from collections import defaultdict

import numpy

from ..engine import functional as F
from ..engine import kernels, optim
from ..engine.kernels import switch_gradients, winograd, winograd_4x4
from ..engine.backend import backends, using_backend
from ..models import NAMES as MODEL_NAMES
from ..models import get_model, input_shape
from ..engine.rng import manual_seed
from ..engine.functional.conv import Conv2dFunction
from ..engine.functional.fully_connected import LinearFunction
from ..engine.functional.routed import RoutedFunction
from ..engine.tensor import Function, tensor
from .machine import limit_threads
from .targets import MinicnnTarget


class Timers:
    """Accumulated seconds and call counts per label."""

    def __init__(self, synchronize):
        self.synchronize = synchronize
        self.seconds = defaultdict(float)
        self.calls = defaultdict(int)

    def wrap(self, label, function):
        def timed(*args, **kwargs):
            self.synchronize()
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.synchronize()
                self.seconds[label] += time.perf_counter() - start
                self.calls[label] += 1
        return timed

    def wrap_method(self, method, function):
        """``function``, a Function's forward or backward, timed under "<its name> <method>"
        (the name of the instance: a RoutedFunction names its route)."""
        def timed(function_self, *args, **kwargs):
            return self.wrap(f"{function_self.name} {method}", function)(function_self, *args, **kwargs)
        return timed


def _subclasses(cls):
    for subclass in cls.__subclasses__():
        yield subclass
        yield from _subclasses(subclass)


@contextlib.contextmanager
def instrumented(timers):
    """Wrap the ops, the kernels and SGD.step in timers; put the originals back afterwards."""
    saved = []
    for cls in _subclasses(Function):
        for method in ("forward", "backward"):
            if method in vars(cls):
                saved.append((cls, method, vars(cls)[method]))
                setattr(cls, method, timers.wrap_method(method, vars(cls)[method]))
    for name in kernels.NAMES:
        saved.append((kernels, name, getattr(kernels, name)))
        setattr(kernels, name, timers.wrap(f"kernel {name}", getattr(kernels, name)))
    saved.append((optim.SGD, "step", optim.SGD.step))
    optim.SGD.step = timers.wrap("SGD step", optim.SGD.step)
    try:
        yield timers
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


@contextlib.contextmanager
def recording_products(products):
    """Append the shapes of every conv2d and linear matrix product to ``products``: conv2d
    by its formulas or in chunks as (F, K, P) (the chunks split P), by Winograd as 16
    products (F, C, T) of each kind (36 for F(4x4, 3x3)); the route "direct, pooled in cache" computes none, the
    route "im2col pooled, gradients at switches" the forward one only, over the outputs its
    pool reads (its gradients are read at the switches, kernels/switch_gradients.py)."""
    conv_forward, routed_forward = Conv2dFunction.forward, RoutedFunction.forward
    linear_forward = LinearFunction.forward

    def conv(self, x, weight, bias=None):
        filters, k = weight.shape[0], int(numpy.prod(weight.shape[1:]))
        p = x.shape[0] * self.out[0] * self.out[1]
        products.append(("conv2d", (filters, k, p), self.needs_input_grad[0], x.dtype))
        return conv_forward(self, x, weight, bias)

    def routed(self, *arrays):
        if not self.route.op.startswith("conv2d") or self.route.name.startswith("direct"):
            return routed_forward(self, *arrays)                           # no matrix product
        x, weight = arrays[:2]
        call = self.call
        if self.route.name.startswith("winograd"):
            module = winograd_4x4 if self.route.code == "kernels/winograd_4x4.py" else winograd
            values = 36 if module is winograd_4x4 else 16                 # per tile
            tiles = x.shape[0] * module.tiles(call.out)[0] * module.tiles(call.out)[1]
            products.append((f"conv2d by Winograd, {values} x", (weight.shape[0], weight.shape[1], tiles),
                             self.needs_input_grad[0], x.dtype))
        else:                                                              # the formulas, or chunks of them
            kind, out = "conv2d", call.out
            if self.route.code == "kernels/switch_gradients.py":         # over the outputs the pool reads
                kind, out = "conv2d, forward only", switch_gradients.pool_reach(call.out, call.pool)
            p = x.shape[0] * out[0] * out[1]
            products.append((kind, (weight.shape[0], int(numpy.prod(weight.shape[1:])), p),
                             self.needs_input_grad[0], x.dtype))
        return routed_forward(self, *arrays)

    def linear(self, x, weight, bias=None):
        products.append(("linear", (x.shape[0], x.shape[1], weight.shape[0]),
                         self.needs_input_grad[0], x.dtype))
        return linear_forward(self, x, weight, bias)

    Conv2dFunction.forward, RoutedFunction.forward, LinearFunction.forward = conv, routed, linear
    try:
        yield products
    finally:
        Conv2dFunction.forward, RoutedFunction.forward = conv_forward, routed_forward
        LinearFunction.forward = linear_forward


def time_products(products, put, synchronize, repeat=15):
    """Median ms of each recorded product, computed as the ops compute it.

    conv2d (F, K, P): y = W @ cols, dW = G @ cols.T, dcols = W.T @ G (when the
    input needs a gradient). conv2d by Winograd (F, C, T), kernels/winograd.py,
    16 products of each (kernels/winograd_4x4.py: 36): M = U @ V, dU = dM @ V.T, dV = U.T @ dM. linear (N, IN,
    OUT): y = x @ W.T, dW = G.T @ x, dx = G @ W (when the input needs a gradient).
    """
    rng = numpy.random.default_rng(0)
    rows = []
    for kind, sizes, input_grad, dtype in products:
        def array(*shape):
            return put(rng.standard_normal(shape).astype(dtype))
        if kind.startswith("conv2d by Winograd"):
            filters, channels, tiles = sizes
            values = int(kind.split(", ")[1].split()[0])                   # 16 or 36 per tile
            u, v = array(values, filters, channels), array(values, channels, tiles)
            m = array(values, filters, tiles)

            def each(product, values=values):
                return lambda: [product(k) for k in range(values)]

            calls = [("forward", each(lambda k: u[k] @ v[k])),
                     ("weight gradient", each(lambda k: m[k] @ v[k].T))]
            if input_grad:
                calls.append(("input gradient", each(lambda k: u[k].T @ m[k])))
        elif kind.startswith("conv2d"):
            filters, k, p = sizes
            w, cols, g = array(filters, k), array(k, p), array(filters, p)
            calls = [("forward", lambda: w @ cols)]
            if kind == "conv2d":                                   # not "conv2d, forward only"
                calls.append(("weight gradient", lambda: g @ cols.T))
                if input_grad:
                    calls.append(("input gradient", lambda: w.T @ g))
        else:
            n, inputs, outputs = sizes
            x, w, g = array(n, inputs), array(outputs, inputs), array(n, outputs)
            calls = [("forward", lambda: x @ w.T), ("weight gradient", lambda: g.T @ x)]
            if input_grad:
                calls.append(("input gradient", lambda: g @ w))
        for part, call in calls:
            call()
            times = []
            for _ in range(repeat):
                synchronize()
                start = time.perf_counter()
                call()
                synchronize()
                times.append(time.perf_counter() - start)
            rows.append((f"{kind} {sizes} {part}", statistics.median(times) * 1e3))
    return rows


def profile_training_step(model_name, backend_name, batch=128, steps=20, warmup=3, seed=0):
    """Per-op seconds of one training step; returns a dict (see ``table``)."""
    target = MinicnnTarget(backend_name)
    rng = numpy.random.default_rng(seed)
    with using_backend(backend_name):
        manual_seed(seed)
        model = get_model(model_name)
        if target.device == "gpu":
            model.to("gpu")
        shape = input_shape(model_name)
        x = tensor(target.put(rng.standard_normal((batch,) + shape, dtype=numpy.float32)))
        labels = target.put(rng.integers(0, model[-1].out_features, batch))
        optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step():
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), labels)
            loss.backward()
            optimizer.step()

        for _ in range(warmup):
            step()
        plain = []
        for _ in range(steps):
            target.synchronize()
            start = time.perf_counter()
            step()
            target.synchronize()
            plain.append(time.perf_counter() - start)
        timers = Timers(target.synchronize)
        with instrumented(timers):
            start = time.perf_counter()
            for _ in range(steps):
                step()
            target.synchronize()
            instrumented_total = time.perf_counter() - start
        products = []
        with recording_products(products):
            step()
        gemms = time_products(products, target.put, target.synchronize)
        layers = [(row["name"], row["layer"], row["runs_as"])
                  for row in model.summary(shape, print_table=False, batch=batch) if row["runs_as"]]
    return {"model": model_name, "backend": backend_name, "batch": batch, "steps": steps,
            "runs_as": layers,
            "step_ms_median": statistics.median(plain) * 1e3,
            "step_ms_instrumented": instrumented_total / steps * 1e3,
            "ms_per_step": {label: seconds / steps * 1e3 for label, seconds in timers.seconds.items()},
            "calls_per_step": {label: count / steps for label, count in timers.calls.items()},
            "matrix_products_ms": dict(gemms)}


def table(profile):
    """Markdown: each op (forward, backward) with its kernels indented under it, then the rest."""
    per_step = profile["ms_per_step"]
    total = profile["step_ms_instrumented"]
    ops = sorted((label for label in per_step if not label.startswith("kernel ")),
                 key=lambda label: -per_step[label])
    inside = {"conv2d forward": ["kernel im2col", "kernel rows_to_images_plus_bias"],
              "conv2d backward": ["kernel col2im", "kernel images_to_rows_and_sums",
                                  "kernel images_to_rows"],
              "relu forward": ["kernel relu_forward"], "relu backward": ["kernel relu_backward"],
              "max_pool2d forward": ["kernel maxpool_forward"],
              "max_pool2d backward": ["kernel maxpool_scatter"],
              "local_response_norm forward": ["kernel lrn_forward"],
              "local_response_norm backward": ["kernel lrn_backward"]}
    lines = [f"{profile['model']} training step on {profile['backend']}, batch {profile['batch']}: "
             f"{profile['step_ms_median']:.1f} ms per step (median of {profile['steps']}); "
             f"{total:.1f} ms with the timers", ""]
    if profile.get("runs_as"):
        lines += ["How the layers run (minicnn/engine/kernels/routes.py; the \"runs as\" column of "
                  "`minicnn summary`, for the layers that have one):", "",
                  "| name | layer | runs as |", "|---|---|---|"]
        lines += [f"| {name} | {layer} | {how} |" for name, layer, how in profile["runs_as"]]
        lines.append("")
    lines += ["| part | ms per step | share of the step |", "|---|---:|---:|"]
    covered = 0.0
    for label in ops:
        covered += per_step[label]
        lines.append(f"| {label} | {per_step[label]:.2f} | {100 * per_step[label] / total:.1f}% |")
        for kernel in inside.get(label, []):
            if kernel in per_step:
                lines.append(f"| &nbsp;&nbsp;of which {kernel} | {per_step[kernel]:.2f} | "
                             f"{100 * per_step[kernel] / total:.1f}% |")
    rest = total - covered
    lines.append(f"| the rest (Python: graph, autograd walk, checks) | {rest:.2f} | {100 * rest / total:.1f}% |")
    products = profile.get("matrix_products_ms", {})
    if products:
        blas = sum(products.values())
        lines += ["", f"The step's {len(products)} matrix products, timed apart at the same shapes "
                  f"(BLAS; included in the rows of the ops above that compute them: conv2d, its "
                  f"routes, linear): {blas:.2f} ms, "
                  f"{100 * blas / total:.0f}% of the step.", "",
                  "| matrix product: layer (sizes), part | ms |", "|---|---:|"]
        lines += [f"| {label} | {ms:.2f} |" for label, ms in products.items()]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m minicnn.bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="keras_mnist_cnn")
    parser.add_argument("--backend", default="numba")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=None,
                        help="also write profile-<backend>-<model>.md and .json into this folder")
    args = parser.parse_args(argv)
    for flag, value in (("--batch", args.batch), ("--steps", args.steps), ("--threads", args.threads)):
        if value < 1:
            parser.error(f"{flag} must be at least 1; got {value}")
    if args.model not in MODEL_NAMES:
        parser.error(f"--model: unknown model {args.model!r}; choose one of {', '.join(MODEL_NAMES)}")
    available = backends()
    if args.backend not in available:
        parser.error(f"--backend: unknown backend {args.backend!r}; choose one of {', '.join(available)}")
    if not available[args.backend][0]:
        parser.error(f"--backend {args.backend} is not available on this machine: {available[args.backend][1]}")
    threads = limit_threads(args.threads)
    profile = profile_training_step(args.model, args.backend, args.batch, args.steps, seed=args.seed)
    profile["threads"] = threads
    profile["load_average_after"] = list(os.getloadavg())
    text = table(profile)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = args.out / f"profile-{args.backend}-{args.model}"
        stem.with_suffix(".md").write_text(f"`{' '.join(['python -m minicnn.bench.profile'] + sys.argv[1:])}`"
                                           f" (load average after: {profile['load_average_after']})\n\n{text}")
        stem.with_suffix(".json").write_text(json.dumps(profile, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
