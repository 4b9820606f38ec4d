"""Checkpoints: exact resume, atomic writes that survive interruption, no pickle."""

import json
import os

import numpy as np
import pytest

import minicnn as mc
from minicnn.training import checkpoint as ckpt
from minicnn import nn
from minicnn.engine.backend import to_numpy
from minicnn.training.callbacks import Callback
from minicnn.training.checkpoint import CheckpointError, atomic_write, load_checkpoint, load_model, save_checkpoint
from minicnn.data import load_dataset, mean_std, normalize, to_float
from minicnn.data.sources import EMBEDDED_DIRS
from minicnn.training.history import History
from minicnn.models import get_model
from minicnn.engine.optim import SGD
from minicnn.training.schedules import ReduceLROnPlateau
from minicnn.training.loop import fit


@pytest.fixture(scope="module")
def images():
    train = load_dataset("fashion-mnist", "train", path=EMBEDDED_DIRS["fashion-mnist"], verbose=False)
    mean, std = mean_std(train.images[:192])
    x, y = normalize(to_float(train.images[:192]), mean, std), train.labels[:192]
    return (x[:160], y[:160]), (x[160:], y[160:])


def small_net():
    """Conv, LRN, pool and dropout: every layer whose state or randomness a resume must replay."""
    mc.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2), nn.ReLU(), nn.LocalResponseNorm(3), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(4 * 6 * 6, 16), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(16, 10),
    )


def train(images, path, epochs, resume=None, callbacks=()):
    model = small_net()
    train_data, val_data = images
    history = fit(model, train_data, val_data, epochs=epochs, batch_size=32, lr=0.05, momentum=0.9,
                  weight_decay=1e-4, schedule=ReduceLROnPlateau(patience=1), seed=7,
                  checkpoint=path, resume=resume, callbacks=callbacks, progress=False)
    return model, history


def assert_same_weights(a, b):
    state_a, state_b = a.state_dict(), b.state_dict()
    assert state_a.keys() == state_b.keys()
    for name in state_a:
        assert np.array_equal(state_a[name], state_b[name]), name


def test_resuming_after_epoch_1_equals_training_2_epochs_straight(images, tmp_path):
    straight, straight_history = train(images, tmp_path / "straight.npz", epochs=2)
    train(images, tmp_path / "resumed.npz", epochs=1)
    mc.manual_seed(12345)                      # whatever happened in between must not matter
    resumed, resumed_history = train(images, tmp_path / "resumed.npz", epochs=2,
                                     resume=tmp_path / "resumed.npz")
    assert_same_weights(straight, resumed)
    assert resumed_history["epoch"] == [1, 2]
    for key in ("train_loss", "val_loss", "lr"):
        assert resumed_history[key] == straight_history[key]
    saved = load_checkpoint(tmp_path / "resumed.npz")
    assert saved.epoch == 2 and saved.metadata["data"] == {"seed": 7, "next_epoch": 2}


def test_checkpoint_round_trip_holds_everything(images, tmp_path):
    model = get_model("keras_mnist_cnn")
    optimizer = SGD(model.parameters(), lr=0.02, momentum=0.9, weight_decay=1e-3, filter_radius=0.1)
    x, y = images[0]
    loss = mc.functional.cross_entropy(model(mc.tensor(x[:8])), y[:8])
    loss.backward()
    optimizer.step()
    history = History([{"epoch": 1, "train_loss": 1.5, "train_accuracy": 0.5, "val_loss": None,
                        "val_accuracy": None, "lr": 0.02, "seconds": 1.0, "images_per_second": 8.0}])
    schedule = ReduceLROnPlateau(patience=3)
    schedule.best = 0.7
    random_state = mc.rng.get_state()
    path = save_checkpoint(tmp_path / "run" / "c.npz", model, optimizer, epoch=1, seed=3,
                           history=history, schedule=schedule, extra={"dataset": "fashion-mnist"})
    assert sorted(os.listdir(path.parent)) == ["c.npz"]          # no temporary file left behind
    saved = load_checkpoint(path)
    assert saved.metadata["model"] == {"name": "keras_mnist_cnn", "kwargs": {}}
    assert saved.extra == {"dataset": "fashion-mnist"} and saved.history().records == history.records
    assert saved.metadata["random"] == random_state
    rebuilt = load_model(path)
    assert not rebuilt.training
    assert_same_weights(model, rebuilt)
    fresh = get_model("keras_mnist_cnn")
    fresh_optimizer, fresh_schedule = SGD(fresh.parameters(), lr=1.0), ReduceLROnPlateau()
    mc.manual_seed(99)
    saved.restore(fresh, fresh_optimizer, fresh_schedule)
    assert fresh_optimizer.state_dict()["lr"] == 0.02 and fresh_optimizer.filter_radius == 0.1
    for a, b in zip(fresh_optimizer.velocity, optimizer.velocity):
        assert np.array_equal(to_numpy(a), to_numpy(b))
    assert fresh_schedule.best == 0.7 and fresh_schedule.patience == 3
    assert mc.rng.get_state() == random_state


def test_interrupt_mid_epoch_leaves_the_last_complete_checkpoint(images, tmp_path):
    class InterruptInEpoch2(Callback):
        def on_batch_end(self, state, batch, logs):
            if state.epoch == 1 and batch == 2:
                raise KeyboardInterrupt

    path = tmp_path / "c.npz"
    with pytest.raises(KeyboardInterrupt):
        train(images, path, epochs=3, callbacks=[InterruptInEpoch2()])
    assert os.listdir(tmp_path) == ["c.npz"]
    saved = load_checkpoint(path)
    assert saved.epoch == 1 and len(saved.history()) == 1
    one_epoch, _ = train(images, tmp_path / "one" / "c.npz", epochs=1)
    model = small_net()
    model.load_state_dict(saved.model_state)
    assert_same_weights(one_epoch, model)


def test_interrupt_while_writing_keeps_the_old_checkpoint(images, tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    model, _ = train(images, path, epochs=1)
    before = path.read_bytes()

    def half_written(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt.numpy, "savez", half_written)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, epoch=2)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["c.npz"]
    assert load_checkpoint(path).epoch == 1


def test_atomic_write_replaces_whole_files_only(tmp_path):
    path = atomic_write(tmp_path / "a.txt", lambda f: f.write("old"), mode="w")
    with pytest.raises(RuntimeError):
        atomic_write(path, lambda f: (f.write("new, half"), (_ for _ in ()).throw(RuntimeError("disk full"))), mode="w")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["a.txt"]


def write_npz(path, **arrays):
    np.savez(path, **arrays)   # numpy pickles object arrays unless told not to
    return path


def metadata_bytes(**fields):
    document = {"format": "minicnn-checkpoint", "version": 1, "epoch": 0, "model": None,
                "optimizer": None, "schedule": None, "random": mc.rng.get_state(),
                "data": {"seed": 0, "next_epoch": 0}, "history": None, "extra": {}, **fields}
    return np.frombuffer(json.dumps(document).encode(), dtype=np.uint8)


def test_an_object_array_is_rejected_without_unpickling(tmp_path):
    path = write_npz(tmp_path / "evil.npz", **{"metadata.json": metadata_bytes(),
                                                "model/0.weight": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(path)


def test_broken_or_foreign_files_are_explained(tmp_path):
    good = write_npz(tmp_path / "good.npz", **{"metadata.json": metadata_bytes(), "model/w": np.ones(2)})
    assert load_checkpoint(good).model_state["w"].tolist() == [1.0, 1.0]
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:40])
    with pytest.raises(CheckpointError, match="not a complete"):
        load_checkpoint(truncated)
    with pytest.raises(CheckpointError, match="not a minicnn checkpoint"):
        load_checkpoint(write_npz(tmp_path / "plain.npz", w=np.ones(2)))
    with pytest.raises(CheckpointError, match="version"):
        load_checkpoint(write_npz(tmp_path / "v9.npz", **{"metadata.json": metadata_bytes(version=9)}))
    with pytest.raises(CheckpointError, match="which model"):
        load_model(good)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.npz")


def test_resuming_with_another_seed_is_refused(images, tmp_path):
    train(images, tmp_path / "c.npz", epochs=1)
    with pytest.raises(ValueError, match="seed 7, not 8"):
        fit(small_net(), images[0], epochs=2, seed=8, resume=tmp_path / "c.npz", progress=False)
