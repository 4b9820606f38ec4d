"""What the claims train: one folder per run, resumable, each run trained once.

A run is a ``RunSpec``: which network (networks.py), which classes, how many
training images per class, which seed, how long. It lives in
``DIR/runs/<name>/``:

    spec.json        the RunSpec, written first: a folder never holds two different runs
    checkpoint.npz   written after every epoch by fit (minicnn/training/checkpoint.py)
    epochs/epoch_K.npz   the weights after epoch K (0: the initial ones), when the
                     spec asks for snapshots (claim 2 reads them)
    done.json        written last: test accuracy and loss, the epochs trained, the history

``train`` skips a run whose done.json is there, finishes one whose checkpoint
is already complete (converged or at its last epoch) without training, and
resumes one whose checkpoint stops earlier: fit restores the weights, the
optimizer, the schedule and the random state, so a killed run continues as
if it had never stopped (minicnn/training/loop.py, "Reproducibility").

Convergence (``converged``): the learning rate has been lowered at least
once and the validation accuracy of the last CONVERGED_WINDOW epochs spans
less than CONVERGED_RANGE (budgets.py says why).

Data: minicnn's ``load_data`` (minicnn/training/experiment.py) splits the
training images into training and validation images with seed 0 (the same
split for every run) and standardises them with the training images' mean
and deviation; a run then keeps its classes (relabelled 0..K-1 in the order
given) and, if it asks for a few images per class, draws them with its seed.
"""

import dataclasses
import datetime
import functools
import json
import math
from pathlib import Path

import numpy

from ..data import to_float
from ..engine import rng
from ..training import Callback, ReduceLROnPlateau, evaluate, fit, load_checkpoint, save_checkpoint
from ..training.experiment import RunConfigError, load_data
from ..training.files import write_json
from . import networks

CONVERGED_WINDOW = 3       # epochs
CONVERGED_RANGE = 0.002    # of validation accuracy: 0.2 points

ALL_CLASSES = tuple(range(10))
OLD_CLASSES = (0, 1, 2, 3, 4)      # T-shirt/top, Trouser, Pullover, Dress, Coat: the "ImageNet" of claims 7-8
NEW_CLASSES = (5, 6, 7, 8, 9)      # Sandal, Shirt, Sneaker, Bag, Ankle boot: the "Caltech"
SCRATCH_EPOCH_IMAGES = 1600        # a few-image run's epoch: its images repeated to at least this many


class ReproduceError(RunConfigError):
    """Settings or a folder the reproduction cannot use: change them, not the code (one line, status 2)."""


class Interrupted(KeyboardInterrupt):
    """Raised by the test hook ``stop_after_epochs``: as if Ctrl-C came after that many epochs."""


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One training run (module docstring). Every field is JSON data."""

    name: str                  # the folder under DIR/runs/
    network: dict              # networks.describe(...)
    seed: int                  # initial weights, data order, dropout, the few images drawn
    classes: tuple = ALL_CLASSES
    per_class: int = None      # training images per class (None: all, with validation images)
    epochs: int = 30           # the most epochs
    converge: bool = True      # stop once converged
    snapshots: bool = False    # keep the weights of every epoch (epochs/)
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    patience: int = 2
    data: dict = None          # {"path", "train_limit", "test_limit"}
    repeat: int = 1            # each epoch shows the training images this many times (few-image runs)

    def to_dict(self):
        record = dataclasses.asdict(self)
        record["classes"] = list(self.classes)
        return record


# ----- the data -------------------------------------------------------------------------
@dataclasses.dataclass
class Split:
    """A run's images: float (N, 1, 28, 28) standardised arrays and (N,) labels 0..K-1."""

    train_x: numpy.ndarray
    train_y: numpy.ndarray
    val_x: numpy.ndarray
    val_y: numpy.ndarray
    test_x: numpy.ndarray
    test_y: numpy.ndarray
    test_pixels: numpy.ndarray   # (N, 28, 28) the test images in [0, 1], for object masks and pictures


@functools.lru_cache(maxsize=2)
def load(path, train_limit, test_limit):
    """minicnn's load_data, once per process for each setting (a Data: train/val/test, classes)."""
    return load_data("fashion-mnist", path=path, train_limit=train_limit, test_limit=test_limit,
                     val_fraction=0.1, seed=0, verbose=False)


def data_settings(budget):
    return {"path": budget.data_path, "train_limit": budget.train_limit, "test_limit": budget.test_limit}


def split(settings, classes=ALL_CLASSES, per_class=None, seed=0):
    """The Split of a run: ``classes`` relabelled 0..K-1, ``per_class`` training images of each drawn with ``seed``."""
    data = load(settings["path"], settings["train_limit"], settings["test_limit"])
    relabel = numpy.full(10, -1)
    relabel[list(classes)] = numpy.arange(len(classes))

    def keep(labels):
        return numpy.flatnonzero(relabel[labels] >= 0)

    train = keep(data.train_y)
    if per_class is not None:
        draw = numpy.random.default_rng([seed, per_class])
        chosen = []
        for label in classes:
            pool = train[data.train_y[train] == label]
            if len(pool) < per_class:
                raise ReproduceError(f"{per_class} training images of class {label} asked for, but the data "
                                     f"has {len(pool)}; use more images (the full data) or fewer per class")
            chosen.append(draw.choice(pool, per_class, replace=False))
        train = draw.permutation(numpy.concatenate(chosen))
    val = keep(data.val_y) if per_class is None else numpy.zeros(0, numpy.int64)
    test = keep(data.test_y)
    return Split(data.train_x[train], relabel[data.train_y[train]], data.val_x[val], relabel[data.val_y[val]],
                 data.test_x[test], relabel[data.test_y[test]], to_float(data.test_images[test])[:, 0])


def class_names(settings, classes=ALL_CLASSES):
    data = load(settings["path"], settings["train_limit"], settings["test_limit"])
    return [data.classes[label] for label in classes]


# ----- convergence and the callbacks -------------------------------------------------------
def converged(history, window=CONVERGED_WINDOW, tolerance=CONVERGED_RANGE):
    """The lr was lowered at least once and val accuracy spans < tolerance over the last ``window`` epochs.

    history: a History or a list of epoch records (dicts with "lr" and "val_accuracy").
    """
    records = list(history.records) if hasattr(history, "records") else list(history)
    if len(records) < window:
        return False
    recent = records[-window:]
    accuracies = [record.get("val_accuracy") for record in recent]
    if any(value is None for value in accuracies):
        return False
    lowered = all(record["lr"] < records[0]["lr"] for record in recent)
    return lowered and max(accuracies) - min(accuracies) < tolerance


def finished(history, spec):
    """Whether a run with this history needs no more epochs."""
    return len(history) >= spec.epochs or (spec.converge and converged(history))


class StopWhenConverged(Callback):
    def on_epoch_end(self, state, epoch, logs):
        if converged(state.history):
            state.stop = True


class KeepEpochs(Callback):
    """Save the weights after every epoch to folder/epoch_K.npz (K = 0: before the first)."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def path(self, epoch):
        return self.folder / f"epoch_{epoch:03d}.npz"

    def on_train_begin(self, state):          # the starting weights, or those a resumed run restored
        start = len(state.history)
        if not self.path(start).is_file():
            save_checkpoint(self.path(start), state.model, epoch=start)

    def on_epoch_end(self, state, epoch, logs):
        save_checkpoint(self.path(epoch + 1), state.model, epoch=epoch + 1)


class StopAfterEpochs(Callback):
    """The test hook: raise Interrupted once ``counter["left"]`` epochs have been trained (after their checkpoint)."""

    def __init__(self, counter):
        self.counter = counter

    def on_epoch_end(self, state, epoch, logs):
        self.counter["left"] -= 1
        if self.counter["left"] <= 0:
            raise Interrupted(f"stopped by the test hook after epoch {epoch + 1} of {state.epochs}")


# ----- training -----------------------------------------------------------------------
def folder_of(runs_dir, spec):
    return Path(runs_dir) / spec.name


def read_json(path):
    with open(path) as file:
        return json.load(file)


def train(spec, runs_dir, progress=True, stop_counter=None):
    """Train ``spec`` in runs_dir/spec.name unless done; returns its done.json record (and "trained": bool).

    stop_counter: {"left": n}, the test hook (StopAfterEpochs); None in real use.
    """
    folder = folder_of(runs_dir, spec)
    wanted = spec.to_dict()
    if (folder / "spec.json").is_file() and read_json(folder / "spec.json") != wanted:
        raise ReproduceError(f"{folder} holds another run (its spec.json differs: another budget or version "
                             "of the reproduction); give another --out, or delete that folder to train it again")
    if (folder / "done.json").is_file():
        return {**read_json(folder / "done.json"), "trained": False}
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "spec.json", wanted)
    part = split(spec.data, spec.classes, spec.per_class, spec.seed)
    rng.manual_seed(spec.seed)                        # the initial weights follow the seed
    model = networks.build(spec.network, len(spec.classes))
    checkpoint = folder / "checkpoint.npz"
    saved = load_checkpoint(checkpoint) if checkpoint.is_file() else None
    trained = saved is None or not finished(saved.history(), spec)
    if trained:
        validation = (part.val_x, part.val_y) if len(part.val_y) else None
        schedule = (ReduceLROnPlateau("val_loss", factor=0.1, patience=spec.patience)
                    if validation is not None else None)
        callbacks = []
        if spec.snapshots:
            callbacks.append(KeepEpochs(folder / "epochs"))
        if spec.converge and validation is not None:
            callbacks.append(StopWhenConverged())
        if stop_counter is not None:
            callbacks.append(StopAfterEpochs(stop_counter))
        images, labels = part.train_x, part.train_y
        if spec.repeat > 1:
            images, labels = numpy.tile(images, (spec.repeat, 1, 1, 1)), numpy.tile(labels, spec.repeat)
        history = fit(model, (images, labels), validation, epochs=spec.epochs,
                      batch_size=spec.batch_size, lr=spec.lr, momentum=spec.momentum, schedule=schedule,
                      callbacks=callbacks, seed=spec.seed, checkpoint=checkpoint, resume=saved,
                      extra={"reproduce": wanted}, progress=progress)
    else:
        model.load_state_dict(saved.model_state)
        history = saved.history()
    result = evaluate(model, part.test_x, part.test_y)
    records = history.to_dict()["epochs"]
    done = {
        "spec": wanted, "epochs": len(records), "converged": converged(records),
        "test_accuracy": result.accuracy, "test_loss": result.loss if math.isfinite(result.loss) else None,
        "val_accuracy": records[-1]["val_accuracy"] if records else None,
        "train_images": int(len(part.train_y)), "test_images": int(len(part.test_y)),
        "train_seconds": sum(record["seconds"] or 0.0 for record in records),
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "history": records,
    }
    write_json(folder / "done.json", done)
    return {**done, "trained": trained}


def load_trained(spec, runs_dir, epoch=None):
    """The trained network of a run (epoch=K: its weights after epoch K, from epochs/), in eval mode."""
    folder = folder_of(runs_dir, spec)
    path = folder / "checkpoint.npz" if epoch is None else KeepEpochs(folder / "epochs").path(epoch)
    model = networks.build(spec.network, len(spec.classes))
    model.load_state_dict(load_checkpoint(path).model_state)
    return model.eval()


def snapshot_epochs(spec, runs_dir):
    """The epochs whose weights a snapshot run kept, in order (0 = the initial weights)."""
    folder = folder_of(runs_dir, spec) / "epochs"
    return sorted(int(path.stem.split("_")[1]) for path in folder.glob("epoch_*.npz"))


# ----- the runs the claims share ---------------------------------------------------------------
def main_run(budget, seed):
    """zfnet_small on all ten classes, every epoch kept: claims 1, 2, 3, 5, and the reference of 4 and 6."""
    return RunSpec(f"main-seed{seed}", networks.describe(budget.width), seed, ALL_CLASSES, None,
                   budget.max_epochs, budget.converge, True, budget.batch_size, budget.lr, budget.momentum,
                   budget.patience, data_settings(budget))


def variant_run(budget, seed, name, remove=(), first_layer=None):
    """zfnet_small with layers removed (claim 6) or another first layer (claim 4), all ten classes."""
    return RunSpec(f"{name}-seed{seed}", networks.describe(budget.width, remove, first_layer), seed, ALL_CLASSES,
                   None, budget.max_epochs, budget.converge, False, budget.batch_size, budget.lr,
                   budget.momentum, budget.patience, data_settings(budget))


def pretrain_run(budget, seed):
    """zfnet_small trained on the five old classes only: the pretrained network of claims 7 and 8."""
    return RunSpec(f"pretrain-old-classes-seed{seed}", networks.describe(budget.width), seed, OLD_CLASSES, None,
                   budget.max_epochs, budget.converge, False, budget.batch_size, budget.lr, budget.momentum,
                   budget.patience, data_settings(budget))


def scratch_run(budget, seed, per_class):
    """zfnet_small trained from scratch on ``per_class`` images of each new class, budget.scratch_steps steps.

    The few images are repeated to fill epochs of at least SCRATCH_EPOCH_IMAGES (one image
    per class: 320 copies of each), so that a run of many steps writes tens of checkpoints,
    not thousands; a batch then holds several copies of an image, which weighs each image
    as a batch of the distinct images would.
    """
    images = per_class * len(NEW_CLASSES)
    repeat = max(1, math.ceil(SCRATCH_EPOCH_IMAGES / images))
    batch = min(budget.batch_size, images * repeat)
    epochs = max(1, math.ceil(budget.scratch_steps / math.ceil(images * repeat / batch)))
    return RunSpec(f"scratch-new-classes-{per_class}-per-class-seed{seed}", networks.describe(budget.width), seed,
                   NEW_CLASSES, per_class, epochs, False, False, batch, budget.lr, budget.momentum,
                   budget.patience, data_settings(budget), repeat)
