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
complete checkpoint or the new complete one, never half of either
(files.atomic_write, which writes every file of minicnn so). A write that
fails (a full disk, a read-only folder) raises an OutputError naming the
file and the reason, and the old file stays. A model whose weights or velocities are
NaN or infinite (a diverged run) is never saved over a good checkpoint.

Why no pickle: unpickling can run arbitrary code, so a checkpoint is only
ever read with ``numpy.lib.format.read_array(..., allow_pickle=False)``; an
archive holding an object array is rejected with a CheckpointError. Nor is
anything else in the file trusted: each member's .npy header is checked
against its size before an array is allocated, every metadata field's type
and range is checked, and nothing read from the file decides where minicnn
writes (a resumed run writes beside the checkpoint it was given).
"""

import dataclasses
import datetime
import json
import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy

from ..engine import rng
from .files import OutputError, atomic_write, remove_stale_temporaries, write_json  # noqa: F401 (re-exported)

FORMAT, VERSION = "minicnn-checkpoint", 1
METADATA_KEY = "metadata.json"


class CheckpointError(ValueError):
    """A file that is not a complete, pickle-free minicnn checkpoint, or lacks what is asked of it."""


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
    for name, array in arrays.items():  # a diverged model must not replace a good checkpoint
        if not numpy.isfinite(array).all():
            raise CheckpointError(
                f"{path} not written: {name} holds {int(array.size - numpy.isfinite(array).sum())} NaN or "
                "infinite values (the training diverged); the checkpoint there before, if any, is unchanged")
    try:
        text = json.dumps(metadata, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise TypeError(f"save_checkpoint: the metadata must be JSON data with finite numbers (extra "
                        f"included: dicts, lists, strings, numbers, true/false, null); {error}") from error
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
        try:
            model.load_state_dict(self.model_state)
        except (KeyError, ValueError) as error:  # load_state_dict's "names or shapes differ"
            raise CheckpointError(f"{self.path}: its weights do not fit this model ({error.args[0]}); "
                                  f"it holds a {self.model_name}") from error
        if optimizer is not None and self.optimizer_state() is not None:
            try:
                optimizer.load_state_dict(self.optimizer_state())
            except ValueError as error:  # a velocity whose shape is not its parameter's
                raise CheckpointError(f"{self.path}: its optimizer state does not fit this model "
                                      f"({error})") from error
        saved_schedule = self.metadata.get("schedule")
        if schedule is not None and saved_schedule is not None:
            if saved_schedule["type"] != type(schedule).__name__:
                raise CheckpointError(
                    f"{self.path}: saved with a {saved_schedule['type']} schedule, "
                    f"resumed with a {type(schedule).__name__}")
            schedule.load_state_dict(saved_schedule["state"])
        rng.set_state(self.metadata["random"])


# What load_checkpoint refuses, before reading any array into memory:
MAX_INFLATION = 20   # minicnn stores arrays uncompressed (numpy.savez), so its archives hold about
                     # their own size; one whose members claim 20 times more is a zip bomb
FOREIGN = (          # what a file that is not a zip archive is, told by its first bytes
    (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip file"), (b"%PDF", "a PDF document"), (b"\x93NUMPY", "a single .npy array"),
    (b"\x80", "a Python pickle (minicnn never unpickles: unpickling can run code)"),
)


def load_checkpoint(path):
    """Read a checkpoint written by save_checkpoint; never unpickles anything.

    A file that is not one raises a CheckpointError "PATH: not a minicnn
    checkpoint (why)" before any array is read: a file of another kind
    (told by its first bytes), a zip without metadata.json or with members
    that are not .npy arrays, a .npy header that announces more bytes than
    its member holds (a terabyte array in a small file), an archive that
    would inflate beyond MAX_INFLATION times its size, an object (pickled)
    array, metadata of the wrong JSON types (check_metadata), weights that
    are not finite floats. A damaged archive is "not a complete .npz checkpoint".
    """
    path = Path(path)
    if path.is_dir():
        inside = " (the checkpoint in it is {})".format(path / "checkpoint.npz") if (path / "checkpoint.npz").is_file() else ""
        raise CheckpointError(f"{path} is a folder, not a checkpoint file{inside}")
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with open(path, "rb") as file:
            head, size = file.read(16), os.fstat(file.fileno()).st_size
            if not zipfile.is_zipfile(file):  # numpy.load would take any other file for a pickle
                raise _not_a_checkpoint(path, _foreign_kind(head, size))
            with zipfile.ZipFile(file) as archive:
                arrays = _read_arrays(path, archive, size)
    except OSError as error:
        raise CheckpointError(f"{path}: cannot be read ({error.strerror or error})") from error
    except (EOFError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, RuntimeError,
            NotImplementedError) as error:  # truncated, damaged, encrypted, an unknown compression
        raise CheckpointError(f"{path}: not a complete .npz checkpoint ({error})") from error
    if METADATA_KEY not in arrays:
        raise _not_a_checkpoint(path, f"no {METADATA_KEY} entry: a NumPy archive, but not one minicnn wrote")
    metadata = _parse_metadata(path, arrays.pop(METADATA_KEY))
    model_state = {key[len("model/"):]: value for key, value in arrays.items() if key.startswith("model/")}
    check_metadata(path, metadata, model_state)
    count = (metadata["optimizer"] or {}).get("parameters", 0)
    velocities = [arrays.get(f"optimizer/velocity/{index}") for index in range(count)]
    for key in arrays:
        if key.startswith("optimizer/velocity/") and key not in {f"optimizer/velocity/{i}" for i in range(count)}:
            raise _not_a_checkpoint(path, f"it holds {key}, but its optimizer has {count} parameters")
    return Checkpoint(path, metadata, model_state, velocities)


def _not_a_checkpoint(path, why):
    return CheckpointError(f"{path}: not a minicnn checkpoint ({why})")


def _foreign_kind(head, size):
    """What a file that is not a zip archive looks like, from its first bytes."""
    if size == 0:
        return "it is empty: 0 bytes"
    for magic, kind in FOREIGN:
        if head.startswith(magic):
            return f"it is {kind}"
    if head.lstrip()[:1] in (b"{", b"["):
        return "it is a JSON or text file, such as metrics.json; the checkpoint is checkpoint.npz beside it"
    if head.startswith(b"PK"):
        return "not a complete .npz checkpoint: a zip archive, cut short or damaged"
    return f"not a zip archive: it starts with {head[:8]!r}"


def _read_arrays(path, archive, size):
    """{name: array} of the members minicnn reads, each checked before it is read into memory."""
    members = archive.infolist()
    names = [member.filename for member in members]
    if any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
        raise _not_a_checkpoint(path, "it is a PyTorch file (torch.save), which holds pickles; load it "
                                "with PyTorch and copy its state_dict() into a minicnn model with load_state_dict")
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise _not_a_checkpoint(path, f"the archive holds {duplicated[0]} twice")
    foreign = [name for name in names if not name.endswith(".npy")]
    if foreign:
        raise _not_a_checkpoint(path, f"it holds {foreign[0]!r}, which is not a NumPy .npy array")
    declared = sum(member.file_size for member in members)
    if declared > MAX_INFLATION * size:
        raise _not_a_checkpoint(path, f"its members would inflate to {_bytes(declared)} from a "
                                f"{_bytes(size)} file, more than {MAX_INFLATION} times its size (a zip bomb?)")
    arrays = {}
    for member in members:
        key = member.filename[:-len(".npy")]
        if key == METADATA_KEY or key.startswith(("model/", "optimizer/velocity/")):
            arrays[key] = _read_member(path, archive, member, key)
    return arrays


def _read_member(path, archive, member, key):
    """One .npy member as an array, once its header is checked against the bytes it really has."""
    npy = numpy.lib.format
    with archive.open(member) as file:
        try:
            version = npy.read_magic(file)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f".npy format version {version[0]}.{version[1]}, which minicnn does not write")
            read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
            shape, _, dtype = read_header(file)
        except ValueError as error:
            raise _not_a_checkpoint(path, f"{key} is not a valid .npy array: {error}") from error
        if dtype.hasobject:
            raise CheckpointError(
                f"{path}: {key} is an object (pickled) array; minicnn checkpoints hold only numeric "
                "arrays and are never unpickled, since unpickling can run code")
        announced = math.prod(shape) * dtype.itemsize
        if file.tell() + announced != member.file_size:
            raise _not_a_checkpoint(path, f"{key} announces a {shape} {dtype} array ({_bytes(announced)}) "
                                    f"but holds {_bytes(member.file_size - file.tell())}")
    wanted = "uint8" if key == METADATA_KEY else "float"
    if (dtype != numpy.uint8 or len(shape) != 1) if key == METADATA_KEY else dtype.kind != "f":
        raise _not_a_checkpoint(path, f"{key} is an array of {dtype} and shape {shape}, expected {wanted}")
    try:
        with archive.open(member) as file:
            array = npy.read_array(file, allow_pickle=False)
    except ValueError as error:  # fewer bytes than the zip directory promised
        raise CheckpointError(f"{path}: not a complete .npz checkpoint ({key}: {error})") from error
    if key != METADATA_KEY and not numpy.isfinite(array).all():
        bad = int(array.size - numpy.isfinite(array).sum())
        raise _not_a_checkpoint(path, f"{key} holds {bad} NaN or infinite values; a diverged run's "
                                "weights cannot be used")
    return array


def _bytes(count):
    """1536 -> '1.5 kB', in powers of 1000 as disks are sold."""
    for unit in ("bytes", "kB", "MB", "GB", "TB", "PB"):
        if count < 1000 or unit == "PB":
            return f"{count} bytes" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000


def _parse_metadata(path, raw):
    """metadata.json's bytes -> the JSON document; NaN and Infinity, which minicnn never writes, are refused."""
    def refuse(constant):
        raise ValueError(f"{constant} is not a number JSON allows")

    try:
        return json.loads(raw.tobytes().decode("utf-8"), parse_constant=refuse)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise _not_a_checkpoint(path, f"{METADATA_KEY} is not valid JSON: {error}") from error


# ----- checking the metadata, field by field ------------------------------------------------
MISSING = object()


def _kind(value):
    """How JSON names the type of ``value``."""
    if value is MISSING:
        return "missing"
    for kind, words in ((bool, "true/false"), (int, "a whole number"), (float, "a number"),
                        (str, "a string"), (list, "a list"), (dict, "an object"), (type(None), "null")):
        if isinstance(value, kind):
            shown = f" {value!r}" if isinstance(value, (bool, int, float, str)) else ""
            return words + (shown if len(shown) < 60 else shown[:56] + "...")
    return type(value).__name__


def _is_whole(value, minimum=0):
    return type(value) is int and value >= minimum


def _is_number(value):
    return type(value) in (int, float) and math.isfinite(value)


def _require(path, name, value, expected, fits):
    """``value`` if ``fits(value)``; else CheckpointError "(field NAME is a ..., expected EXPECTED)"."""
    if value is MISSING or not fits(value):
        raise _not_a_checkpoint(path, f"field {name} is {_kind(value)}, expected {expected}")
    return value


def check_metadata(path, metadata, model_state):
    """A CheckpointError for the first metadata field of the wrong JSON type or out of its range.

    Every field save_checkpoint writes is checked (module docstring), and, in
    ``extra``, the keys minicnn's own ``run`` stores (dataset, classes,
    normalize, config: its fields are checked by experiment.resume_config).
    """
    from .history import KEYS
    from .schedules import ReduceLROnPlateau, StepLR

    def field(name, expected, fits, within=metadata):
        return _require(path, name, within.get(name.split(".")[-1], MISSING), expected, fits)

    _require(path, METADATA_KEY, metadata, "an object", lambda value: isinstance(value, dict))
    field("format", repr(FORMAT), lambda value: value == FORMAT)
    field("version", f"{VERSION} (this minicnn reads version {VERSION}; a newer minicnn wrote this one?)",
          lambda value: _is_whole(value) and value == VERSION)
    if "saved_at" in metadata:
        field("saved_at", "a date as a string", lambda value: isinstance(value, str))
    epoch = field("epoch", "a whole number of epochs, 0 or more", _is_whole)

    model = field("model", "null or an object {name, kwargs}", lambda value: value is None or isinstance(value, dict))
    if model is not None:
        field("model.name", "a model name (a string)", lambda value: isinstance(value, str), model)
        kwargs = field("model.kwargs", "an object of the model's settings", lambda value: isinstance(value, dict), model)
        for key, value in kwargs.items():
            _require(path, f"model.kwargs.{key}", value, "a number, a string, true/false or null",
                     lambda value: value is None or isinstance(value, (bool, str)) or _is_number(value))

    optimizer = field("optimizer", "null or an object of SGD's settings",
                      lambda value: value is None or isinstance(value, dict))
    if optimizer is not None:
        field("optimizer.type", "'SGD'", lambda value: value == "SGD", optimizer)
        field("optimizer.parameters", f"a whole number, at most {len(model_state)} (the parameters it holds)",
              lambda value: _is_whole(value) and value <= len(model_state), optimizer)
        field("optimizer.lr", "a positive, finite number", lambda value: _is_number(value) and value > 0, optimizer)
        field("optimizer.momentum", "a number in [0, 1)", lambda value: _is_number(value) and 0 <= value < 1, optimizer)
        field("optimizer.weight_decay", "a number, 0 or more", lambda value: _is_number(value) and value >= 0, optimizer)
        field("optimizer.filter_radius", "null or a positive number",
              lambda value: value is None or _is_number(value) and value > 0, optimizer)

    schedules = {"StepLR": StepLR, "ReduceLROnPlateau": ReduceLROnPlateau}
    schedule = field("schedule", "null or an object {type, state}", lambda value: value is None or isinstance(value, dict))
    if schedule is not None:
        kind = field("schedule.type", " or ".join(map(repr, schedules)), lambda value: value in schedules, schedule)
        state = field("schedule.state", "an object", lambda value: isinstance(value, dict), schedule)
        try:
            schedules[kind](**({"step_size": 1} if kind == "StepLR" else {})).load_state_dict(state)
        except ValueError as error:
            raise _not_a_checkpoint(path, f"field schedule.state: {error}") from error

    random = field("random", "an object {seed, cpu}", lambda value: isinstance(value, dict))
    field("random.seed", "a whole number, 0 or more", _is_whole, random)
    cpu = field("random.cpu", "an object", lambda value: isinstance(value, dict), random)
    try:
        numpy.random.default_rng(0).bit_generator.state = cpu
    except (TypeError, ValueError, KeyError, OverflowError) as error:
        raise _not_a_checkpoint(path, f"field random.cpu is not the state of NumPy's PCG64 generator "
                                f"({error})") from error

    data = field("data", "an object {seed, next_epoch}", lambda value: isinstance(value, dict))
    field("data.seed", "null or a whole number, 0 or more", lambda value: value is None or _is_whole(value), data)
    field("data.next_epoch", f"{epoch}, the epoch", lambda value: value == epoch and _is_whole(value), data)

    history = field("history", "null or an object {epochs}", lambda value: value is None or isinstance(value, dict))
    if history is not None:
        records = field("history.epochs", f"a list of {epoch} records, one per epoch",
                        lambda value: isinstance(value, list) and len(value) == epoch, history)
        for index, record in enumerate(records):
            name = f"history.epochs[{index}]"
            _require(path, name, record, "an object", lambda value: isinstance(value, dict))
            _require(path, f"{name}.epoch", record.get("epoch", MISSING), str(index + 1),
                     lambda value: _is_whole(value) and value == index + 1)
            for key in KEYS[1:]:
                _require(path, f"{name}.{key}", record.get(key, MISSING), "null or a number",
                         lambda value: value is None or _is_number(value))

    extra = field("extra", "an object", lambda value: isinstance(value, dict))
    if "dataset" in extra:
        field("extra.dataset", "a dataset name (a string)", lambda value: isinstance(value, str), extra)
    if "classes" in extra:
        field("extra.classes", "a list of class names (strings)",
              lambda value: isinstance(value, list) and all(isinstance(item, str) for item in value), extra)
    if "normalize" in extra:
        normalize = field("extra.normalize", "an object {mean, std}", lambda value: isinstance(value, dict), extra)
        field("extra.normalize.mean", "a number", _is_number, normalize)
        field("extra.normalize.std", "a positive number", lambda value: _is_number(value) and value > 0, normalize)
    if "config" in extra:
        field("extra.config", "an object of run settings", lambda value: isinstance(value, dict), extra)


def weights_dtype(checkpoint):
    """"float64" if every weight a Checkpoint stores is float64 (minicnn train --dtype float64), else "float32"."""
    arrays = checkpoint.model_state.values()
    return "float64" if arrays and all(array.dtype == numpy.float64 for array in arrays) else "float32"


def load_model(checkpoint, dtype="float32"):
    """Rebuild the model a checkpoint was saved from, with its weights, in eval mode.

    checkpoint: a path or a Checkpoint. Needs the model's config, which
    models.get_model records. dtype: of the model's weights, whatever the
    file stores ("float64" for a float64 run: weights_dtype(checkpoint));
    its inputs must be of the same dtype.
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
    _check_model_settings(checkpoint, config["name"], config["kwargs"])
    try:
        model = get_model(config["name"], **config["kwargs"]).to(dtype)
    except (ValueError, TypeError, MemoryError) as error:
        raise _not_a_checkpoint(checkpoint.path, f"{config['name']} cannot be built with the settings "
                                f"{config['kwargs']} it gives ({type(error).__name__}: {error})") from error
    try:
        model.load_state_dict(checkpoint.model_state)
    except (KeyError, ValueError) as error:  # load_state_dict's "names or shapes differ"
        raise CheckpointError(
            f"{checkpoint.path}: its weights do not fit the {config['name']} this minicnn builds "
            f"({error.args[0]}); was the model changed after the checkpoint was saved?") from error
    return model.eval()



def _check_model_settings(checkpoint, name, kwargs):
    """Before building: each setting is one the model's builder takes, of its default's type, and
    no whole number is larger than the count of weights stored (a model of n classes, or n
    hidden units, has at least n weights), so a crafted file cannot ask for a model the size of
    the machine's memory."""
    import inspect
    from ..models import MODELS

    taken = inspect.signature(MODELS[name][0]).parameters
    stored = sum(array.size for array in checkpoint.model_state.values())
    for key, value in kwargs.items():
        if key not in taken:
            raise _not_a_checkpoint(checkpoint.path, f"field model.kwargs has {key!r}, which {name} does not "
                                    f"take; it takes {', '.join(taken)}")
        default = taken[key].default
        expected = {bool: "true/false", int: "a whole number", float: "a number", str: "a string"}.get(type(default))
        fits = {bool: lambda v: isinstance(v, bool), int: lambda v: _is_whole(v, 1) and v <= stored,
                float: _is_number, str: lambda v: isinstance(v, str)}.get(type(default), lambda v: True)
        if type(default) is int:
            expected = f"a whole number from 1 to {stored} (the weights it holds)"
        _require(checkpoint.path, f"model.kwargs.{key}", value, expected, fits)
