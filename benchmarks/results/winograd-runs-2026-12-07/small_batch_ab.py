"""zfnet_small at small batches: Winograd's 16 products run on the calling thread below
threads.SPLIT_FROM_MULTIPLY_ADDS (the engine) against always shared out (tile_by_tile.py),
alternating step by step in one process.

    python benchmarks/results/winograd-runs-2026-12-07/small_batch_ab.py --batch 1 --steps 60 --mode train
    python benchmarks/results/winograd-runs-2026-12-07/small_batch_ab.py --batch 1 --steps 60 --mode infer

--mode train: forward, loss, backward, SGD; --mode infer: the model in eval
mode under no_grad, the forward pass alone (what the explorer and a
learner's predictions run). Float32, numba backend, default threads.
"""

import argparse
import pathlib
import sys
import time

import numpy

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import tile_by_tile  # noqa: E402
import minicnn as mc  # noqa: E402
from minicnn import functional as F  # noqa: E402
from minicnn import optim  # noqa: E402
from minicnn.bench.machine import machine_info  # noqa: E402
from minicnn.engine.kernels import winograd  # noqa: E402
from minicnn.models import get_model  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--mode", choices=("train", "infer"), default="train")
    args = parser.parse_args()
    mc.set_backend("numba")
    versions = {"before": tile_by_tile._products, "after": winograd._products}
    rng = numpy.random.default_rng(0)
    mc.manual_seed(0)
    model = get_model("zfnet_small")
    x = mc.tensor(rng.standard_normal((args.batch,) + tuple(model.input_shape)).astype(numpy.float32))
    labels = rng.integers(0, 10, args.batch)
    optimizer = optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    if args.mode == "infer":
        model.eval()
    times = {name: [] for name in versions}
    try:
        for round_ in range(args.steps + 3):
            for name, products in versions.items():
                winograd._products = products
                start = time.perf_counter()
                if args.mode == "train":
                    optimizer.zero_grad()
                    F.cross_entropy(model(x), labels).backward()
                    optimizer.step()
                else:
                    with mc.no_grad():
                        model(x)
                if round_ >= 3:
                    times[name].append(time.perf_counter() - start)
    finally:
        winograd._products = versions["after"]
    info = machine_info(threads=None)
    print("machine:", info["cpu_model"], "| cores", info["cpu_count"], "| minicnn threads",
          info["minicnn_threads"], "| BLAS",
          info["numpy_blas"].get("openblas configuration", info["numpy_blas"]))
    before, after = numpy.array(times["before"]), numpy.array(times["after"])
    print(f"zfnet_small, {args.mode}, batch {args.batch}, {args.steps} steps each: before "
          f"{numpy.median(before) * 1e3:.2f} ms, after {numpy.median(after) * 1e3:.2f} ms; after / "
          f"before {numpy.median(after) / numpy.median(before):.3f} (medians), "
          f"{numpy.median(after / before):.3f} (median of step pairs)")


if __name__ == "__main__":
    main()
