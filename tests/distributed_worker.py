"""A data-parallel training run for tests/test_distributed.py, on one process or under mpiexec.

    python tests/distributed_worker.py OUT.npz                  # one process
    mpiexec -n 2 python tests/distributed_worker.py OUT.npz     # two ranks, the same run

Trains, in float64, for STEPS steps of a global batch of 32 random images:
  plain:    keras_mnist_cnn (no dropout, no augmentation)
  dropout:  a small convnet with dropout, trained with random shifts
each rank starting from different random weights (rank 0's are broadcast).
Checks that every rank holds bit-identical weights after training, then rank 0
writes every weight and the history's losses to OUT.npz.

--fail-rank R --fail-batch B: rank R raises a RuntimeError at batch B instead
(the fault test: the job must end, naming rank R and the reason).
"""

import argparse

import numpy

import minicnn as mc
from minicnn import nn
from minicnn.data.transforms import RandomShift
from minicnn.distributed import abort_on_uncaught_exception, check_ranks_agree, world
from minicnn.models import get_model
from minicnn.training import Callback, fit

STEPS, BATCH = 36, 32


class FailAt(Callback):
    """Raise on one rank at one batch: a bug that strikes a single rank."""

    def __init__(self, rank, batch):
        self.rank, self.batch = rank, batch

    def on_batch_end(self, state, batch, logs):
        if state.communicator.rank == self.rank and batch == self.batch:
            raise RuntimeError(f"deliberate failure at batch {batch}")


def small_dropout_net():
    return nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Dropout(0.5), nn.Linear(6 * 12 * 12, 10))


def train(communicator, model, transform, callbacks=()):
    random = numpy.random.default_rng(0)
    images = random.standard_normal((STEPS * BATCH, 1, 28, 28))
    labels = random.integers(0, 10, STEPS * BATCH)
    history = fit(model, (images, labels), (images[:100], labels[:100]), epochs=1, batch_size=BATCH,
                  lr=0.01, momentum=0.9, weight_decay=1e-4, transform=transform, progress=False,
                  seed=3, callbacks=callbacks, communicator=communicator)
    check_ranks_agree(model.parameters(), communicator)
    record = history.to_dict()["epochs"][0]
    weights = numpy.concatenate([mc.to_numpy(p.data).ravel() for p in model.parameters()])
    return weights, numpy.array([record["train_loss"], record["train_accuracy"],
                                 record["val_loss"], record["val_accuracy"]])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--fail-rank", type=int, default=None)
    parser.add_argument("--fail-batch", type=int, default=3)
    args = parser.parse_args()
    communicator = world()
    abort_on_uncaught_exception(communicator)
    callbacks = [] if args.fail_rank is None else [FailAt(args.fail_rank, args.fail_batch)]
    mc.manual_seed(100 + communicator.rank)      # different weights on every rank, until the broadcast
    plain = train(communicator, get_model("keras_mnist_cnn").to("float64"), None, callbacks)
    mc.manual_seed(200 + communicator.rank)
    dropout = train(communicator, small_dropout_net().to("float64"), RandomShift(0.1, fill="constant"))
    if communicator.rank == 0:
        numpy.savez(args.out, plain_weights=plain[0], plain_logs=plain[1],
                    dropout_weights=dropout[0], dropout_logs=dropout[1], world_size=communicator.size)


if __name__ == "__main__":
    main()
