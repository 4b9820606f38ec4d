"""Training and evaluation: mini-batch SGD on arrays, with a record of each epoch.

    history = fit(model, (x_train, y_train), (x_val, y_val), epochs=10, lr=0.01)
    loss, accuracy, predictions = evaluate(model, x_test, y_test)

x_*: float32 (N, C, H, W) NumPy (or CuPy) arrays, y_*: (N,) integer labels.
One epoch of ``fit`` is one ``train_step`` (step.py) for every mini-batch
(x, y) the DataLoader gives:

    def train_step(model, optimizer, images, labels, reduce_gradients=None):
        logits = model(tensor(images))            (B, K) class scores, dropout active
        loss = F.cross_entropy(logits, labels)    mean over the batch of -log softmax(logits)[y]
        optimizer.zero_grad()
        loss.backward()                           dloss/dp for every parameter p
        if reduce_gradients is not None:
            reduce_gradients()                    data parallelism: the ranks' gradients summed
        optimizer.step()                          v = momentum v + g + wd p;  p -= lr v  (optim.py)
        correct = int((logits.data.argmax(axis=1) == labels).sum())
        return float(loss.item()), correct

Around each step: this rank's rows of the batch, the progress bar, the
divergence check and the callbacks' on_batch_end. After the last batch:
validation (dropout off), the History record, the learning-rate schedule,
the checkpoint, and the callbacks' on_epoch_end.

Divergence. An epoch has diverged, and is never saved, when
  - a batch's loss, a weight, a velocity or the validation loss is NaN or
    infinite, or the validation pass overflows (weights finite but so large
    that the class scores do not fit in a float), or
  - the epoch's mean training loss or its validation loss is above
    DIVERGED_LOSS_FACTOR * ln K (K classes; at least 2).
Why ln K: a model that guesses every class with probability 1/K has a
cross-entropy of exactly ln K (2.30 for 10 classes), and training starts
near it. Ten times that is a mean probability of e^-23 on the true class
(K = 10): a model confidently wrong on nearly every image, which no run that
is learning passes through, and what a learning rate far too large gives
(LeNet-5 at lr 1000: a loss of 45,000). fit then raises TrainingDiverged,
naming the epoch and the value, with the last good checkpoint untouched.
NumPy's overflow warnings are silenced inside the epoch and in evaluate
(numpy.errstate, for that block only), because these checks report the
overflow themselves, once, in words.

Reproducibility. Everything random in epoch e comes from (seed, e) alone:
the DataLoader draws the order and the augmentation from
SeedSequence([seed, e]) (children 0 and 1), and fit reseeds minicnn's own
generator, which dropout uses, from child 2. So resuming from the checkpoint
of epoch e replays epochs e+1, ... exactly as an unbroken run, on every
backend (the checkpoint also stores the generator's state).

Data parallelism (``communicator=``, minicnn/distributed/). K processes
(ranks) run fit together; batch_size is the GLOBAL batch B. Every rank
walks the same global batches, takes its rows of each (b_r of them), and
between backward and step the gradients are summed over the ranks in one
all-reduce, each weighted b_r / B, so that every rank applies the update of
the whole batch's mean loss, the same update a single process applies.
Dropout draws for the whole batch and keeps the rank's rows, and the
augmentation is applied to the whole batch, so each image gets the random
numbers it gets in one process. Rank 0 alone shows progress and writes the
checkpoint; validation is shared out and summed.
"""

import dataclasses
import math
import numbers
import sys
import time
from collections import namedtuple

import numpy
from tqdm import tqdm

from ..engine import functional as F
from ..engine import rng
from ..engine.errors import NonFiniteError
from ..engine.backend import default_device, get_array_module, to_device, to_numpy
from .callbacks import Callback
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from ..data.loader import DataLoader
from .history import History
from .step import train_step
from ..engine.optim import SGD
from ..engine.tensor import no_grad, tensor
from ..distributed import GradientAllReduce, SingleProcess, broadcast_parameters, empty_share_problem, share


# An epoch whose mean training or validation loss is above this many times ln K (the loss of
# guessing among K classes) has diverged (module docstring, "Divergence").
DIVERGED_LOSS_FACTOR = 10

# NumPy's floating-point warnings inside an epoch and an evaluation: the divergence checks
# report overflow themselves (numpy.errstate: for the block only, nothing process-wide).
QUIET_OVERFLOW = {"over": "ignore", "invalid": "ignore", "divide": "ignore"}


class TrainingDiverged(FloatingPointError):
    """The run diverged: a NaN or infinite loss, weight or velocity, a validation pass that
    overflowed, or a mean loss far above chance (module docstring, "Divergence").

    Raised by ``fit`` before anything is saved, so the checkpoint of the last
    good epoch stays as it was. The usual cause is a learning rate too large
    for the model (or a momentum too close to 1).
    """


@dataclasses.dataclass
class TrainingState:
    """Everything a callback may look at (and ``stop``, which it may set).

    model, optimizer, schedule, history: as used by fit
    loader:        the training DataLoader
    train_images:  (N, C, H, W) on the active backend's device; train_labels: (N,)
    val_images, val_labels: the validation data, or None
    epoch:         the current epoch, 0-based; epochs: the total number
    seed:          the seed of the data order and of dropout
    checkpoint:    path of the checkpoint written after every epoch, or None
    stop:          set to True to end training after the current epoch
    communicator:  the ranks training together (minicnn/distributed/); callbacks run
                   on every rank, and one that writes files should do so on rank 0
    gradients:     the GradientAllReduce that sums the gradients over the ranks
    classes:       K, the number of class scores the model gives (for the divergence rule)
    """

    model: object
    optimizer: SGD
    schedule: object
    history: History
    loader: DataLoader
    train_images: object
    train_labels: object
    val_images: object
    val_labels: object
    epochs: int
    seed: int
    checkpoint: object = None
    epoch: int = 0
    stop: bool = False
    communicator: object = None
    gradients: object = None
    classes: int = 2


def epoch_seed(seed, epoch):
    """Seed of minicnn's generator (dropout) in ``epoch``: child 2 of SeedSequence([seed, epoch])."""
    child = numpy.random.SeedSequence([seed, epoch]).spawn(3)[2]
    return int(child.generate_state(1)[0])


def _on_device(pair, what):
    """(images, labels) -> the same, on the active backend's device, checked."""
    if pair is None:
        return None, None
    images, labels = pair
    if len(images) != len(labels):
        raise ValueError(f"fit: {what} has {len(images)} images but {len(labels)} labels")
    if images.ndim != 4 or not numpy.issubdtype(images.dtype, numpy.floating):
        raise ValueError(
            f"fit: {what} images must be float (N, C, H, W), got {images.dtype} {tuple(images.shape)}; "
            "convert uint8 (N, H, W) images with minicnn.data.to_float")
    xp = get_array_module(images)
    if not bool(xp.isfinite(images).all()):  # so that a NaN met while training means the weights
        bad = int(images.size - int(xp.isfinite(images).sum()))
        raise ValueError(f"fit: {what} images hold {bad} NaN or infinite values; give finite pixels")
    device = default_device()
    return to_device(images, device), to_device(labels, device)


def fit(model, train, val=None, *, epochs, batch_size=64, lr=0.01, momentum=0.9,
        weight_decay=0.0, schedule=None, filter_radius=None, transform=None, callbacks=(),
        seed=None, checkpoint=None, resume=None, extra=None, progress=True, eval_batch_size=500,
        communicator=None):
    """Train ``model`` for ``epochs`` epochs (in total, counting resumed ones); return its History.

    train, val:     (images, labels) pairs; val is evaluated after every epoch
    batch_size, lr, momentum, weight_decay, filter_radius: mini-batch size and
                    optim.SGD's settings (filter_radius=0.1 is ZFNet's renormalization)
    schedule:       a StepLR or ReduceLROnPlateau (minicnn/training/schedules.py), or None
    transform:      augmentation applied to each training batch (minicnn.data transforms)
    callbacks:      Callback objects (minicnn/training/callbacks.py)
    seed:           seed of the data order, augmentation and dropout (default 0, or
                    the checkpoint's when resuming)
    checkpoint:     path of a .npz written (atomically) after every epoch, or None
    resume:         a checkpoint path (or Checkpoint) to continue from: restores the
                    weights, the optimizer (its lr and velocities), the schedule, the
                    history and the random state, then trains epochs saved+1 .. epochs
    extra:          JSON data stored in the checkpoint (dataset, normalization, ...)
    progress:       show a tqdm bar per epoch (loss, accuracy, images/s) on stderr
    communicator:   train data-parallel on its ranks (minicnn.distributed.world()), with
                    rank 0's initial weights; None: this process alone
    """
    _check_settings(epochs, batch_size, eval_batch_size, seed, transform)
    train_images, train_labels = _on_device(train, "train")
    val_images, val_labels = _on_device(val, "val")
    if len(train_images) == 0:
        raise ValueError("fit: train has no images; give at least one (images, labels) pair")
    if hasattr(model, "output_shape"):
        model.output_shape(tuple(train_images.shape[1:]))  # a ShapeError names the layer that does not fit
    monitor = getattr(schedule, "monitor", "")
    if monitor.startswith("val_") and val_images is None:
        raise ValueError(f"fit: the schedule {schedule!r} monitors {monitor!r} but no validation "
                         "data was given; pass val=(images, labels) (minicnn train: --val-fraction above 0) "
                         "or monitor a train_ value")
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise TypeError(f"fit: callbacks must be minicnn.training.callbacks.Callback objects, got {callback!r}")
    optimizer = SGD(model.parameters(), lr, momentum, weight_decay, filter_radius)
    history, start = History(), 0
    if resume is not None:
        saved = resume if isinstance(resume, Checkpoint) else load_checkpoint(resume)
        saved_seed = saved.metadata["data"]["seed"]
        if seed is not None and saved_seed is not None and seed != saved_seed:
            raise ValueError(
                f"fit: the checkpoint {saved.path} was trained with seed {saved_seed}, not {seed}; "
                "resume with the same seed (or seed=None) to replay the same data order")
        seed = saved_seed if seed is None else seed
        if saved.epoch >= epochs:
            raise ValueError(
                f"fit: the checkpoint {saved.path} has already trained {saved.epoch} epochs, and epochs="
                f"{epochs} is the total to reach, not a number of epochs more; ask for more than {saved.epoch}")
        saved.restore(model, optimizer, schedule)
        history, start = saved.history(), saved.epoch
    seed = 0 if seed is None else int(seed)
    communicator = SingleProcess() if communicator is None else communicator
    problem = empty_share_problem(len(train_images), batch_size, communicator.size)
    if problem is not None:
        raise ValueError(f"fit: {problem}")
    broadcast_parameters(model.parameters(), communicator)   # every rank starts from rank 0's weights
    loader = DataLoader(train_images, train_labels, batch_size, shuffle=True, seed=seed,
                        transform=transform)                 # the global batches, the same on every rank
    state = TrainingState(model, optimizer, schedule, history, loader, train_images, train_labels,
                          val_images, val_labels, epochs, seed, checkpoint, communicator=communicator,
                          gradients=GradientAllReduce(model.parameters(), communicator),
                          classes=class_count(model, train_images, train_labels))
    for callback in callbacks:
        callback.on_train_begin(state)
    for epoch in range(start, epochs):
        state.epoch = epoch
        with numpy.errstate(**QUIET_OVERFLOW):
            logs = _train_one_epoch(state, callbacks, progress and communicator.rank == 0, eval_batch_size)
        _check_diverged(state, logs)   # before anything is saved: the last good checkpoint stays
        history.append(logs)
        if schedule is not None:
            optimizer.lr = schedule.next_lr(epoch, logs, optimizer.lr)
        if checkpoint is not None and communicator.rank == 0:
            save_checkpoint(checkpoint, model, optimizer, epoch=epoch + 1, seed=seed,
                            history=history, schedule=schedule, extra=extra)
        for callback in callbacks:
            callback.on_epoch_end(state, epoch, logs)
        if state.stop:
            break
    for callback in callbacks:
        callback.on_train_end(state)
    return history


def _check_settings(epochs, batch_size, eval_batch_size, seed, transform):
    """A ValueError (TypeError for a transform) naming the first setting of fit outside its range.

    SGD checks its own (lr, momentum, weight_decay, filter_radius) when fit makes it.
    """
    for name, value, minimum in (("epochs", epochs, 1), ("batch_size", batch_size, 1),
                                 ("eval_batch_size", eval_batch_size, 1), ("seed", seed, 0)):
        if name == "seed" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
            raise ValueError(f"fit: {name} must be a whole number, at least {minimum}; got {value!r}")
    if transform is not None and not callable(transform):
        raise TypeError(f"fit: transform must be a function of a batch of images, or None; got {transform!r}")


def _diverged(state, batch, what):
    """The sentence TrainingDiverged says: where, what, what was kept, what to try."""
    saved = (f"the checkpoint of epoch {state.epoch} in {state.checkpoint} is unchanged"
             if state.checkpoint is not None and state.epoch > 0 else "nothing was saved")
    return (f"training diverged in epoch {state.epoch + 1}, batch {batch} of {len(state.loader)}: {what}; "
            f"{saved}; try a smaller learning rate than {state.optimizer.lr:g}"
            + (f" or a momentum below {state.optimizer.momentum:g}" if state.optimizer.momentum >= 0.95 else ""))


def _non_finite(state):
    """What holds NaN or infinite values first: "weight 0.weight", "the velocity of 0.weight"; or None."""
    model, optimizer = state.model, state.optimizer
    names = ([name for name, _ in model.named_parameters()] if hasattr(model, "named_parameters")
             else [str(index) for index in range(len(optimizer.params))])
    for name, parameter, velocity in zip(names, optimizer.params, optimizer.velocity):
        xp = get_array_module(parameter.data)
        for what, array in ((f"weight {name}", parameter.data), (f"the velocity of {name}", velocity)):
            if array is not None and not bool(xp.isfinite(array).all()):
                return what
    return None


def class_count(model, images, labels):
    """K, the number of class scores ``model`` gives for ``images`` (at least 2; from the labels if
    the model cannot say its output shape without running)."""
    try:
        classes = int(model.output_shape(tuple(images.shape[1:]))[-1])
    except (AttributeError, TypeError, ValueError, IndexError):
        classes = int(to_numpy(labels).max()) + 1 if len(labels) else 2
    return max(classes, 2)


def diverged_loss(classes):
    """The mean loss above which an epoch has diverged: DIVERGED_LOSS_FACTOR * ln K."""
    return DIVERGED_LOSS_FACTOR * math.log(max(classes, 2))


def far_above_chance(loss, classes):
    """The reason ``loss`` means divergence ("is 4.5e+04, above 10 ln 10 = 23.0, ..."), or None."""
    if loss is None or not math.isfinite(loss) or loss <= diverged_loss(classes):
        return None
    return (f"is {loss:.4g}, above {DIVERGED_LOSS_FACTOR} ln {classes} = {diverged_loss(classes):.1f} "
            f"(guessing among the {classes} classes scores ln {classes} = {math.log(classes):.2f})")


def _check_diverged(state, logs):
    """TrainingDiverged unless every weight, velocity and loss of the epoch just trained is finite
    and its mean training and validation losses are not far above chance (module docstring)."""
    broken = _non_finite(state)
    batches = len(state.loader)
    if broken is not None:
        raise TrainingDiverged(_diverged(state, batches, f"{broken} holds NaN or infinite values"))
    if logs["val_loss"] is not None and not math.isfinite(logs["val_loss"]):
        raise TrainingDiverged(_diverged(state, batches, f"the validation loss is {logs['val_loss']}"))
    for name, key in (("the epoch's mean training loss", "train_loss"), ("the validation loss", "val_loss")):
        reason = far_above_chance(logs[key], state.classes)
        if reason is not None:
            raise TrainingDiverged(_diverged(state, batches, f"{name} {reason}"))


def largest_weight(state):
    """max |w| over every weight of the model (a float)."""
    return max(float(abs(to_numpy(parameter.data)).max(initial=0.0)) for parameter in state.optimizer.params)


def _train_one_epoch(state, callbacks, progress, eval_batch_size):
    """One pass over the training data, then validation; returns the History record."""
    model, optimizer, loader, epoch = state.model, state.optimizer, state.loader, state.epoch
    communicator = state.communicator
    rng.manual_seed(epoch_seed(state.seed, epoch))
    loader.set_epoch(epoch)
    model.train()
    for callback in callbacks:
        callback.on_epoch_begin(state, epoch)
    lr = optimizer.lr
    total_loss, correct, seen = 0.0, 0, 0
    started = time.perf_counter()
    bar = tqdm(total=len(loader), desc=f"epoch {epoch + 1}/{state.epochs}", unit="batch",
               disable=not progress, file=sys.stderr, dynamic_ncols=True)
    batch, validating = 0, False
    try:
        for batch, (x, y) in enumerate(loader):            # x: (B, C, H, W), the global batch
            batch_rows = len(y)                              # B (fewer in the last batch)
            rows = share(batch_rows, communicator.rank, communicator.size)   # this rank's rows: all in one process
            x, y = x[rows], y[rows]
            with rng.drawing_for_batch(rows, batch_rows):    # dropout: the batch's numbers, these rows
                # loss: the mean over this rank's b_r rows; between backward and step the
                # gradients are summed over the ranks, g = sum_r (b_r / B) g_r, on every rank
                loss_value, batch_correct = train_step(
                    model, optimizer, x, y,
                    reduce_gradients=lambda: state.gradients.allreduce(weight=len(y) / batch_rows))
            if not math.isfinite(loss_value):
                broken = _non_finite(state)
                what = f"the loss became {loss_value}" if broken is None else f"{broken} holds NaN or infinite values"
                raise TrainingDiverged(_diverged(state, batch + 1, what))
            total_loss += loss_value * len(y)
            correct, seen = correct + batch_correct, seen + len(y)
            rate = seen / max(time.perf_counter() - started, 1e-9)
            bar.update(1)
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}",
                            img_s=f"{rate:.0f}", refresh=False)
            for callback in callbacks:
                callback.on_batch_end(state, batch, {"loss": loss_value,
                                                     "accuracy": batch_correct / len(y), "size": len(y)})
        train_seconds = time.perf_counter() - started
        # the epoch's sums over every rank's rows (one small all-reduce; nothing moves in one process)
        total_loss, correct, seen = communicator.allreduce_sum(numpy.array([total_loss, correct, seen]))
        total_loss, correct, seen = float(total_loss), int(correct), int(seen)
        logs = {"epoch": epoch + 1, "train_loss": total_loss / seen, "train_accuracy": correct / seen,
                "val_loss": None, "val_accuracy": None, "lr": lr, "seconds": None,
                "images_per_second": seen / train_seconds}
        if state.val_images is not None:
            validating = True
            result = evaluate(model, state.val_images, state.val_labels, eval_batch_size, communicator)
            logs["val_loss"], logs["val_accuracy"] = result.loss, result.accuracy
        logs["seconds"] = time.perf_counter() - started
        bar.set_postfix_str(describe_epoch(logs), refresh=True)
    except ValueError as error:  # an op refusing a NaN weight is the run diverging, not a bug
        broken = _non_finite(state)
        if broken is not None:
            raise TrainingDiverged(_diverged(state, batch + 1, f"{broken} holds NaN or infinite values")) from error
        if validating and isinstance(error, NonFiniteError):  # the images are finite (fit checked them)
            raise TrainingDiverged(_diverged(
                state, len(loader), f"the validation pass overflowed (the weights are finite, but as large as "
                f"{largest_weight(state):.3g}, and the class scores do not fit in a float)")) from error
        raise
    finally:
        bar.close()
    return logs


def describe_epoch(logs):
    """One line about an epoch: "loss 0.41 acc 0.851 | val loss 0.38 acc 0.862 | lr 0.01 | 15.2 s, 380 img/s"."""
    text = f"loss {logs['train_loss']:.4f} acc {logs['train_accuracy']:.4f}"
    if logs.get("val_loss") is not None:
        text += f" | val loss {logs['val_loss']:.4f} acc {logs['val_accuracy']:.4f}"
    return text + f" | lr {logs['lr']:.3g} | {logs['seconds']:.1f} s, {logs['images_per_second']:.0f} img/s"


Evaluation = namedtuple("Evaluation", "loss accuracy predictions")
Evaluation.__doc__ = """loss: mean cross-entropy; accuracy: fraction right; predictions: (N,) int64 NumPy."""


def evaluate(model, images, labels, batch_size=500, communicator=None):
    """Loss, accuracy and predicted classes of ``model`` on (images, labels), dropout off.

    images: (N, C, H, W) float; labels: (N,) ints. Runs in eval mode under
    no_grad, ``batch_size`` images at a time, and restores the model's mode.
    communicator: the ranks share the images out (sharding.share) and sum
    their losses; each gets every prediction. Returns Evaluation(loss, accuracy, predictions).
    """
    if len(images) != len(labels):
        raise ValueError(f"evaluate: {len(images)} images but {len(labels)} labels")
    if communicator is not None and communicator.size > 1:
        rows = share(len(labels), communicator.rank, communicator.size)
        mine = evaluate(model, images[rows], labels[rows], batch_size)
        loss_sum = communicator.allreduce_sum(numpy.array([mine.loss * len(mine.predictions)]))[0]
        predictions = numpy.concatenate(communicator.allgather(mine.predictions))
        accuracy = float((predictions == to_numpy(labels)).mean()) if len(labels) else float("nan")
        return Evaluation(float(loss_sum) / max(len(labels), 1), accuracy, predictions)
    was_training = model.training
    model.eval()
    total_loss, predictions = 0.0, []
    try:
        with no_grad(), numpy.errstate(**QUIET_OVERFLOW):   # an overflow is a NonFiniteError, or an inf loss
            for start in range(0, len(images), batch_size):
                x = tensor(images[start:start + batch_size])
                y = labels[start:start + batch_size]
                logits = model(x)
                total_loss += float(F.cross_entropy(logits, y).item()) * len(y)
                predictions.append(to_numpy(logits.data.argmax(axis=1)).astype(numpy.int64))
    finally:
        model.train(was_training)
    predictions = numpy.concatenate(predictions) if predictions else numpy.zeros(0, numpy.int64)
    accuracy = float((predictions == to_numpy(labels)).mean()) if len(labels) else float("nan")
    return Evaluation(total_loss / max(len(labels), 1), accuracy, predictions)


def confusion_matrix(labels, predictions, num_classes):
    """(K, K) int64 counts: row = true class, column = predicted class."""
    labels, predictions = to_numpy(labels).astype(numpy.int64), numpy.asarray(predictions, numpy.int64)
    flat = numpy.bincount(labels * num_classes + predictions, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)
