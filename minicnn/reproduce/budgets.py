"""How much to train and measure: the quick budget (CI) and the full one (at convergence).

**full**: every run trains on the whole Fashion-MNIST training split (54,000
images after 6,000 are held out for validation) until it has *converged*:

    the learning rate has been lowered at least once (ReduceLROnPlateau on the
    validation loss, factor 0.1, patience 2: ZFNet lowered it by hand when the
    validation error stopped improving), and over the last 3 epochs the
    validation accuracy moved less than 0.2 points (max - min < 0.002),

or has trained ``max_epochs`` = 30 epochs, whichever comes first (runs.py,
``converged``). SGD with ZFNet's learning rate 0.01 and momentum 0.9,
batch 64, 3 seeds; the few-image runs of claim 8 have no validation images
and train a fixed number of steps instead.

Time on 2 cores, as estimated before the first full run (what it measured
follows). The unit is one "main epoch": zfnet_small (width 2) through the
54,000 training images plus validation. benchmarks/results/train_reference.md
measured 906 training images/s on an idle 2-core machine, so about 60 + 3
seconds; the Winograd route measured since (benchmarks/README.md) is faster
still. A short timing on this machine while two other test runs shared its
cores gave about three times that: run the full budget on an idle machine.
The other runs cost a fraction of a main epoch, judged from their
multiply-adds and the layers that move memory without many (LRN, pooling):

    per seed: main run 1 (claims 1-6 share it) + 9x9/2 first layer 0.35 (claim 4)
              + ablation variants 1.0 + 0.6 + 0.6 + 0.25 (claim 6)
              + pretraining on 5 of the 10 classes 0.5 (claims 7, 8)    = 4.3
    3 seeds: 12.9 E main epochs, E = the epochs a run trains to convergence

With E epochs to convergence, about 15 to 20 (train_reference.md: 10
epochs with one lr step reach 91.6%; the plateau schedule needs a few
epochs of patience more), that is 190 to 260 main epochs, 3.3 to 4.5 hours;
the 18 runs from scratch on a few images (1,000 steps of 64 images each)
add about 20 minutes and the measurements about 15: **about 4 to 5 hours**.
The cap, 30 epochs, bounds it at about 7. ``width=1`` in FULL would take
about a third of that (a third of the time per epoch in the same timing).

Measured (AMD EPYC, 2 cores, 2026-12-06/07; benchmarks/results/zfnet-full/
runs.json, all 48 runs): the main runs converged in 15, 14 and 12 epochs,
about 78 seconds an epoch on an idle machine (19 minutes a run); the 9x9,
stride-2 runs in 20, 15 and 15 epochs; the ablation variants in 10-27
epochs; pretraining in 11-15. E is 12-15, at the low end of the estimate
above. The runs' own times add up to 9.2 hours, but most ran two or three
at a time, each then at about 0.6 of its speed alone (benchmarks/
two_jobs.py), so about 6 hours of an idle 2-core machine; measuring every
claim took 21 minutes (claim 7: 5, claim 2: 7). Claim 8's control (9 more
few-image runs on the pretraining classes) is in these figures.

**quick**: the first 1,200 training and 500 test images, width 1, 2 epochs,
1 seed, small probe sets: every claim measured end to end in about a
minute, for CI. Its verdicts mean nothing; its files have the full run's shape.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Budget:
    """Every size the reproduction uses. Seeds are 0 .. seeds - 1."""

    name: str
    train_limit: int          # first N images of the training split (None: all 60,000)
    test_limit: int           # first N test images (None: all 10,000)
    width: int                # zfnet_small's width (16 * width first-layer filters)
    seeds: int                # seeds per accuracy comparison
    max_epochs: int           # the most epochs a run trains
    converge: bool            # stop at convergence (runs.converged) before max_epochs
    probe_images: int         # test images searched for the top-9 and the evolution (claims 1, 2)
    invariance_images: int    # correctly classified test images transformed (claim 3)
    occlusion_images: int     # correctly classified test images occluded (claim 5)
    filter_images: int        # test images for dead filters and layer-2 aliasing (claim 4)
    discriminability_shots: int   # training images per class for the softmax on frozen features (claim 7)
    transfer_shots: tuple     # images per class of the new classes (claim 8)
    scratch_steps: int        # SGD steps of a few-image network trained from scratch (claim 8)
    softmax_epochs: int       # epochs of the softmax on frozen features (claims 7, 8)
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    patience: int = 2         # ReduceLROnPlateau's epochs without improvement before lowering the lr
    data_path: str = None     # where the IDX files are (None: minicnn's usual lookup)

    def to_dict(self):
        return dataclasses.asdict(self)


QUICK = Budget(
    name="quick", train_limit=1200, test_limit=500, width=1, seeds=1, max_epochs=2, converge=False,
    probe_images=200, invariance_images=6, occlusion_images=3, filter_images=100,
    discriminability_shots=10, transfer_shots=(2, 10), scratch_steps=20, softmax_epochs=10,
)

FULL = Budget(
    name="full", train_limit=None, test_limit=None, width=2, seeds=3, max_epochs=30, converge=True,
    probe_images=10000, invariance_images=50, occlusion_images=50, filter_images=2000,
    discriminability_shots=30, transfer_shots=(1, 2, 5, 10, 20, 50), scratch_steps=1000, softmax_epochs=50,
)

BUDGETS = {"quick": QUICK, "full": FULL}

def get_budget(name, data_path=None):
    """The budget ``name`` ("quick" or "full"), reading the data from ``data_path`` if given."""
    if name not in BUDGETS:
        raise ValueError(f"unknown budget {name!r}; choose one of {', '.join(BUDGETS)}")
    return dataclasses.replace(BUDGETS[name], data_path=None if data_path is None else str(data_path))
