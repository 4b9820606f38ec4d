"""Micro-benchmark of the hot loops: reference vs Numba (vs CUDA when there is a GPU).

    python benchmarks/kernels.py [--quick] [--json PATH] [--repeat R]

For each kernel of minicnn/engine/kernels/ (the table ``KERNELS`` in its
__init__.py names every reference and twin) and each case below (layer
sizes of a keras-MNIST convnet at batch 128 and of ZFNet at batch 32), this
script

1. builds the inputs from a fixed seed,
2. checks that the Numba twin gives the reference's result bit for bit
   (and the CUDA twin, given CuPy and a GPU: bit for bit, or for LRN and
   the scatter within a tolerance, see tests/test_kernels.py),
3. runs each implementation once to warm up (compiling, filling caches),
   then at least ``--repeat`` rounds (more for quick kernels, up to 50 or
   about a second) that time each implementation once, in turn, and reports
   the median wall time in ms (time.perf_counter; on the GPU after
   cupy.cuda.Device().synchronize()),
4. prints a Markdown table with the speed-ups and the machine it ran on.

The figures are what decides which twins ``KERNELS`` uses (its
``numba_from_size`` and ``cuda_used``); every twin is timed, used or not.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import minicnn  # noqa: E402  (before NumPy: minicnn/engine/process.py)
import numpy  # noqa: E402
from minicnn.engine import backend  # noqa: E402
from minicnn.engine.kernels import KERNELS, compiled  # noqa: E402
from minicnn.engine.shapes import conv_output_size  # noqa: E402

numba_reason = backend.numba_reason                      # "" when the Numba twins can run
cupy = backend.cupy
cuda_reason = backend.cupy_reason if cupy is None else compiled.cuda_reason()

# On the GPU (the cuda twins, and the reference run on CuPy) these kernels use
# another pow or add in another order: compared with a relative tolerance
# (derived in tests/test_kernels.py). Everything else, and every Numba twin,
# must match the NumPy reference bit for bit.
GPU_TOLERANCE = {"lrn_forward": 1e-5, "lrn_backward": 1e-5, "maxpool_scatter": 1e-6}


# --------------------------------------------------------------------------
# The cases: (kernel name, case label, function building the arguments)
# --------------------------------------------------------------------------

def _random(rng, shape):
    return rng.standard_normal(shape).astype(numpy.float32)


def _geometry(shape, kernel, stride, padding, ceil_mode=False):
    """(kernel, stride, padding, out) pairs for square windows over x: shape."""
    height, width = shape[2:]
    out = (conv_output_size(height, kernel, stride, padding, ceil_mode=ceil_mode),
           conv_output_size(width, kernel, stride, padding, ceil_mode=ceil_mode))
    return (kernel, kernel), (stride, stride), (padding, padding), out


def make_cases(quick):
    """All cases, as (kernel name, label, build) with build(rng) -> argument tuple."""
    keras, zfnet = (16, 4) if quick else (128, 32)          # batch sizes
    convolutions = (  # label, x shape, (kernel, stride, padding)
        (f"keras conv 3x3, x ({keras},32,13,13)", (keras, 32, 13, 13), (3, 1, 1)),
        (f"ZFNet conv1 7x7/2 pad 1, x ({zfnet},3,224,224)", (zfnet, 3, 224, 224), (7, 2, 1)),
    )
    pools = (  # label, x shape, (kernel, stride, padding, ceil_mode)
        (f"keras pool 2/2, x ({keras},32,26,26)", (keras, 32, 26, 26), (2, 2, 0, False)),
        (f"keras pool 2/2, x ({keras},64,11,11)", (keras, 64, 11, 11), (2, 2, 0, False)),
        (f"ZFNet pool 3/2 ceil, x ({zfnet},96,110,110)", (zfnet, 96, 110, 110), (3, 2, 0, True)),
    )
    lrn_shape = (zfnet, 96, 55, 55)                          # ZFNet, after pool 1
    size, alpha, beta, k = 5, 1e-4, 0.75, 2.0                # AlexNet 3.3

    def im2col_arguments(rng, shape, geometry):
        return (_random(rng, shape),) + _geometry(shape, *geometry)

    def col2im_arguments(rng, shape, geometry):
        kernel, stride, padding, out = _geometry(shape, *geometry)
        cols_shape = (shape[1],) + kernel + (shape[0],) + out      # (C, KH, KW, N, OH, OW)
        return _random(rng, cols_shape), shape, kernel, stride, padding

    def pooled(rng, shape, geometry):
        x = _random(rng, shape)
        y, switches = KERNELS["maxpool_forward"].reference(x, *_geometry(shape, *geometry))
        return x, y, switches

    def forward_arguments(rng, shape, geometry):
        return (_random(rng, shape),) + _geometry(shape, *geometry)

    def backward_arguments(rng, shape, geometry):      # gradient flows to the maxima
        x, y, switches = pooled(rng, shape, geometry)
        return _random(rng, y.shape), switches, shape

    def unpool_arguments(rng, shape, geometry):        # ZFNet's unpooling of the maxima
        x, y, switches = pooled(rng, shape, geometry)
        return y, switches, shape

    def gather_arguments(rng, shape, geometry):
        x, y, switches = pooled(rng, shape, geometry)
        return _random(rng, shape), switches

    def lrn_forward_arguments(rng):
        return _random(rng, lrn_shape), size, alpha, beta, k

    def lrn_backward_arguments(rng):
        x = _random(rng, lrn_shape)
        y, scale = KERNELS["lrn_forward"].reference(x, size, alpha, beta, k)
        return _random(rng, lrn_shape), x, y, scale, size, alpha, beta

    def relu_forward_arguments(rng, shape):
        return (_random(rng, shape),)

    def relu_backward_arguments(rng, shape):
        return _random(rng, shape), _random(rng, shape) > 0

    def rows_to_images_arguments(rng, shape):
        batch, filters, height, width = shape
        return _random(rng, (filters, batch * height * width)), batch, _random(rng, (filters,))

    def case(name, label, build, *extra):
        return name, label, lambda rng: build(rng, *extra)

    cases = []
    cases += [case("im2col", label, im2col_arguments, shape, g) for label, shape, g in convolutions]
    cases += [case("col2im", label, col2im_arguments, shape, g) for label, shape, g in convolutions]
    cases += [case("maxpool_forward", label, forward_arguments, shape, g)
              for label, shape, g in pools]
    cases += [case("maxpool_scatter", "backward, " + label, backward_arguments, shape, g)
              for label, shape, g in pools]
    cases += [case("maxpool_scatter", "unpool, " + label, unpool_arguments, shape, g)
              for label, shape, g in (pools[0], pools[2])]   # non-overlapping, overlapping
    cases += [case("maxpool_gather", label, gather_arguments, shape, g)
              for label, shape, g in (pools[0], pools[2])]
    lrn_label = f"ZFNet LRN size 5, x ({zfnet},96,55,55)"
    cases += [case("lrn_forward", lrn_label, lrn_forward_arguments),
              case("lrn_backward", lrn_label, lrn_backward_arguments)]
    relu_shape = (keras, 32, 26, 26)                          # keras conv 1's output
    relu_label = f"keras conv1 output, x ({keras},32,26,26)"
    cases += [case("relu_forward", relu_label, relu_forward_arguments, relu_shape),
              case("relu_backward", relu_label, relu_backward_arguments, relu_shape)]
    cases += [case("rows_to_images_plus_bias", f"keras conv1 product + bias, y (32, {keras}*26*26)",
                   rows_to_images_arguments, relu_shape),
              case("images_to_rows", f"keras conv1 gradient, ({keras},32,26,26)",
                   relu_forward_arguments, relu_shape),
              case("images_to_rows_and_sums", f"keras conv1 gradient, ({keras},32,26,26)",
                   relu_forward_arguments, relu_shape)]
    return cases


# --------------------------------------------------------------------------
# Checking and timing
# --------------------------------------------------------------------------

def _as_tuple(result):
    return result if isinstance(result, tuple) else (result,)


def check_agreement(name, expected, actual, where):
    """Raise AssertionError unless ``actual`` is the reference's result."""
    for expected_array, actual_array in zip(_as_tuple(expected), _as_tuple(actual)):
        actual_array = cupy.asnumpy(actual_array) if backend.is_cupy_array(
            actual_array) else actual_array
        assert actual_array.dtype == expected_array.dtype, (name, where, actual_array.dtype)
        assert actual_array.shape == expected_array.shape, (name, where, actual_array.shape)
        if where != "numba" and name in GPU_TOLERANCE:
            tolerance = GPU_TOLERANCE[name]
            numpy.testing.assert_allclose(actual_array, expected_array, rtol=tolerance,
                                          atol=tolerance * float(numpy.abs(expected_array).max()),
                                          err_msg=f"{name} on {where}")
        else:
            assert numpy.array_equal(actual_array, expected_array), f"{name} on {where} differs"


def median_ms(contenders, repeat, budget_seconds=1.0, max_rounds=50):
    """Median wall time in ms of each contender, timed in turns.

    contenders: {label: (function, arguments, synchronize or None)}. Each is
    called once to warm up (compiling, filling caches); then every round
    times each contender once, so that a busy spell on a shared machine
    slows all of them alike rather than one. At least ``repeat`` rounds, and
    more (up to ``max_rounds``) while the rounds have taken under
    ``budget_seconds``: quick kernels get more samples, so that a few slow
    outliers (another process holding a core) do not become the median.
    """
    times = {label: [] for label in contenders}
    for function, arguments, synchronize in contenders.values():
        function(*arguments)
        if synchronize:
            synchronize()
    started = time.perf_counter()
    rounds = 0
    while rounds < repeat or (time.perf_counter() - started < budget_seconds
                              and rounds < max_rounds):
        for label, (function, arguments, synchronize) in contenders.items():
            start = time.perf_counter()
            function(*arguments)
            if synchronize:
                synchronize()
            times[label].append((time.perf_counter() - start) * 1e3)
        rounds += 1
    return {label: statistics.median(values) for label, values in times.items()}


def machine_info():
    cpu_model = "unknown"
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "cpu_model": cpu_model,
        "nproc": (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                  else os.cpu_count()),
        "load_average_1min_at_start": os.getloadavg()[0],
        "NUMBA_NUM_THREADS": os.environ.get("NUMBA_NUM_THREADS", "(unset)"),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "(unset)"),   # minicnn/engine/process.py
        "GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT", "(unset)"),
        "process_settings": minicnn.engine.process.settings(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": backend.numba.__version__ if backend.numba else "(none)",
        "cupy": cupy.__version__ if cupy is not None else f"(none: {backend.cupy_reason})",
        "gpu": "(none)",
    }
    if backend.numba is not None:
        info["numba_threads_used"] = backend.numba.config.NUMBA_NUM_THREADS
    if cupy is not None:
        properties = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = properties["name"]
        info["gpu"] = name.decode() if isinstance(name, bytes) else name
    return info


def run(quick, repeat):
    rng = numpy.random.default_rng(0)
    rows = []
    synchronize = (lambda: cupy.cuda.Device().synchronize()) if not cuda_reason else None
    for name, label, build in make_cases(quick):
        kernel = KERNELS[name]
        arguments = build(rng)
        expected = kernel.reference(*arguments)
        contenders = {"reference": (kernel.reference, arguments, None)}
        if not numba_reason and kernel.numba is not None:
            check_agreement(name, expected, kernel.numba(*arguments), "numba")
            contenders["numba"] = (kernel.numba, arguments, None)
        if not cuda_reason and kernel.cuda is not None:   # ReLU and the layouts have no CUDA twin
            gpu_arguments = tuple(cupy.asarray(a) if isinstance(a, numpy.ndarray) else a
                                  for a in arguments)
            check_agreement(name, expected, kernel.cuda(*gpu_arguments), "cuda")
            check_agreement(name, expected, kernel.reference(*gpu_arguments), "cupy")
            contenders["cupy_reference"] = (kernel.reference, gpu_arguments, synchronize)
            contenders["cuda"] = (kernel.cuda, gpu_arguments, synchronize)
        medians = median_ms(contenders, repeat)
        row = {"kernel": name, "case": label}
        row.update({f"{label}_ms": value for label, value in medians.items()})
        if "numba" in medians:
            row["numba_speedup"] = medians["reference"] / medians["numba"]
        if "cuda" in medians:
            row["cuda_speedup"] = medians["cupy_reference"] / medians["cuda"]
        rows.append(row)
        print(f"  {name:24s} {label}: " + ", ".join(
            f"{key} {value:.3g}" for key, value in row.items() if key.endswith(("ms", "speedup"))),
            file=sys.stderr, flush=True)
    return rows


def markdown(rows, info):
    lines = ["| kernel | case | reference (ms) | numba (ms) | numba speed-up |"
             + (" cupy reference (ms) | cuda (ms) | cuda speed-up |" if not cuda_reason else ""),
             "| --- | --- | ---: | ---: | ---: |"
             + (" ---: | ---: | ---: |" if not cuda_reason else "")]
    for row in rows:
        line = (f"| {row['kernel']} | {row['case']} | {row['reference_ms']:.2f} | "
                f"{row.get('numba_ms', float('nan')):.2f} | "
                f"{row.get('numba_speedup', float('nan')):.2f}x |")
        if not cuda_reason:
            line += (f" {row.get('cupy_reference_ms', float('nan')):.3f} | "
                     f"{row.get('cuda_ms', float('nan')):.3f} | "
                     f"{row.get('cuda_speedup', float('nan')):.2f}x |")
        lines.append(line)
    lines.append("")
    lines.append("Machine: " + "; ".join(f"{key} = {value}" for key, value in info.items()))
    if numba_reason:
        lines.append(f"Numba twins not timed: {numba_reason}")
    if cuda_reason:
        lines.append(f"CUDA twins not timed: {cuda_reason}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small batches and 3 repetitions (a smoke test, not a measurement)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="least number of timed rounds per case (default 7, or 3 "
                             "with --quick; quick kernels get more, up to 50)")
    parser.add_argument("--json", type=pathlib.Path,
                        help="also write the results to this JSON file")
    arguments = parser.parse_args()
    repeat = arguments.repeat or (3 if arguments.quick else 7)
    info = machine_info()
    info["repeat"] = repeat
    info["quick"] = arguments.quick
    rows = run(arguments.quick, repeat)
    info["load_average_1min_at_end"] = os.getloadavg()[0]
    if not numba_reason:
        info["numba_threading_layer"] = backend.numba.threading_layer()
    print(markdown(rows, info))
    if arguments.json:
        arguments.json.write_text(json.dumps({"machine": info, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
