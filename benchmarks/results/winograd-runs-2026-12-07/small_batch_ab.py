"""zfnet_small at small batches: Winograd's 16 products run on the calling thread below
threads.SPLIT_FROM_MULTIPLY_ADDS (the engine) against always shared out (tile_by_tile.py),
alternating step by step in one process.

    python benchmarks/results/winograd-runs-2026-12-07/small_batch_ab.py --batch 1 --steps 60 --mode train
    python benchmarks/results/winograd-runs-2026-12-07/small_batch_ab.py --batch 1 --steps 60 --mode infer

--mode train: a learner's training step (common.py); --mode infer: the
model in eval mode under no_grad, the forward pass alone (what the explorer
and a learner's predictions run).
"""

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import common  # noqa: E402
import tile_by_tile  # noqa: E402
from minicnn.engine.kernels import winograd  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--mode", choices=("train", "infer"), default="train")
    args = parser.parse_args()
    products = {"before": tile_by_tile._products, "after": winograd.products}
    model, x, labels, optimizer = common.setup("zfnet_small", args.batch)
    if args.mode == "infer":
        model.eval()
        step = lambda: common.infer_step(model, x)  # noqa: E731
    else:
        step = lambda: common.train_step(model, x, labels, optimizer)  # noqa: E731
    try:
        times = common.alternate({name: (lambda f=f: setattr(winograd, "products", f))
                                  for name, f in products.items()}, step, args.steps, warm_up=3)
    finally:
        winograd.products = products["after"]
    print(common.machine_line())
    print(f"zfnet_small, {args.mode}, batch {args.batch}, {args.steps} steps each: "
          + common.after_before(times["before"], times["after"]))


if __name__ == "__main__":
    main()
