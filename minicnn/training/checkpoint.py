"""Checkpoints: one ``.npz`` file per run, written atomically, read without pickle.

A checkpoint is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays):

    model/<name>            each parameter, PyTorch's names: model/0.weight (32, 1, 5, 5)
    optimizer/velocity/<i>  SGD's velocity of parameter i (absent before its first step)
    metadata.json           uint8 array: the bytes of a UTF-8 JSON document with
        format, version      "minicnn-checkpoint", 1
        model                {"name", "kwargs"} from models.get_model (or null)
        epoch                number of completed epochs
        optimizer            SGD's settings (lr, momentum, weight_decay, filter_radius)
        schedule             {"type": "StepLR", "state": {...}} or null
        random               minicnn.engine.rng.get_state() (dropout's generator)
        data                 {"seed": s, "next_epoch": e}: DataLoader order of the next epoch
        history              History.to_dict(): the record of every epoch so far
        extra                the caller's JSON data (dataset, normalization, ...)

Why one file, not a directory: a file can be replaced atomically. It is
written to a temporary file in the same directory, flushed and fsync'ed,
then ``os.replace``d over the old one (atomic on POSIX and Windows), and the
directory is fsync'ed: an interruption at any moment leaves either the old
complete checkpoint or the new complete one, never half of either.

Why no pickle: unpickling can run arbitrary code, so a checkpoint is only
ever read with ``numpy.load(..., allow_pickle=False)``; an archive holding
an object array is rejected with a CheckpointError.
"""

import contextlib
import dataclasses
import datetime
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy

from ..engine import rng

FORMAT, VERSION = "minicnn-checkpoint", 1
METADATA_KEY = "metadata.json"


class CheckpointError(ValueError):
    """A file that is not a complete, pickle-free minicnn checkpoint, or lacks what is asked of it."""


# ----- writing files atomically -------------------------------------------------
def atomic_write(path, write, mode="wb"):
    """Create or replace ``path`` with what ``write(file)`` writes, atomically.

    Temporary file in the same directory -> write -> flush -> fsync ->
    os.replace -> fsync the directory. On any exception (KeyboardInterrupt
    included) the temporary file is removed and ``path`` is left untouched.
    Returns ``path`` as a Path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, mode) as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)
    return path


def _fsync_directory(directory):
    """Make the rename itself durable (not possible, nor needed, on Windows)."""
    with contextlib.suppress(OSError, AttributeError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def write_json(path, data):
    """Write ``data`` as indented JSON to ``path``, atomically."""
    text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    return atomic_write(path, lambda file: file.write(text), mode="w")


# ----- saving --------------------------------------------------------------------
def save_checkpoint(path, model, optimizer=None, *, epoch, seed=None, history=None,
                    schedule=None, extra=None):
    """Write everything needed to resume training after ``epoch`` completed epochs.

    model: its ``config`` (set by models.get_model) is stored so that
    ``load_model`` can rebuild it. optimizer: an optim.SGD or None.
    seed: the data-order seed of the run. extra: any JSON-serialisable dict.
    """
    arrays = {f"model/{name}": array for name, array in model.state_dict().items()}
    optimizer_meta = None
    if optimizer is not None:
        state = optimizer.state_dict()
        velocities = state.pop("velocity")
        for index, velocity in enumerate(velocities):
            if velocity is not None:
                arrays[f"optimizer/velocity/{index}"] = velocity
        optimizer_meta = {"type": type(optimizer).__name__, "parameters": len(velocities), **state}
    metadata = {
        "format": FORMAT, "version": VERSION,
        "saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": getattr(model, "config", None),
        "epoch": int(epoch),
        "optimizer": optimizer_meta,
        "schedule": None if schedule is None else {
            "type": type(schedule).__name__, "state": schedule.state_dict()},
        "random": rng.get_state(),
        "data": {"seed": seed, "next_epoch": int(epoch)},
        "history": None if history is None else history.to_dict(),
        "extra": extra or {},
    }
    text = json.dumps(metadata, allow_nan=False).encode("utf-8")
    arrays[METADATA_KEY] = numpy.frombuffer(text, dtype=numpy.uint8)
    return atomic_write(path, lambda file: numpy.savez(file, **arrays))


# ----- loading -------------------------------------------------------------------
@dataclasses.dataclass
class Checkpoint:
    """A loaded checkpoint.

    metadata:    the JSON document (see the module docstring)
    model_state: {parameter name: NumPy array}, for model.load_state_dict
    velocities:  one array or None per parameter, for SGD.load_state_dict
    """

    path: Path
    metadata: dict
    model_state: dict
    velocities: list

    @property
    def epoch(self):
        return self.metadata["epoch"]

    @property
    def extra(self):
        return self.metadata.get("extra") or {}

    @property
    def model_name(self):
        """The models.get_model name it was saved from, or "model" when it does not say."""
        return (self.metadata.get("model") or {}).get("name", "model")

    def history(self):
        from .history import History
        data = self.metadata.get("history")
        return History() if data is None else History.from_dict(data)

    def optimizer_state(self):
        """The dict SGD.load_state_dict takes, or None if no optimizer was saved."""
        settings = self.metadata.get("optimizer")
        if settings is None:
            return None
        keys = ("lr", "momentum", "weight_decay", "filter_radius")
        return {**{key: settings[key] for key in keys}, "velocity": self.velocities}

    def restore(self, model, optimizer=None, schedule=None):
        """Load weights, optimizer state, schedule state and minicnn's random state."""
        model.load_state_dict(self.model_state)
        if optimizer is not None and self.optimizer_state() is not None:
            optimizer.load_state_dict(self.optimizer_state())
        saved_schedule = self.metadata.get("schedule")
        if schedule is not None and saved_schedule is not None:
            if saved_schedule["type"] != type(schedule).__name__:
                raise CheckpointError(
                    f"{self.path}: saved with a {saved_schedule['type']} schedule, "
                    f"resumed with a {type(schedule).__name__}")
            schedule.load_state_dict(saved_schedule["state"])
        rng.set_state(self.metadata["random"])


def load_checkpoint(path):
    """Read a checkpoint written by save_checkpoint; never unpickles anything."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if not zipfile.is_zipfile(path):  # numpy.load would take any other file for a pickle
        raise CheckpointError(f"{path}: not a complete .npz checkpoint (not a zip archive)")
    try:
        with numpy.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except ValueError as error:  # numpy refuses object arrays without pickle
        raise CheckpointError(
            f"{path}: holds an object (pickled) array ({error}); minicnn checkpoints hold "
            "only numeric arrays and are never unpickled, since unpickling can run code"
        ) from error
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise CheckpointError(f"{path}: not a complete .npz checkpoint ({error})") from error
    if METADATA_KEY not in arrays:
        raise CheckpointError(f"{path}: no {METADATA_KEY} entry; not a minicnn checkpoint")
    try:
        metadata = json.loads(arrays.pop(METADATA_KEY).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: unreadable {METADATA_KEY} ({error})") from error
    if metadata.get("format") != FORMAT or metadata.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: format {metadata.get('format')!r} version {metadata.get('version')!r}; "
            f"this minicnn reads {FORMAT!r} version {VERSION}")
    model_state = {key[len("model/"):]: value for key, value in arrays.items() if key.startswith("model/")}
    count = (metadata.get("optimizer") or {}).get("parameters", 0)
    velocities = [arrays.get(f"optimizer/velocity/{index}") for index in range(count)]
    return Checkpoint(path, metadata, model_state, velocities)


def load_model(checkpoint):
    """Rebuild the model a checkpoint was saved from, with its weights, in eval mode.

    checkpoint: a path or a Checkpoint. Needs the model's config, which
    models.get_model records.
    """
    from ..models import NAMES, get_model
    if not isinstance(checkpoint, Checkpoint):
        checkpoint = load_checkpoint(checkpoint)
    config = checkpoint.metadata.get("model")
    if not config:
        raise CheckpointError(
            f"{checkpoint.path}: does not say which model it holds (it was saved from a model "
            "not built by minicnn.models.get_model); build the model yourself and call "
            "model.load_state_dict(load_checkpoint(path).model_state)")
    if config["name"] not in NAMES:
        raise CheckpointError(f"{checkpoint.path}: holds a model named {config['name']!r}, which this "
                              f"minicnn cannot build; it builds {', '.join(NAMES)}")
    model = get_model(config["name"], **config["kwargs"])
    try:
        model.load_state_dict(checkpoint.model_state)
    except (KeyError, ValueError) as error:  # load_state_dict's "names or shapes differ"
        raise CheckpointError(
            f"{checkpoint.path}: its weights do not fit the {config['name']} this minicnn builds "
            f"({error.args[0]}); was the model changed after the checkpoint was saved?") from error
    return model.eval()

