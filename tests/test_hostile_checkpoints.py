"""Checkpoints, outputs and settings used carelessly or with hostile intent (the Python API).

Each case asserts what a well-made library does: a minicnn error type, a
message that names the file, the field or the setting, its value and what was
needed, and files on disk unchanged. The command line's side of the same
classes is in test_hostile_cli.py. Sections, with their number of tests
(pytest items; several try more than one input):

    A. files that are not checkpoints                                    18
    B. metadata of the wrong JSON type or out of range                   46
    C. a checkpoint's model settings and state that do not fit           5
    D. a resumed run writes beside its checkpoint, nothing else          4
    E. output problems: full disk, no permission, folders in the way     6
    F. permissions and stale temporary files                             8
    G. a diverging run                                                   6
    H. settings that make no sense, refused up front                     66
"""

import errno
import gzip
import hashlib
import io
import json
import os
import pickle
import shutil
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import minicnn as mc
from minicnn.data import download
from minicnn.data.idx import idx_bytes
from minicnn.data.sources import EMBEDDED_DIRS
from minicnn.engine import backend
from minicnn.engine.optim import SGD, renormalize_filters
from minicnn.models import get_model
from minicnn.training import checkpoint as ckpt
from minicnn.training import files
from minicnn.training import plots
from minicnn.training.callbacks import Callback
from minicnn.training.checkpoint import (
    CheckpointError, OutputError, atomic_write, load_checkpoint, load_model, save_checkpoint, write_json,
)
from minicnn.training.experiment import RunConfig, RunConfigError, resume_config, run
from minicnn.training.history import History
from minicnn.training.loop import TrainingDiverged, fit
from minicnn.training.schedules import ReduceLROnPlateau, StepLR
from minicnn.cli.report import Section, write_report

FASHION = str(EMBEDDED_DIRS["fashion-mnist"])
ROOT = Path(__file__).resolve().parents[1]


# ----- helpers -------------------------------------------------------------------------------
def small_model():
    mc.manual_seed(0)
    return get_model("fc_baseline", hidden=8)


def genuine(path, epoch=1):
    """A complete checkpoint as minicnn writes it: weights, velocities, schedule, history, extra."""
    model = small_model()
    optimizer = SGD(model.parameters(), lr=0.05, momentum=0.9)
    x = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    mc.functional.cross_entropy(model(mc.tensor(x)), np.arange(4)).backward()
    optimizer.step()
    record = {"epoch": 1, "train_loss": 2.0, "train_accuracy": 0.25, "val_loss": None, "val_accuracy": None,
              "lr": 0.05, "seconds": 1.0, "images_per_second": 4.0}
    history = History([dict(record, epoch=e + 1) for e in range(epoch)])
    extra = {"dataset": "fashion-mnist", "classes": ["a", "b"], "normalize": {"mean": 0.3, "std": 0.35},
             "config": {"model": "fc_baseline", "epochs": 1}}
    return save_checkpoint(path, model, optimizer, epoch=epoch, seed=0, history=history,
                           schedule=StepLR(2, 0.5), extra=extra)


def members(path):
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def metadata_of(path):
    return json.loads(members(path)["metadata.json"].tobytes())


def with_metadata(path, change):
    """Rewrite ``path`` with its metadata changed by ``change(metadata)`` (or replaced by its result)."""
    arrays, metadata = members(path), metadata_of(path)
    result = change(metadata)
    document = metadata if result is None else result
    text = document if isinstance(document, bytes) else json.dumps(document).encode()
    arrays["metadata.json"] = np.frombuffer(text, dtype=np.uint8)
    np.savez(path, **arrays)
    return path


def npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def refused(path, *fragments, kind=CheckpointError):
    """load_checkpoint raises ``kind``, naming the file and every fragment; returns the message."""
    with pytest.raises(kind) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


class Unpickled:
    """Unpickling this creates a file: the proof that a pickle was (or was not) loaded."""

    marker = None

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


# ===== A. files that are not checkpoints (18) ===========================================================
def write_foreign(path, kind, tmp_path):
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(4000))
    elif kind == "png":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    elif kind == "jpeg":
        path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))
    elif kind == "json":
        path.write_text(json.dumps({"test_accuracy": 0.9}))
    elif kind == "gzip":
        path.write_bytes(gzip.compress(b"x" * 100))
    elif kind == "single npy":
        np.save(path.open("wb"), np.ones(3))
    elif kind == "zip of text":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("notes.txt", "hello")
    elif kind == "npz without metadata":
        np.savez(path.open("wb"), w=np.ones(2))
    elif kind == "pytorch":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
            archive.writestr("archive/version", "3\n")
    elif kind == "metadata not as npy":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("metadata.json", json.dumps({"format": "minicnn-checkpoint", "version": 1}))
    elif kind == "a member twice":
        with zipfile.ZipFile(path, "w") as archive, pytest.warns(UserWarning):
            archive.writestr("metadata.json.npy", npy_bytes(np.frombuffer(b"{}", np.uint8)))
            archive.writestr("metadata.json.npy", npy_bytes(np.frombuffer(b"[]", np.uint8)))
    elif kind == "truncated":
        path.write_bytes(genuine(tmp_path / "whole.npz").read_bytes()[:300])
    return path


@pytest.mark.parametrize("kind, why", [
    ("empty", "it is empty: 0 bytes"),
    ("random bytes", "not a zip archive"),
    ("png", "it is a PNG image"),
    ("jpeg", "it is a JPEG image"),
    ("json", "it is a JSON or text file, such as metrics.json"),
    ("gzip", "it is a gzip file"),
    ("single npy", "it is a single .npy array"),
    ("zip of text", "it holds 'notes.txt', which is not a NumPy .npy array"),
    ("npz without metadata", "no metadata.json entry"),
    ("pytorch", "it is a PyTorch file (torch.save)"),
    ("metadata not as npy", "'metadata.json', which is not a NumPy .npy array"),
    ("a member twice", "holds metadata.json.npy twice"),
    ("truncated", "not a complete .npz checkpoint"),
])
def test_a_file_that_is_not_a_checkpoint_says_what_it_is(tmp_path, kind, why):
    path = write_foreign(tmp_path / "checkpoint.npz", kind, tmp_path)
    message = refused(path, why)
    assert kind == "truncated" or "not a minicnn checkpoint" in message


def test_a_pickle_is_named_and_never_loaded(tmp_path):
    Unpickled.marker = tmp_path / "pickle-was-loaded"
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(pickle.dumps(Unpickled()))
    refused(path, "not a minicnn checkpoint", "a Python pickle", "never unpickles")
    archive = tmp_path / "object.npz"      # an object array inside a real .npz: numpy would unpickle it
    np.savez(archive, **{"metadata.json": members(genuine(tmp_path / "g.npz"))["metadata.json"],
                         "model/1.weight": np.array([Unpickled()], dtype=object)})
    refused(archive, "object (pickled) array", "never unpickled")
    assert not Unpickled.marker.exists()


def test_a_folder_or_a_missing_file_is_named(tmp_path):
    genuine(tmp_path / "run" / "checkpoint.npz")
    refused(tmp_path / "run", "is a folder, not a checkpoint file", str(tmp_path / "run" / "checkpoint.npz"))
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.npz")


def test_a_header_announcing_terabytes_is_refused_before_allocating(tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (1_000_000, 1_000_000)})
    path = tmp_path / "checkpoint.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json.npy", npy_bytes(members(genuine(tmp_path / "g.npz"))["metadata.json"]))
        archive.writestr("model/1.weight.npy", header.getvalue() + bytes(64))
    started = time.perf_counter()
    refused(path, "not a minicnn checkpoint", "model/1.weight announces a (1000000, 1000000) float32 array",
            "4.0 TB", "holds 64 bytes")
    assert time.perf_counter() - started < 5


def test_a_zip_bomb_is_refused_from_the_declared_sizes(tmp_path):
    path = tmp_path / "checkpoint.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json.npy", npy_bytes(members(genuine(tmp_path / "g.npz"))["metadata.json"]))
        archive.writestr("model/1.weight.npy", npy_bytes(np.zeros(20_000_000, np.float32)))   # 80 MB
    assert path.stat().st_size < 200_000
    refused(path, "not a minicnn checkpoint", "would inflate to 80.0 MB", "zip bomb")


def test_weights_that_are_not_finite_floats_are_refused(tmp_path):
    source = members(genuine(tmp_path / "g.npz"))
    for name, array, why in (
        ("int.npz", np.ones((8, 784), np.int64), "is an array of int64"),
        ("complex.npz", np.ones((8, 784), np.complex64), "is an array of complex64"),
        ("text.npz", np.array(["w"] * 3), "is an array of <U1"),
        ("nan.npz", np.full((8, 784), np.nan, np.float32), "holds 6272 NaN or infinite values"),
    ):
        np.savez(tmp_path / name, **{**source, "model/1.weight": array})
        refused(tmp_path / name, "model/1.weight", why)


# ===== B. metadata of the wrong JSON type or out of range (46) ===================================
def set_field(dotted, value):
    def change(metadata):
        *parents, last = dotted.split(".")
        target = metadata
        for key in parents:
            target = target[key]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value
    return change


DELETE = object()
SGD_STATE = {"type": "SGD", "parameters": 4, "lr": 0.05, "momentum": 0.9, "weight_decay": 0.0, "filter_radius": None}

METADATA_CASES = [
    ("a list", lambda m: [m], "field metadata.json is a list, expected an object"),
    ("not UTF-8", lambda m: b"\xff\xfe{}", "metadata.json is not valid JSON"),
    ("NaN", lambda m: json.dumps(m).replace('"epoch": 1', '"epoch": NaN').encode(), "NaN is not a number JSON allows"),
    ("nested 100000 deep", lambda m: b"[" * 100_000 + b"]" * 100_000, "metadata.json is not valid JSON"),
    ("a 5000-digit number", lambda m: json.dumps(m).replace('"epoch": 1', '"epoch": ' + "9" * 5000).encode(),
     "metadata.json is not valid JSON"),
    ("format missing", set_field("format", DELETE), "field format is missing, expected 'minicnn-checkpoint'"),
    ("format other", set_field("format", "keras"), "field format is a string 'keras'"),
    ("version 9", set_field("version", 9), "field version is a whole number 9, expected 1"),
    ("version as text", set_field("version", "1"), "field version is a string '1'"),
    ("saved_at a number", set_field("saved_at", 5), "field saved_at is a whole number 5, expected a date"),
    ("epoch as text", set_field("epoch", "1"), "field epoch is a string '1', expected a whole number of epochs"),
    ("epoch negative", set_field("epoch", -1), "field epoch is a whole number -1"),
    ("epoch true", set_field("epoch", True), "field epoch is true/false True"),
    ("epoch fractional", set_field("epoch", 1.5), "field epoch is a number 1.5"),
    ("model a string", set_field("model", "fc_baseline"), "field model is a string 'fc_baseline', expected null or an object"),
    ("model.name a number", set_field("model.name", 5), "field model.name is a whole number 5, expected a model name"),
    ("model.kwargs a list", set_field("model.kwargs", []), "field model.kwargs is a list"),
    ("model.kwargs.hidden an object", set_field("model.kwargs", {"hidden": {"a": 1}}),
     "field model.kwargs.hidden is an object"),
    ("optimizer a list", set_field("optimizer", []), "field optimizer is a list"),
    ("optimizer.type Adam", set_field("optimizer.type", "Adam"), "field optimizer.type is a string 'Adam', expected 'SGD'"),
    ("optimizer.lr as text", set_field("optimizer.lr", "fast"), "field optimizer.lr is a string 'fast', expected a positive"),
    ("optimizer.lr zero", set_field("optimizer.lr", 0), "field optimizer.lr is a whole number 0"),
    ("optimizer.momentum 1.5", set_field("optimizer.momentum", 1.5), "field optimizer.momentum is a number 1.5, expected a number in [0, 1)"),
    ("optimizer.weight_decay negative", set_field("optimizer.weight_decay", -1), "field optimizer.weight_decay"),
    ("optimizer.filter_radius 0", set_field("optimizer.filter_radius", 0), "field optimizer.filter_radius"),
    ("optimizer.parameters 10**12", set_field("optimizer.parameters", 10**12),
     "field optimizer.parameters is a whole number 1000000000000, expected a whole number, at most 4"),
    ("schedule a number", set_field("schedule", 3), "field schedule is a whole number 3"),
    ("schedule.type unknown", set_field("schedule.type", "CosineAnnealing"), "field schedule.type is a string 'CosineAnnealing'"),
    ("schedule.state extra key", set_field("schedule.state", {"step_size": 2, "gamma": 0.5, "__class__": 1}),
     "field schedule.state: StepLR.load_state_dict: expected the keys"),
    ("schedule.state gamma as text", set_field("schedule.state.gamma", "x"),
     "field schedule.state: StepLR: gamma must be a positive, finite factor; got 'x'"),
    ("random a list", set_field("random", []), "field random is a list"),
    ("random.seed negative", set_field("random.seed", -1), "field random.seed is a whole number -1"),
    ("random.cpu another generator", set_field("random.cpu", {"bit_generator": "MT19937", "state": {}}),
     "field random.cpu is not the state of NumPy's PCG64 generator"),
    ("data missing", set_field("data", DELETE), "field data is missing"),
    ("data.seed as text", set_field("data.seed", "0"), "field data.seed is a string '0'"),
    ("data.next_epoch not the epoch", set_field("data.next_epoch", 7), "field data.next_epoch is a whole number 7, expected 1, the epoch"),
    ("history a list", set_field("history", []), "field history is a list"),
    ("history with too many epochs", set_field("history.epochs", [{}, {}]), "field history.epochs is a list, expected a list of 1 records"),
    ("history record as text", set_field("history.epochs", ["epoch 1"]), "field history.epochs[0] is a string 'epoch 1', expected an object"),
    ("history record loss as text", lambda m: m["history"]["epochs"][0].update(train_loss="low"),
     "field history.epochs[0].train_loss is a string 'low', expected null or a number"),
    ("extra a list", set_field("extra", []), "field extra is a list"),
    ("extra.dataset a number", set_field("extra.dataset", 3), "field extra.dataset is a whole number 3"),
    ("extra.classes numbers", set_field("extra.classes", [1, 2]), "field extra.classes is a list, expected a list of class names"),
    ("extra.normalize.std zero", set_field("extra.normalize.std", 0), "field extra.normalize.std is a whole number 0, expected a positive number"),
    ("extra.config a list", set_field("extra.config", []), "field extra.config is a list, expected an object of run settings"),
]


@pytest.mark.parametrize("change, why", [case[1:] for case in METADATA_CASES], ids=[case[0] for case in METADATA_CASES])
def test_every_metadata_field_is_checked(tmp_path, change, why):
    path = with_metadata(genuine(tmp_path / "checkpoint.npz"), change)
    refused(path, "not a minicnn checkpoint", why)


def test_the_genuine_checkpoint_of_these_cases_loads(tmp_path):
    """The cases above break one field each of this checkpoint, which itself loads and fits its model."""
    saved = load_checkpoint(genuine(tmp_path / "checkpoint.npz"))
    assert saved.epoch == 1 and len(saved.velocities) == 4 and all(v is not None for v in saved.velocities)
    assert saved.metadata["optimizer"] == {**SGD_STATE, "lr": 0.05}
    assert type(load_model(saved)).__name__ == "Sequential"


# ===== C. a checkpoint's model settings and state that do not fit (5) ===========================
@pytest.mark.parametrize("kwargs, why", [
    ({"hidden": 10**9}, "field model.kwargs.hidden is a whole number 1000000000, expected a whole number from 1 to 6370 (the weights it holds)"),
    ({"hidden": "8"}, "field model.kwargs.hidden is a string '8'"),
    ({"hidden": 8, "os": "system"}, "field model.kwargs has 'os', which fc_baseline does not take; it takes num_classes, hidden"),
    ({"num_classes": 0, "hidden": 8}, "field model.kwargs.num_classes is a whole number 0"),
], ids=["a model the size of memory", "a number as text", "an unknown setting", "zero classes"])
def test_model_settings_are_checked_before_the_model_is_built(tmp_path, kwargs, why):
    path = with_metadata(genuine(tmp_path / "checkpoint.npz"), set_field("model.kwargs", kwargs))
    started = time.perf_counter()
    with pytest.raises(CheckpointError, match="not a minicnn checkpoint") as error:
        load_model(path)
    assert why in str(error.value) and str(path) in str(error.value)
    assert time.perf_counter() - started < 5


def test_resuming_another_model_or_misshapen_velocities_is_a_checkpoint_error(tmp_path):
    path = genuine(tmp_path / "checkpoint.npz")
    x, y = np.zeros((8, 1, 28, 28), np.float32), np.arange(8) % 10
    with pytest.raises(CheckpointError, match="its weights do not fit this model") as error:
        fit(get_model("fc_baseline", hidden=16), (x, y), epochs=2, resume=path, progress=False)
    assert "fc_baseline" in str(error.value) and "shape" in str(error.value)
    arrays = members(path)
    arrays["optimizer/velocity/0"] = np.ones((3, 3), np.float32)
    np.savez(path, **arrays)
    with pytest.raises(CheckpointError, match=r"optimizer state does not fit .*velocity 0 has shape \(3, 3\)"):
        fit(small_model(), (x, y), epochs=2, resume=path, progress=False)


# ===== D. a resumed run writes beside its checkpoint, nothing else (4) ============================
def tiny_config(out, **changes):
    return RunConfig(**{"model": "fc_baseline", "out": str(out), "epochs": 1, "batch_size": 32,
                        "train_limit": 96, "test_limit": 32, "data_path": FASHION,
                        "model_kwargs": {"hidden": 8}, **changes})


def snapshot(folder):
    return {path.relative_to(folder): path.read_bytes() for path in sorted(Path(folder).rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("original")
    run(tiny_config(out), progress=False, verbose=False)
    return out


def test_a_checkpoint_naming_another_folder_does_not_make_a_resumed_run_write_there(tmp_path, trained_run):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "checkpoint.npz").write_bytes(b"someone else's checkpoint")
    (victim / "metrics.json").write_text("someone else's results")
    crafted = tmp_path / "crafted"
    shutil.copytree(trained_run, crafted)
    with_metadata(crafted / "checkpoint.npz", set_field("extra.config.out", str(victim)))
    before = snapshot(victim)
    config = resume_config(crafted / "checkpoint.npz", epochs=2)
    assert config.out == str(crafted)
    run(config, resume=crafted / "checkpoint.npz", progress=False, verbose=False)
    assert snapshot(victim) == before
    assert load_checkpoint(crafted / "checkpoint.npz").epoch == 2


def test_resuming_a_copied_run_leaves_the_original_alone(tmp_path, trained_run):
    copy = tmp_path / "copy"
    shutil.copytree(trained_run, copy)
    before = snapshot(trained_run)
    run(resume_config(copy / "checkpoint.npz", epochs=2), resume=copy / "checkpoint.npz", progress=False, verbose=False)
    assert snapshot(trained_run) == before
    assert json.loads((copy / "metrics.json").read_text())["epochs"] == 2


@pytest.mark.parametrize("config, why", [
    ({"model": "fc_baseline", "out": "x", "shell": "rm -rf /"},
     "field extra.config has 'shell', which is not a setting of a run"),
    ({"model": "fc_baseline", "out": "x", "lr": "fast"},
     "field extra.config: the setting lr must be a positive, finite learning rate; got 'fast'"),
    ({"model": "fc_baseline", "out": "x", "dtype": "float16"},
     "field extra.config: the setting dtype must be one of float32, float64; got 'float16'"),
], ids=["an unknown setting", "a setting of the wrong type", "a dtype minicnn does not train in"])
def test_a_checkpoint_with_bad_run_settings_is_refused(tmp_path, trained_run, config, why):
    path = tmp_path / "checkpoint.npz"
    shutil.copy(trained_run / "checkpoint.npz", path)
    with_metadata(path, set_field("extra.config", config))
    with pytest.raises(CheckpointError, match="not a minicnn checkpoint") as error:
        resume_config(path)
    assert why in str(error.value)


def test_a_checkpoint_from_before_dtype_resumes_in_float32_and_keeps_it(tmp_path, trained_run):
    path = tmp_path / "checkpoint.npz"
    shutil.copy(trained_run / "checkpoint.npz", path)

    def forget_dtype(metadata):
        del metadata["extra"]["config"]["dtype"]

    with_metadata(path, forget_dtype)
    assert resume_config(path, epochs=2).dtype == "float32"
    with pytest.raises(RunConfigError, match="trained with dtype='float32'; resuming with dtype='float64'"):
        resume_config(path, epochs=2, dtype="float64")


# ===== E. output problems: full disk, no permission, folders in the way (6) =======================
def raise_oserror(number):
    def fail(*args, **kwargs):
        raise OSError(number, os.strerror(number))
    return fail


@pytest.mark.parametrize("where", ["numpy.savez", "os.fsync", "os.replace"])
def test_a_full_disk_names_the_file_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch, where):
    path = genuine(tmp_path / "checkpoint.npz")
    before = path.read_bytes()
    module, name = where.split(".")
    monkeypatch.setattr(ckpt.numpy if module == "numpy" else files.os, name, raise_oserror(errno.ENOSPC))
    with pytest.raises(OutputError) as error:
        save_checkpoint(path, small_model(), epoch=2)
    monkeypatch.undo()
    assert str(error.value) == (f"cannot write {path}: No space left on device; free some disk space, or choose "
                                "an output folder on another disk (the previous checkpoint.npz is unchanged)")
    assert error.value.errno == errno.ENOSPC and isinstance(error.value, OSError)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["checkpoint.npz"]


def test_a_folder_without_write_permission_is_named(tmp_path, monkeypatch):
    """As root, chmod does not stop a write: the refusal the OS would give is simulated."""
    real_open = os.open

    def read_only(path, flags, mode=0o777, **kwargs):
        if str(path).endswith(".tmp"):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, flags, mode, **kwargs)

    monkeypatch.setattr(files.os, "open", read_only)
    with pytest.raises(OutputError) as error:
        write_json(tmp_path / "metrics.json", {"a": 1})
    assert str(error.value) == (f"cannot write {tmp_path / 'metrics.json'}: Permission denied; choose an "
                                "output folder you can write to (nothing was written there)")
    assert os.listdir(tmp_path) == []


def test_a_path_through_a_file_or_onto_a_folder_is_named(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    for target in (tmp_path / "notes.txt" / "checkpoint.npz", tmp_path / "notes.txt" / "run" / "curves.png"):
        with pytest.raises(OutputError) as error:
            atomic_write(target, lambda file: file.write(b"x"))
        assert str(error.value).startswith(f"cannot write {target}: {tmp_path / 'notes.txt'} is a file, not a folder")
    (tmp_path / "checkpoint.npz").mkdir()
    (tmp_path / "checkpoint.npz" / "inside").write_text("keep me too")
    with pytest.raises(OutputError, match="a folder of that name is in the way"):
        save_checkpoint(tmp_path / "checkpoint.npz", small_model(), epoch=0)
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    assert (tmp_path / "checkpoint.npz" / "inside").read_text() == "keep me too"
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz", "notes.txt"]


def test_figures_and_pages_fail_the_same_way(tmp_path, monkeypatch):
    figure = plots.new_figure(1, 1)
    plots.save_figure(figure, tmp_path / "curves.png")
    before = (tmp_path / "curves.png").read_bytes()
    monkeypatch.setattr(files.os, "fsync", raise_oserror(errno.ENOSPC))
    with pytest.raises(OutputError, match="curves.png: No space left on device.*previous curves.png is unchanged"):
        plots.save_figure(figure, tmp_path / "curves.png")
    with pytest.raises(OutputError, match="index.html: No space left on device.*nothing was written"):
        write_report(tmp_path / "index.html", "t", "<p></p>", [])
    assert (tmp_path / "curves.png").read_bytes() == before and os.listdir(tmp_path) == ["curves.png"]


# ===== F. permissions and stale temporary files (8) ==============================================
@pytest.fixture
def umask():
    """Set the process umask for one test (restored after it)."""
    previous = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_outputs_get_the_permissions_open_gives(tmp_path, umask, mask):
    umask(mask)
    expected = 0o666 & ~mask
    written = [genuine(tmp_path / "checkpoint.npz"), write_json(tmp_path / "metrics.json", {"a": 1}),
               plots.save_figure(plots.new_figure(1, 1), tmp_path / "curves.png"),
               write_report(tmp_path / "index.html", "t", "", [Section("s", "c", image=tmp_path / "curves.png")])]
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == expected, path


def test_a_download_gets_the_permissions_open_gives(tmp_path, monkeypatch, umask):
    labels = idx_bytes(np.arange(10, dtype=np.uint8))
    monkeypatch.setattr(download, "receive", lambda url, file, timeout, size: file.write(labels))
    destination = tmp_path / "t10k-labels-idx1-ubyte"
    download.download_verified("http://127.0.0.1/x", destination, hashlib.sha256(labels).hexdigest(), 1)
    assert stat.S_IMODE(destination.stat().st_mode) == 0o644 and os.listdir(tmp_path) == [destination.name]


def test_replacing_a_file_keeps_its_permissions(tmp_path, umask):
    path = genuine(tmp_path / "checkpoint.npz")
    path.chmod(0o640)
    genuine(path, epoch=2)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and load_checkpoint(path).epoch == 2


def test_stale_temporaries_are_removed_and_nothing_else(tmp_path):
    old = time.time() - 3600
    stale = [".checkpoint.npz.0123456789abcdef.tmp", ".checkpoint.npz.a1b2_c3d.tmp"]   # ours, and mkstemp's
    kept = [".checkpoint.npz.notes.tmp", "checkpoint.npz.0123456789abcdef.tmp", ".metrics.json.0123456789abcdef.tmp",
            ".checkpoint.npz.0123456789ABCDEF.tmp", "notes.txt"]
    for name in stale + kept:
        (tmp_path / name).write_text("x")
        os.utime(tmp_path / name, (old, old))
    (tmp_path / ".checkpoint.npz.fedcba9876543210.tmp").write_text("another process, writing now")
    kept.append(".checkpoint.npz.fedcba9876543210.tmp")
    (tmp_path / ".checkpoint.npz.00000000.tmp").mkdir()                          # a folder: never removed
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / ".checkpoint.npz.11111111.tmp").symlink_to(victim)               # a link: never removed
    os.utime(tmp_path / ".checkpoint.npz.11111111.tmp", (old, old), follow_symlinks=False)
    kept += [".checkpoint.npz.00000000.tmp", ".checkpoint.npz.11111111.tmp", "victim.txt"]
    genuine(tmp_path / "checkpoint.npz")
    assert sorted(os.listdir(tmp_path)) == sorted(kept + ["checkpoint.npz"])
    assert victim.read_text() == "keep me"


def test_a_write_killed_midway_leaves_a_temporary_that_the_next_process_removes(tmp_path):
    """As kill -9 during a write would: the process dies inside atomic_write, with no chance to clean up."""
    path = tmp_path / "checkpoint.npz"
    dies = ("import os, sys\nfrom minicnn.training.files import atomic_write\n"
            "def die(file):\n    file.write(b'half a checkpoint'); file.flush(); os._exit(9)\n"
            "atomic_write(sys.argv[1], die)\n")
    assert subprocess.run([sys.executable, "-c", dies, str(path)], cwd=ROOT, timeout=120).returncode == 9
    left = os.listdir(tmp_path)
    assert len(left) == 1 and left[0].startswith(".checkpoint.npz.") and left[0].endswith(".tmp")
    writes = ("import sys\nfrom minicnn.training.files import atomic_write\n"
              "atomic_write(sys.argv[1], lambda file: file.write(b'whole'))\n")
    assert subprocess.run([sys.executable, "-c", writes, str(path)], cwd=ROOT, timeout=120).returncode == 0
    assert os.listdir(tmp_path) == ["checkpoint.npz"] and path.read_bytes() == b"whole"


def test_a_link_at_the_target_or_planted_at_the_temporary_name_is_never_written_through(tmp_path, monkeypatch):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "checkpoint.npz").symlink_to(victim)                 # the target itself is a link
    genuine(tmp_path / "checkpoint.npz")
    assert victim.read_text() == "keep me" and not (tmp_path / "checkpoint.npz").is_symlink()
    monkeypatch.setattr(files.secrets, "token_hex", lambda count: "0" * (2 * count))
    (tmp_path / ".metrics.json.0000000000000000.tmp").symlink_to(victim)   # a link where the temporary goes
    with pytest.raises(OutputError, match="metrics.json: File exists"):
        write_json(tmp_path / "metrics.json", {"a": 1})
    assert victim.read_text() == "keep me" and not (tmp_path / "metrics.json").exists()


# ===== G. a diverging run (6) ===================================================================
class Poison(Callback):
    """Put a NaN into the first weight (or its velocity) after batch ``batch`` of epoch ``epoch`` (0-based)."""

    def __init__(self, epoch, batch, velocity=False):
        self.epoch, self.batch, self.velocity = epoch, batch, velocity

    def on_batch_end(self, state, batch, logs):
        if state.epoch == self.epoch and batch == self.batch:
            array = state.optimizer.velocity[0] if self.velocity else state.optimizer.params[0].data
            array.reshape(-1)[0] = np.nan


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return rng.standard_normal((96, 1, 28, 28)).astype(np.float32), np.arange(96) % 10


@pytest.mark.parametrize("poison, why", [
    (Poison(1, 0), "training diverged in epoch 2, batch 2 of 3: weight 1.weight holds NaN or infinite values"),
    (Poison(1, 2), "training diverged in epoch 2, batch 3 of 3: weight 1.weight holds NaN or infinite values"),
    (Poison(1, 2, velocity=True), "training diverged in epoch 2, batch 3 of 3: the velocity of 1.weight holds NaN or infinite values"),
], ids=["mid-epoch", "last batch, a weight", "last batch, a velocity"])
def test_a_diverging_run_stops_and_keeps_the_last_good_checkpoint(tmp_path, images, poison, why):
    path = tmp_path / "checkpoint.npz"
    with pytest.raises(TrainingDiverged) as error:
        fit(small_model(), images, epochs=3, batch_size=32, lr=0.01, checkpoint=path, callbacks=[poison],
            progress=False)
    assert str(error.value) == (f"{why}; the checkpoint of epoch 1 in {path} is unchanged; "
                                "try a smaller learning rate than 0.01")
    assert isinstance(error.value, FloatingPointError)
    assert load_checkpoint(path).epoch == 1 and os.listdir(tmp_path) == ["checkpoint.npz"]


def test_a_learning_rate_far_too_large_diverges_in_epoch_1_and_saves_nothing(tmp_path, images):
    with pytest.raises(TrainingDiverged, match=r"training diverged in epoch 1, batch \d+ of 3: .*nothing was "
                                               r"saved; try a smaller learning rate than 1e\+30"):
        fit(small_model(), images, epochs=2, batch_size=32, lr=1e30, momentum=0.99,
            checkpoint=tmp_path / "checkpoint.npz", progress=False)
    assert os.listdir(tmp_path) == []


def test_a_test_loss_that_overflows_after_the_last_epoch_is_a_divergence_not_a_json_error(tmp_path, monkeypatch):
    from minicnn.training import experiment
    from minicnn.training.loop import Evaluation

    monkeypatch.setattr(experiment, "evaluate", lambda *a, **k: Evaluation(float("inf"), 0.1, np.zeros(32, np.int64)))
    with pytest.raises(TrainingDiverged) as error:
        run(tiny_config(tmp_path), progress=False, verbose=False)
    assert str(error.value) == (
        "training diverged: after epoch 1 the test loss is inf (the weights are finite, but so large that the "
        f"class scores overflow); {tmp_path / 'checkpoint.npz'} holds them; train again with a smaller learning "
        "rate than 0.01")
    assert not (tmp_path / "metrics.json").exists()


def test_save_checkpoint_itself_refuses_nan_weights(tmp_path):
    path = genuine(tmp_path / "checkpoint.npz")
    before = path.read_bytes()
    model = small_model()
    model.parameters()[2].data[0, 0] = np.inf
    with pytest.raises(CheckpointError) as error:
        save_checkpoint(path, model, epoch=2)
    assert str(error.value) == (f"{path} not written: model/3.weight holds 1 NaN or infinite values (the "
                                "training diverged); the checkpoint there before, if any, is unchanged")
    assert path.read_bytes() == before


# ===== H. settings that make no sense, refused up front (66) ======================================
NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("settings, message", [
    ({"lr": NAN}, "SGD: lr must be a positive, finite learning rate; got nan"),
    ({"lr": INF}, "SGD: lr must be a positive, finite learning rate; got inf"),
    ({"lr": 0}, "SGD: lr must be a positive, finite learning rate; got 0"),
    ({"lr": -0.1}, "SGD: lr must be a positive, finite learning rate; got -0.1"),
    ({"lr": "0.1"}, "SGD: lr must be a positive, finite learning rate; got '0.1'"),
    ({"lr": True}, "SGD: lr must be a positive, finite learning rate; got True"),
    ({"lr": 0.1, "momentum": 1.0}, "SGD: momentum must be in [0, 1); got 1.0"),
    ({"lr": 0.1, "momentum": -0.1}, "SGD: momentum must be in [0, 1); got -0.1"),
    ({"lr": 0.1, "momentum": NAN}, "SGD: momentum must be in [0, 1); got nan"),
    ({"lr": 0.1, "weight_decay": -1e-4}, "SGD: weight_decay must be a finite number, 0 or more; got -0.0001"),
    ({"lr": 0.1, "weight_decay": INF}, "SGD: weight_decay must be a finite number, 0 or more; got inf"),
    ({"lr": 0.1, "filter_radius": 0}, "SGD: filter_radius must be None or a positive, finite RMS; got 0"),
    ({"lr": 0.1, "filter_radius": -0.1}, "SGD: filter_radius must be None or a positive, finite RMS; got -0.1"),
    ({"lr": 0.1, "filter_radius": NAN}, "SGD: filter_radius must be None or a positive, finite RMS; got nan"),
])
def test_sgd_refuses_settings_outside_their_range(settings, message):
    with pytest.raises(ValueError) as error:
        SGD(small_model().parameters(), **settings)
    assert str(error.value) == message


def test_sgd_refuses_what_is_not_a_list_of_parameters():
    model = small_model()
    with pytest.raises(TypeError, match=r"SGD: got the Sequential itself; pass its parameters: SGD\(model.parameters"):
        SGD(model, lr=0.1)
    with pytest.raises(TypeError, match=r"SGD: params\[0\] is a Linear, not a Parameter"):
        SGD(list(model)[1:], lr=0.1)
    with pytest.raises(ValueError, match="SGD: got no parameters to train"):
        SGD([], lr=0.1)


def test_sgd_state_is_checked_when_loaded():
    optimizer = SGD(small_model().parameters(), lr=0.1)
    state = optimizer.state_dict()
    with pytest.raises(ValueError, match="SGD: lr must be a positive, finite learning rate; got nan"):
        optimizer.load_state_dict({**state, "lr": NAN})
    with pytest.raises(ValueError, match=r"velocity 1 has shape \(2,\), but its parameter has shape \(8,\)"):
        optimizer.load_state_dict({**state, "velocity": [None, np.ones(2), None, None]})
    assert optimizer.lr == 0.1 and optimizer.velocity == [None] * 4          # nothing half-loaded
    with pytest.raises(ValueError, match="renormalize_filters: radius must be a positive, finite RMS; got 0"):
        renormalize_filters(small_model(), 0)


@pytest.mark.parametrize("make, message", [
    (lambda: StepLR(0), "StepLR: step_size must be a whole number of epochs, at least 1; got 0"),
    (lambda: StepLR(1.5), "StepLR: step_size must be a whole number of epochs, at least 1; got 1.5"),
    (lambda: StepLR(2, NAN), "StepLR: gamma must be a positive, finite factor; got nan"),
    (lambda: StepLR(2, -0.5), "StepLR: gamma must be a positive, finite factor; got -0.5"),
    (lambda: StepLR(2, INF), "StepLR: gamma must be a positive, finite factor; got inf"),
    (lambda: ReduceLROnPlateau(factor=1.0), "ReduceLROnPlateau: factor must be in (0, 1); got 1.0"),
    (lambda: ReduceLROnPlateau(factor=NAN), "ReduceLROnPlateau: factor must be in (0, 1); got nan"),
    (lambda: ReduceLROnPlateau(patience=-1), "ReduceLROnPlateau: patience must be a whole number of epochs, 0 or more; got -1"),
    (lambda: ReduceLROnPlateau(cooldown=-2), "ReduceLROnPlateau: cooldown must be a whole number of epochs, 0 or more; got -2"),
    (lambda: ReduceLROnPlateau(threshold=-1e-4), "ReduceLROnPlateau: threshold must be a finite number, 0 or more; got -0.0001"),
    (lambda: ReduceLROnPlateau(min_lr=INF), "ReduceLROnPlateau: min_lr must be a finite learning rate, 0 or more; got inf"),
    (lambda: ReduceLROnPlateau(monitor=3), "ReduceLROnPlateau: monitor must be a key of the epoch logs"),
    (lambda: ReduceLROnPlateau().load_state_dict({"best": 1.0, "next_lr": print}),
     "ReduceLROnPlateau.load_state_dict: expected the keys"),
    (lambda: ReduceLROnPlateau().load_state_dict({**ReduceLROnPlateau().state_dict(), "bad_epochs": -1}),
     "ReduceLROnPlateau: bad_epochs must be a whole number of epochs, 0 or more; got -1"),
])
def test_schedules_refuse_settings_outside_their_range(make, message):
    with pytest.raises(ValueError) as error:
        make()
    assert str(error.value).startswith(message)


@pytest.mark.parametrize("settings, message", [
    ({"epochs": 0}, "fit: epochs must be a whole number, at least 1; got 0"),
    ({"epochs": -3}, "fit: epochs must be a whole number, at least 1; got -3"),
    ({"epochs": 2.5}, "fit: epochs must be a whole number, at least 1; got 2.5"),
    ({"epochs": True}, "fit: epochs must be a whole number, at least 1; got True"),
    ({"epochs": 1, "batch_size": 0}, "fit: batch_size must be a whole number, at least 1; got 0"),
    ({"epochs": 1, "eval_batch_size": 0}, "fit: eval_batch_size must be a whole number, at least 1; got 0"),
    ({"epochs": 1, "seed": -1}, "fit: seed must be a whole number, at least 0; got -1"),
    ({"epochs": 1, "lr": NAN}, "SGD: lr must be a positive, finite learning rate; got nan"),
    ({"epochs": 1, "momentum": 1.0}, "SGD: momentum must be in [0, 1); got 1.0"),
    ({"epochs": 1, "weight_decay": -1.0}, "SGD: weight_decay must be a finite number, 0 or more; got -1.0"),
    ({"epochs": 1, "filter_radius": -0.1}, "SGD: filter_radius must be None or a positive, finite RMS; got -0.1"),
])
def test_fit_refuses_settings_before_training(tmp_path, images, settings, message):
    with pytest.raises(ValueError) as error:
        fit(small_model(), images, checkpoint=tmp_path / "c.npz", progress=False, **settings)
    assert str(error.value) == message and os.listdir(tmp_path) == []


def test_fit_refuses_no_images_a_bad_transform_and_a_resume_already_done(tmp_path, images):
    x, y = images
    with pytest.raises(ValueError, match="fit: train has no images"):
        fit(small_model(), (x[:0], y[:0]), epochs=1, progress=False)
    with pytest.raises(TypeError, match="fit: transform must be a function"):
        fit(small_model(), images, epochs=1, transform="shift", progress=False)
    fit(small_model(), images, epochs=2, batch_size=32, checkpoint=tmp_path / "c.npz", progress=False)
    before = (tmp_path / "c.npz").read_bytes()
    with pytest.raises(ValueError, match="has already trained 2 epochs, and epochs=2 is the total to reach, not a "
                                         "number of epochs more; ask for more than 2"):
        fit(small_model(), images, epochs=2, checkpoint=tmp_path / "c.npz", resume=tmp_path / "c.npz", progress=False)
    assert (tmp_path / "c.npz").read_bytes() == before


@pytest.mark.parametrize("setting, value, needed", [
    ("model", "resnet", "one of keras_mnist_cnn"),
    ("dataset", "cifar", "one of fashion-mnist, mnist"),
    ("out", "", "the name of a folder (not empty)"),
    ("epochs", 0, "a whole number of epochs, at least 1"),
    ("epochs", -1, "a whole number of epochs, at least 1"),
    ("batch_size", 0, "a whole number of images, at least 1"),
    ("lr", NAN, "a positive, finite learning rate"),
    ("lr", INF, "a positive, finite learning rate"),
    ("momentum", 1.0, "a number in [0, 1)"),
    ("weight_decay", -0.1, "a finite number, 0 or more"),
    ("filter_radius", -0.1, "None or a positive, finite RMS"),
    ("schedule", "cosine", "one of none, step, plateau"),
    ("step_size", 0, "a whole number of epochs, at least 1"),
    ("patience", -1, "a whole number of epochs, 0 or more"),
    ("gamma", INF, "a positive, finite factor"),
    ("gamma", NAN, "a positive, finite factor"),
    ("augment", "flip", "one of none, shift, crop, keras"),
    ("seed", -1, "a whole number, 0 or more"),
    ("data_path", "", "None or the name of a folder"),
    ("train_limit", 0, "None or a whole number of images, at least 1"),
    ("test_limit", -5, "None or a whole number of images, at least 1"),
    ("val_fraction", 1.0, "a fraction in [0, 1)"),
    ("model_kwargs", {"num_classes": 3}, "a dict of the model's settings (not num_classes: the dataset decides it)"),
])
def test_run_refuses_each_setting_before_any_work(tmp_path, monkeypatch, setting, value, needed):
    monkeypatch.setattr("minicnn.training.experiment.load_data", lambda *a, **k: pytest.fail("data was loaded"))
    config = tiny_config(tmp_path / "run")
    setattr(config, setting, value)
    with pytest.raises(RunConfigError) as error:
        run(config, progress=False, verbose=False)
    assert f"the setting {setting} must be {needed}" in str(error.value) and str(error.value).endswith(f"; got {value!r}")
    assert not (tmp_path / "run").exists()


def test_zero_classes_and_an_unknown_backend_in_the_environment(monkeypatch):
    for classes in (0, -3, 2.5):
        with pytest.raises(ValueError, match=rf"lenet5: num_classes must be a whole number, at least 1 .*got {classes}"):
            get_model("lenet5", num_classes=classes)
    monkeypatch.setenv("MINICNN_BACKEND", "tpu")
    monkeypatch.setitem(backend._active, "name", None)
    with pytest.raises(ValueError, match=r"\$MINICNN_BACKEND: unknown backend 'tpu'; choose one of numpy, numba, cupy"):
        backend.get_backend()
    monkeypatch.setenv("MINICNN_BACKEND", "")                       # set but empty: as if unset
    assert backend.get_backend() == ("numba" if backend.numba is not None else "numpy")   # the default
