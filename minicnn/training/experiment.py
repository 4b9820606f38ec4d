"""One training run, from names to files: what ``minicnn train`` and ``minicnn tour`` do.

    config = RunConfig(model="keras_mnist_cnn", dataset="fashion-mnist", epochs=5, out="runs/keras")
    result = run(config)          # trains, tests, writes the files below
    result.metrics["test_accuracy"]

Files written to ``config.out``:

    checkpoint.npz   weights, optimizer, history, ... after every epoch (minicnn/training/checkpoint.py)
    metrics.json     test loss and accuracy, the per-epoch history, data, backend, timings,
                     world_size (the number of data-parallel ranks)
    curves.png       loss and accuracy against epoch

Data: the training split, cut to ``train_limit`` images, is split into
training and validation images (``val_fraction``, chosen with ``seed``);
pixels are scaled to [0, 1] and standardised with the mean and standard
deviation of the training images, which the checkpoint keeps for ``eval``.
The test split is used once, at the end.

dtype: "float32" (the default) or "float64". The standardised images and the
model's weights (and so its gradients and SGD's velocities) are of that
dtype; float64 makes a run on K ranks follow the single process to
round-off (the order of the gradient sum), where float32's coarser
round-off can flip a ReLU or max-pool decision and let the runs drift.

Every setting is checked before any work (``check_config``: a
RunConfigError names the setting and its range). A resumed run writes
beside the checkpoint it continues (``resume_config``), never into a folder
named inside the checkpoint file.

Data parallelism: ``run(config, communicator=world())`` on every rank of an
MPI job (``minicnn train --distributed``): each rank loads the data and
builds the model, fit shares out every batch (minicnn/distributed/), and
rank 0 alone prints and writes the files.
"""

import dataclasses
import datetime
import math
import numbers
import os
import platform
import sys
import time
from pathlib import Path

import numpy

from .. import __version__, models
from ..engine import rng
from ..engine import backend, threads
from ..engine.backend import get_backend
from .checkpoint import CheckpointError, load_checkpoint, write_json
from .files import hold_folder
from ..engine.errors import NonFiniteError
from ..data import load_dataset, mean_std, normalize, sources, to_float
from ..data.transforms import RandomCrop, RandomShift, keras_example
from ..engine.shapes import ShapeError
from ..distributed import empty_share_problem
from .plots import plot_curves
from .schedules import ReduceLROnPlateau, StepLR
from .callbacks import Callback
from .loop import TrainingDiverged, class_count, evaluate, far_above_chance, fit

AUGMENTATIONS = ("none", "shift", "crop", "keras")
SCHEDULES = ("none", "step", "plateau")
DTYPES = ("float32", "float64")


class RunConfigError(ValueError):
    """Settings of a run that cannot work together: change the settings, not the code.

    An unknown schedule or augmentation, a split that leaves no training
    images, a schedule that watches validation images there are none of, a
    model that does not fit the images, a resume that would change the data.
    ``minicnn train`` reports it in one line, like a mistake on its command line.
    """


@dataclasses.dataclass
class RunConfig:
    """Every setting of a run; stored in the checkpoint so that a resumed run sees the same data."""

    model: str = "zfnet_small"
    dataset: str = "fashion-mnist"
    out: str = "runs/minicnn"
    epochs: int = 5
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    filter_radius: float = None
    schedule: str = "none"          # "none", "step" (step_size, gamma), "plateau" (patience, gamma)
    step_size: int = 5
    patience: int = 2
    gamma: float = 0.1
    augment: str = "none"           # "none", "shift" (up to 10%), "crop" (pad 2), "keras" (notes' set)
    seed: int = 0
    data_path: str = None
    train_limit: int = None
    test_limit: int = None
    val_fraction: float = 0.1
    model_kwargs: dict = dataclasses.field(default_factory=dict)
    dtype: str = "float32"          # of the images and weights: "float32" or "float64" (exact comparisons)

    # Settings that fix which images are seen in which order: a resumed run must keep them.
    # The learning-rate schedule, whose state a resumed run restores: fixed on resume too.
    SCHEDULE_FIELDS = ("schedule", "step_size", "patience", "gamma")
    # dtype too: a resumed run keeps the arithmetic it was trained in (absent from old checkpoints: float32).
    DATA_FIELDS = ("model", "dataset", "seed", "data_path", "train_limit", "test_limit",
                   "val_fraction", "model_kwargs", "dtype")


@dataclasses.dataclass
class Data:
    """A dataset ready for training: float (N, 1, 28, 28) standardised arrays and (N,) labels.

    The arrays are float32, or float64 when load_data is given dtype="float64".

    train_x/y, val_x/y, test_x/y: the three parts; test_images: the test
    split's uint8 (N, 28, 28) pixels, for pictures; classes: the class names;
    mean, std: the standardisation, from the training images; source: where
    the files were read from.
    """

    name: str
    classes: list
    source: str
    mean: float
    std: float
    train_x: numpy.ndarray
    train_y: numpy.ndarray
    val_x: numpy.ndarray
    val_y: numpy.ndarray
    test_x: numpy.ndarray
    test_y: numpy.ndarray
    test_images: numpy.ndarray

    def prepare(self, images):
        """uint8 (N, H, W) pixels -> the network's float (N, 1, H, W) input, of train_x's dtype."""
        return normalize(to_float(images), self.mean, self.std).astype(self.train_x.dtype, copy=False)


def load_data(dataset, path=None, train_limit=None, test_limit=None, val_fraction=0.1, seed=0,
              verbose=True, standardisation=None, dtype="float32"):
    """Load, cut, split and standardise ``dataset``; returns a Data.

    standardisation: (mean, std) to use instead of measuring the training images.
    dtype: of the standardised images, "float32" or "float64" (converted after
    standardising in float32, so both start from the same values).
    """
    if not 0.0 <= val_fraction < 1.0:
        raise RunConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
    train = load_dataset(dataset, "train", path=path, verbose=verbose)
    test = load_dataset(dataset, "test", path=path, verbose=verbose)
    images, labels = train.images[:train_limit], train.labels[:train_limit]
    test_images, test_labels = test.images[:test_limit], test.labels[:test_limit]
    order = numpy.random.default_rng(seed).permutation(len(images))
    held_out = int(round(len(images) * val_fraction))
    val_index, train_index = numpy.sort(order[:held_out]), numpy.sort(order[held_out:])
    if len(train_index) == 0:
        raise RunConfigError(f"no training images left: {len(images)} images, of which val_fraction "
                             f"{val_fraction} are held out for validation")
    mean, std = standardisation or mean_std(images[train_index])
    source = train.source
    if path is not None and Path(path).resolve() == sources.EMBEDDED_DIRS.get(dataset):
        source = f"embedded sample ({path})"

    def prepare(pixels):
        return normalize(to_float(pixels), mean, std).astype(dtype, copy=False)

    return Data(dataset, train.classes, source, mean, std,
                prepare(images[train_index]), labels[train_index],
                prepare(images[val_index]), labels[val_index],
                prepare(test_images), test_labels, test_images)


def _whole(minimum):
    return lambda value: isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum


def _number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _path_or_none(value):
    return value is None or isinstance(value, (str, os.PathLike)) and str(value) != ""


# (setting, what it must be, the test): every field of RunConfig, checked by check_config
CONFIG_RULES = (
    ("model", f"one of {', '.join(models.NAMES)}",
     lambda value: isinstance(value, str) and models.canonical_name(value) in models.NAMES),
    ("dataset", f"one of {', '.join(sources.NAMES)}", lambda value: value in sources.NAMES),
    ("out", "the name of a folder (not empty)", lambda value: value is not None and _path_or_none(value)),
    ("epochs", "a whole number of epochs, at least 1", _whole(1)),
    ("batch_size", "a whole number of images, at least 1", _whole(1)),
    ("lr", "a positive, finite learning rate", lambda value: _number(value) and value > 0),
    ("momentum", "a number in [0, 1)", lambda value: _number(value) and 0 <= value < 1),
    ("weight_decay", "a finite number, 0 or more", lambda value: _number(value) and value >= 0),
    ("filter_radius", "None or a positive, finite RMS", lambda value: value is None or _number(value) and value > 0),
    ("schedule", f"one of {', '.join(SCHEDULES)}", lambda value: value in SCHEDULES),
    ("step_size", "a whole number of epochs, at least 1", _whole(1)),
    ("patience", "a whole number of epochs, 0 or more", _whole(0)),
    ("gamma", "a positive, finite factor", lambda value: _number(value) and value > 0),
    ("augment", f"one of {', '.join(AUGMENTATIONS)}", lambda value: value in AUGMENTATIONS),
    ("seed", "a whole number, 0 or more", _whole(0)),
    ("data_path", "None or the name of a folder", _path_or_none),
    ("train_limit", "None or a whole number of images, at least 1", lambda value: value is None or _whole(1)(value)),
    ("test_limit", "None or a whole number of images, at least 1", lambda value: value is None or _whole(1)(value)),
    ("val_fraction", "a fraction in [0, 1)", lambda value: _number(value) and 0 <= value < 1),
    ("model_kwargs", "a dict of the model's settings (not num_classes: the dataset decides it)",
     lambda value: isinstance(value, dict) and all(isinstance(key, str) for key in value)
     and "num_classes" not in value),
    ("dtype", f"one of {', '.join(DTYPES)}", lambda value: isinstance(value, str) and value in DTYPES),
)


def check_config(config):
    """A RunConfigError naming the first setting of ``config`` outside its range (CONFIG_RULES)."""
    for name, needed, fits in CONFIG_RULES:
        value = getattr(config, name)
        if not fits(value):
            raise RunConfigError(f"the setting {name} must be {needed}; got {value!r}")
    return config


def make_schedule(config):
    """The learning-rate schedule ``config`` asks for, or None."""
    if config.schedule == "none":
        return None
    if config.schedule == "step":
        return StepLR(config.step_size, config.gamma)
    if config.schedule == "plateau":
        if config.val_fraction == 0:
            raise RunConfigError("schedule 'plateau' lowers the learning rate when the validation loss "
                                 "stalls, but val_fraction 0 holds out no validation images")
        if not 0.0 < config.gamma < 1.0:
            raise RunConfigError(f"schedule 'plateau' multiplies the learning rate by gamma when the "
                                 f"validation loss stalls; gamma must be between 0 and 1, got {config.gamma}")
        return ReduceLROnPlateau("val_loss", factor=config.gamma, patience=config.patience)
    raise RunConfigError(f"unknown schedule {config.schedule!r}; choose one of {', '.join(SCHEDULES)}")


def make_augmentation(name):
    """The transform applied to each training batch, or None."""
    if name == "none":
        return None
    if name == "shift":
        return RandomShift(0.1, fill="constant")
    if name == "crop":
        return RandomCrop(28, padding=2)
    if name == "keras":
        return keras_example()
    raise RunConfigError(f"unknown augmentation {name!r}; choose one of {', '.join(AUGMENTATIONS)}")


def machine_info():
    """Backend, device and library versions, recorded next to every figure (docs/style.md rule 10)."""
    device = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as file:
            names = [line.split(":", 1)[1].strip() for line in file if line.startswith("model name")]
        device = names[0] if names else device
    except OSError:
        pass
    device = f"{device}, {os.cpu_count()} CPU cores"
    if get_backend() == "cupy":
        properties = backend.cupy.cuda.runtime.getDeviceProperties(0)
        device = properties["name"].decode() if isinstance(properties["name"], bytes) else properties["name"]
    return {
        "backend": get_backend(), "device": device,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        "NUMBA_NUM_THREADS": os.environ.get("NUMBA_NUM_THREADS"),
        "minicnn_threads": threads.get_num_threads(),
        "python": platform.python_version(), "numpy": numpy.__version__,
        "minicnn": __version__, "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def dataset_input_shape(dataset):
    """The (C, H, W) a model gets from ``dataset``: every dataset minicnn reads is of grey 28x28 images."""
    return (1, *sources.IMAGE_SHAPE)


def check_designed_for(model_name, dataset, what="train"):
    """A RunConfigError, before any data is read or weights drawn, when ``model_name`` was designed
    for images of another shape than ``dataset``'s (alexnet, zfnet, vgg16 take 3x224x224 images)."""
    designed, given = models.input_shape(model_name), dataset_input_shape(dataset)
    if designed != given:
        fitting = [name for name in models.NAMES if models.input_shape(name) == given]
        raise RunConfigError(f"{model_name} takes {designed} images (C, H, W) and {dataset}'s are {given}: "
                             f"nothing to {what}; the models for them are {', '.join(fitting)}")


def check_fits(model, model_name, data):
    """Raise a RunConfigError naming the failing layer if the images do not fit the model."""
    shape = tuple(data.train_x.shape[1:])
    try:
        model.output_shape(shape)
    except ShapeError as error:
        raise RunConfigError(
            f"model {model_name} does not fit {data.name} images of shape {shape} (C, H, W); it was "
            f"designed for {models.input_shape(model_name)}:\n{error}") from error


@dataclasses.dataclass
class RunResult:
    """What ``run`` produced: the trained model, its data, history, test evaluation and metrics."""

    model: object
    data: Data
    history: object
    evaluation: object
    metrics: dict
    config: RunConfig


def run(config, resume=None, progress=True, callbacks=(), verbose=True, communicator=None):
    """Train ``config.model`` on ``config.dataset``, test it, write the files; returns a RunResult.

    resume: a checkpoint path; training continues after its last epoch up
    to ``config.epochs`` (use ``resume_config`` to get a consistent config).
    communicator: train data-parallel on its ranks (minicnn.distributed); None: one process.
    Rank 0 holds ``config.out`` for the whole run (files.hold_folder): a second run into
    it, from another process, is refused with FolderInUse.
    """
    check_config(config)
    if communicator is not None and communicator.rank != 0:  # only rank 0 writes, so only rank 0 holds the folder (files.hold_folder)
        return _run(config, resume, progress, callbacks, verbose, communicator)
    with hold_folder(config.out):
        return _run(config, resume, progress, callbacks, verbose, communicator)


def _run(config, resume, progress, callbacks, verbose, communicator):
    started = time.perf_counter()
    ranks, rank = (1, 0) if communicator is None else (communicator.size, communicator.rank)
    verbose, progress = verbose and rank == 0, progress and rank == 0
    out = Path(config.out)
    check_designed_for(models.canonical_name(config.model), config.dataset)
    schedule, transform = make_schedule(config), make_augmentation(config.augment)  # unknown names fail now
    saved = None if resume is None else load_checkpoint(resume)
    if saved is not None and saved.epoch >= config.epochs:
        raise RunConfigError(f"{resume} has already trained {saved.epoch} epochs and epochs={config.epochs} is "
                             f"the total to reach (not a number of epochs more): ask for more than {saved.epoch}")
    standardisation = None if saved is None else saved_standardisation(saved)
    if saved is not None:  # settings given on resume replace the ones fit restores from the file
        callbacks = [ResumeWithSettings(changed_optimizer_settings(config, saved)), *callbacks]
    data = load_data(config.dataset, config.data_path, config.train_limit, config.test_limit,
                     config.val_fraction, config.seed, verbose, standardisation, config.dtype)
    rng.manual_seed(config.seed)  # the initial weights, too, follow the seed
    # drawn in float32 whatever the dtype, then cast: a float64 run starts from the float32 run's weights
    model = models.get_model(config.model, num_classes=len(data.classes), **config.model_kwargs).to(config.dtype)
    check_fits(model, config.model, data)
    problem = empty_share_problem(len(data.train_y), config.batch_size, ranks)
    if problem is not None:
        raise RunConfigError(problem)
    extra = {"config": dataclasses.asdict(config), "dataset": data.name, "classes": data.classes,
             "normalize": {"mean": data.mean, "std": data.std}}
    history = fit(
        model, (data.train_x, data.train_y), (data.val_x, data.val_y) if len(data.val_y) else None,
        epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, momentum=config.momentum,
        weight_decay=config.weight_decay, schedule=schedule,
        filter_radius=config.filter_radius, transform=transform,
        callbacks=callbacks, seed=config.seed, checkpoint=out / "checkpoint.npz", resume=saved,
        extra=extra, progress=progress, communicator=communicator)
    try:
        evaluation = evaluate(model, data.test_x, data.test_y, communicator=communicator)
    except NonFiniteError:  # an activation overflowed: the weights are finite but far too large
        evaluation = None
    loss = float("inf") if evaluation is None else evaluation.loss
    if not math.isfinite(loss):  # metrics.json cannot hold it, and the weights are no use
        raise TrainingDiverged(
            f"training diverged: after epoch {len(history)} the test loss is {loss} (the weights are "
            f"finite, but so large that the class scores overflow); {out / 'checkpoint.npz'} holds them; "
            f"train again with a smaller learning rate than {config.lr:g}")
    classes = class_count(model, data.test_x, data.test_y)
    if far_above_chance(loss, classes):  # a loss far above chance (loop.py, "Divergence")
        raise TrainingDiverged(
            f"training diverged: after epoch {len(history)} the test loss {far_above_chance(loss, classes)}; "
            f"{out / 'checkpoint.npz'} holds those weights; train again with a smaller learning rate "
            f"than {config.lr:g}")
    if rank == 0:
        plot_curves(history, out / "curves.png", title=f"{config.model} on {data.name}")
    # seconds of training only (no validation), from each epoch's images/s
    train_seconds = sum(len(data.train_y) / rate for rate in history["images_per_second"])
    metrics = {
        "model": config.model, "model_kwargs": model.config["kwargs"],
        "parameters": sum(p.size for p in model.parameters()),
        "dataset": data.name, "data_source": data.source, "classes": data.classes,
        "train_images": len(data.train_y), "val_images": len(data.val_y), "test_images": len(data.test_y),
        "test_accuracy": evaluation.accuracy, "test_loss": evaluation.loss,
        "epochs": len(history), "seconds": time.perf_counter() - started, "world_size": ranks,
        "train_seconds": train_seconds,
        "images_per_second": len(data.train_y) * len(history) / train_seconds if len(history) else None,
        **machine_info(),
        "config": dataclasses.asdict(config), "resumed_from": None if resume is None else str(resume),
        "checkpoint": "checkpoint.npz", "curves": "curves.png",
        "history": history.to_dict()["epochs"],
    }
    if rank == 0:
        write_json(out / "metrics.json", metrics)
    return RunResult(model, data, history, evaluation, metrics, config)


OPTIMIZER_FIELDS = ("lr", "momentum", "weight_decay", "filter_radius")


def changed_optimizer_settings(config, checkpoint):
    """{setting: value} of SGD's settings in ``config`` that differ from those the checkpoint's run was given.

    fit restores the optimizer as saved (its lr possibly annealed by a
    schedule); a setting changed on resume, e.g. a smaller lr after the run
    diverged, must win over it, or it would be ignored without a word.
    """
    before = checkpoint.extra.get("config") or checkpoint.metadata["optimizer"] or {}
    return {key: getattr(config, key) for key in OPTIMIZER_FIELDS
            if key in before and getattr(config, key) != before[key]}


class ResumeWithSettings(Callback):
    """Set the optimizer's changed settings once fit has restored the checkpoint's (on_train_begin)."""

    def __init__(self, settings):
        self.settings = settings

    def on_train_begin(self, state):
        for key, value in self.settings.items():
            setattr(state.optimizer, key, value)


def resume_config(checkpoint, **changes):
    """The RunConfig a checkpoint was trained with, with ``changes`` applied.

    Changing a DATA_FIELDS setting (model, dataset, seed, limits, ...) would
    train on other images or another network than the checkpoint's: a
    RunConfigError says so, as does changing the schedule (its state goes
    on from the file). Other settings (epochs, out, lr, ...) may change: a
    new lr, momentum or weight_decay replaces the optimizer's saved one.
    ``out`` is the checkpoint's own folder unless ``changes`` gives one: the
    folder stored in the file is not used, so a checkpoint that was copied,
    or crafted, never makes a run write somewhere else.
    """
    saved = load_checkpoint(checkpoint).extra.get("config")
    if saved is None:
        raise CheckpointError(f"{checkpoint}: holds no run settings (it was not written by minicnn train)")
    fields = {field.name for field in dataclasses.fields(RunConfig)}
    unknown = sorted(set(saved) - fields)
    if unknown:
        raise CheckpointError(f"{checkpoint}: not a minicnn checkpoint (field extra.config has {unknown[0]!r}, "
                              f"which is not a setting of a run; they are {', '.join(sorted(fields))})")
    config = RunConfig(**saved)
    config.out = str(Path(checkpoint).parent)
    try:
        check_config(config)
    except RunConfigError as error:
        raise CheckpointError(f"{checkpoint}: not a minicnn checkpoint (field extra.config: {error})") from error
    for key, value in changes.items():
        if value is None:
            continue
        if key in RunConfig.SCHEDULE_FIELDS and value != getattr(config, key):
            raise RunConfigError(
                f"{checkpoint} was trained with {key}={getattr(config, key)!r}; its learning-rate schedule "
                f"goes on from the state saved in the file, so {key} cannot change on resume (drop that "
                "option, or start a new run)")
        if key in RunConfig.DATA_FIELDS and value != getattr(config, key):
            raise RunConfigError(
                f"{checkpoint} was trained with {key}={getattr(config, key)!r}; resuming with "
                f"{key}={value!r} would not continue the same run (drop that option)")
        setattr(config, key, value)
    return config


def trained_dataset(checkpoint):
    """The name of the dataset ``run`` trained a checkpoint on; a CheckpointError if it does not say."""
    dataset = checkpoint.extra.get("dataset")
    if dataset is None:
        raise CheckpointError(f"{checkpoint.path} does not say which dataset it was trained on; "
                              "name one (minicnn eval/visualize --dataset, or dataset= in Python)")
    return dataset


def saved_standardisation(checkpoint):
    """The (mean, std) of the training images that ``run`` stored in its checkpoint, or None.

    Test images are standardised with the training images' statistics, never their own.
    """
    saved = checkpoint.extra.get("normalize")
    return None if saved is None else (saved["mean"], saved["std"])


def print_result(metrics, file=None):
    """One line: model, data, test accuracy and loss, epochs, time, speed."""
    dtype = metrics.get("config", {}).get("dtype", "float32")
    dtype_note = "" if dtype == "float32" else f", {dtype}"
    print(f"{metrics['model']} on {metrics['dataset']} ({metrics['data_source']}): "
          f"test accuracy {metrics['test_accuracy']:.4f}, test loss {metrics['test_loss']:.4f} "
          f"after {metrics['epochs']} epoch{'' if metrics['epochs'] == 1 else 's'}, {metrics['seconds']:.0f} s "
          f"({metrics['images_per_second']:.0f} training images/s, backend {metrics['backend']}"
          f"{dtype_note})", file=file or sys.stdout)
