"""Training loop, evaluation, schedules and callbacks, on a few hundred real images."""

import numpy as np
import pytest

import minicnn as mc
from minicnn import nn
from minicnn.training.callbacks import AtEpochs, Callback, EarlyStopping
from minicnn.data import load_dataset, mean_std, normalize, to_float
from minicnn.data.sources import EMBEDDED_DIRS
from minicnn.training.history import History
from minicnn.models import get_model
from minicnn.training.schedules import ReduceLROnPlateau, StepLR
from minicnn.training.loop import confusion_matrix, epoch_seed, evaluate, fit


@pytest.fixture(scope="module")
def fashion():
    """The first 256 embedded training images and 200 test images, standardised."""
    train = load_dataset("fashion-mnist", "train", path=EMBEDDED_DIRS["fashion-mnist"], verbose=False)
    test = load_dataset("fashion-mnist", "test", path=EMBEDDED_DIRS["fashion-mnist"], verbose=False)
    mean, std = mean_std(train.images[:256])
    prepare = lambda images: normalize(to_float(images), mean, std)  # noqa: E731
    return (prepare(train.images[:256]), train.labels[:256]), (prepare(test.images[:200]), test.labels[:200])


def tiny_net(dropout=0.5):
    """A few thousand parameters, dropout included: quick to train on the CPU."""
    return nn.Sequential(
        nn.Conv2d(1, 4, 5, stride=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(dropout), nn.Linear(4 * 6 * 6, 10),
    )


def test_a_small_net_learns_real_images(fashion):
    (x, y), (x_test, y_test) = fashion
    mc.manual_seed(0)
    model = get_model("lenet5")
    before = evaluate(model, x_test, y_test)
    history = fit(model, (x, y), (x_test, y_test), epochs=3, batch_size=32, lr=0.01, progress=False)
    after = evaluate(model, x_test, y_test)
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert after.loss < before.loss and after.accuracy > 0.5          # chance is 0.1
    assert history["val_accuracy"][-1] == pytest.approx(after.accuracy)
    record = history.last
    assert record["epoch"] == 3 and record["lr"] == 0.01 and record["images_per_second"] > 0
    assert record["seconds"] > 0


def test_evaluate_returns_loss_accuracy_predictions_and_restores_the_mode(fashion):
    (x, y), _ = fashion
    model = tiny_net().train()
    first = evaluate(model, x[:50], y[:50], batch_size=16)
    second = evaluate(model, x[:50], y[:50], batch_size=50)     # dropout off: batching does not matter
    assert model.training
    assert first.predictions.shape == (50,) and first.predictions.dtype == np.int64
    assert np.array_equal(first.predictions, second.predictions)
    assert first.loss == pytest.approx(second.loss, rel=1e-5)
    assert first.accuracy == pytest.approx((first.predictions == y[:50]).mean())
    loss, accuracy, predictions = first                        # unpacks like a tuple


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    matrix = confusion_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]


def test_step_lr_multiplies_every_step_size_epochs(fashion):
    schedule = StepLR(step_size=2, gamma=0.5)
    lrs, lr = [], 1.0
    for epoch in range(6):
        lrs.append(lr)
        lr = schedule.next_lr(epoch, {}, lr)
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    (x, y), _ = fashion
    history = fit(tiny_net(), (x[:64], y[:64]), epochs=3, lr=0.1, schedule=StepLR(1, 0.1),
                  progress=False)
    assert history["lr"] == pytest.approx([0.1, 0.01, 0.001])


def test_reduce_on_plateau_waits_patience_epochs():
    schedule = ReduceLROnPlateau("val_loss", factor=0.1, patience=2)
    lr, lrs = 1.0, []
    for value in [1.0, 0.9, 0.95, 0.92, 0.91, 0.5, 0.6, 0.7]:
        lr = schedule.next_lr(0, {"val_loss": value}, lr)
        lrs.append(lr)
    # best 0.9 at step 2; no improvement at 3 and 4 -> reduced after step 4; best 0.5 at 6
    assert lrs == pytest.approx([1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.1, 0.01])
    restored = ReduceLROnPlateau()
    restored.load_state_dict(schedule.state_dict())
    assert restored.state_dict() == schedule.state_dict()


def test_reduce_on_plateau_max_mode_min_lr_and_missing_key():
    schedule = ReduceLROnPlateau("val_accuracy", mode="max", factor=0.5, patience=1, min_lr=0.3)
    lr = 1.0
    for value in [0.5, 0.4, 0.4, 0.4]:
        lr = schedule.next_lr(0, {"val_accuracy": value}, lr)
    assert lr == 0.3
    with pytest.raises(KeyError, match="val_loss.*train_loss"):
        ReduceLROnPlateau().next_lr(0, {"train_loss": 1.0, "val_loss": None}, 0.1)


def test_callbacks_see_model_epoch_and_data_and_can_stop(fashion):
    (x, y), (x_val, y_val) = fashion
    events = []

    class Recorder(Callback):
        def on_train_begin(self, state):
            events.append(("begin", state.train_images.shape, state.val_images.shape))

        def on_epoch_begin(self, state, epoch):
            events.append(("epoch", epoch, state.model.training))

        def on_batch_end(self, state, batch, logs):
            events.append(("batch", batch, logs["size"]))

        def on_epoch_end(self, state, epoch, logs):
            events.append(("end", epoch, logs["epoch"], len(state.history)))
            state.stop = epoch == 1

        def on_train_end(self, state):
            events.append(("done", state.epoch))

    snapshots = {}
    keep = AtEpochs([2], lambda state, epoch, logs: snapshots.update({epoch + 1: state.model.state_dict()}))
    history = fit(tiny_net(), (x[:40], y[:40]), (x_val[:10], y_val[:10]), epochs=5, batch_size=16,
                  callbacks=[Recorder(), keep], progress=False)
    assert len(history) == 2 and list(snapshots) == [2]
    assert events[0] == ("begin", (40, 1, 28, 28), (10, 1, 28, 28))
    assert events[1:5] == [("epoch", 0, True), ("batch", 0, 16), ("batch", 1, 16), ("batch", 2, 8)]
    assert ("end", 0, 1, 1) in events and events[-2:] == [("end", 1, 2, 2), ("done", 1)]


def test_early_stopping_stops_when_the_monitor_stalls():
    class State:
        stop = False
    state, stopper = State(), EarlyStopping("val_loss", patience=2)
    for epoch, value in enumerate([1.0, 0.8, 0.9, 0.85]):
        stopper.on_epoch_end(state, epoch, {"val_loss": value})
    assert state.stop


def test_filter_radius_caps_every_conv_filter_rms(fashion):
    (x, y), _ = fashion
    model = tiny_net()
    fit(model, (x[:64], y[:64]), epochs=1, lr=0.05, filter_radius=0.1, progress=False)
    weight = model[0].weight.numpy()
    rms = np.sqrt((weight ** 2).mean(axis=(1, 2, 3)))
    assert rms.max() <= 0.1 + 1e-6


def test_fit_explains_bad_inputs(fashion):
    (x, y), _ = fashion
    with pytest.raises(ValueError, match="to_float"):
        fit(tiny_net(), (np.zeros((4, 28, 28), np.uint8), y[:4]), epochs=1, progress=False)
    with pytest.raises(mc.ShapeError, match="Conv2d layer '0'"):
        fit(tiny_net(), (np.zeros((4, 3, 28, 28), np.float32), y[:4]), epochs=1, progress=False)
    with pytest.raises(ValueError, match="no validation data"):
        fit(tiny_net(), (x[:4], y[:4]), epochs=1, schedule=ReduceLROnPlateau(), progress=False)
    with pytest.raises(ValueError, match="4 images but 3 labels"):
        fit(tiny_net(), (x[:4], y[:3]), epochs=1, progress=False)


def test_divergence_is_reported_with_the_learning_rate(fashion):
    (x, y), _ = fashion
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match="smaller learning rate"):
        fit(tiny_net(0.0), (x[:64] * 1e4, y[:64]), epochs=3, lr=1e6, batch_size=16, progress=False)


def test_epoch_seeds_differ_by_epoch_and_seed():
    seeds = {epoch_seed(seed, epoch) for seed in range(3) for epoch in range(3)}
    assert len(seeds) == 9


def test_history_columns_and_round_trip():
    history = History()
    record = {"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5, "val_loss": None,
              "val_accuracy": None, "lr": 0.1, "seconds": 2.0, "images_per_second": 10.0}
    history.append(record)
    assert history["train_loss"] == [1.0] and History.from_dict(history.to_dict()).records == [record]
    with pytest.raises(KeyError, match="choose one of"):
        history["loss"]


# ----- train_step: the step fit takes, in a few lines ----------------------------------------
def _weights(model):
    return [np.array(mc.to_numpy(p.data)) for p in model.parameters()]


def test_train_step_is_forward_loss_backward_update(fashion):
    """Two steps (the second uses momentum's velocity) give the weights of the same lines written out."""
    from minicnn.engine.optim import SGD
    from minicnn.training import train_step
    (x, y), _ = fashion
    mc.manual_seed(0)
    stepped, by_hand = tiny_net(), tiny_net()
    by_hand.load_state_dict(stepped.state_dict())
    stepped_sgd = SGD(stepped.parameters(), 0.05, 0.9, 1e-4, None)
    by_hand_sgd = SGD(by_hand.parameters(), 0.05, 0.9, 1e-4, None)

    def halve_gradients(model):                       # a hook that must run between backward and step
        def hook():
            for parameter in model.parameters():
                parameter.grad = parameter.grad * 0.5
        return hook

    for batch in range(2):
        images, labels = x[32 * batch:32 * (batch + 1)], y[32 * batch:32 * (batch + 1)]
        mc.manual_seed(10 + batch)                    # the same dropout masks for both
        loss, correct = train_step(stepped, stepped_sgd, images, labels, halve_gradients(stepped))
        mc.manual_seed(10 + batch)
        logits = by_hand(mc.tensor(images))
        expected = mc.functional.cross_entropy(logits, labels)
        by_hand_sgd.zero_grad()
        expected.backward()
        halve_gradients(by_hand)()
        by_hand_sgd.step()
        assert isinstance(loss, float) and loss == float(expected.item())
        assert isinstance(correct, int) and correct == int((logits.data.argmax(axis=1) == labels).sum())
        for got, want in zip(_weights(stepped), _weights(by_hand)):
            assert np.array_equal(got, want)


def test_fit_is_a_loop_over_train_step(fashion):
    """fit's weights and losses, bit for bit, from a plain loop: the same batches, the same dropout."""
    from minicnn.data.loader import DataLoader
    from minicnn.engine.optim import SGD
    from minicnn.training import train_step
    (x, y), _ = fashion
    x, y = x[:80], y[:80]                             # batches of 32, 32 and 16
    mc.manual_seed(0)
    fitted, looped = tiny_net(), tiny_net()
    looped.load_state_dict(fitted.state_dict())
    history = fit(fitted, (x, y), epochs=2, batch_size=32, lr=0.05, seed=4, progress=False)
    optimizer = SGD(looped.parameters(), 0.05, 0.9, 0.0, None)         # fit's momentum 0.9, no decay
    loader = DataLoader(x, y, 32, shuffle=True, seed=4)                  # fit's order and batches
    looped.train()
    for epoch in range(2):
        mc.manual_seed(epoch_seed(4, epoch))                             # fit reseeds dropout per epoch
        loader.set_epoch(epoch)
        total_loss = 0.0
        for images, labels in loader:
            loss, _ = train_step(looped, optimizer, images, labels)
            total_loss += loss * len(labels)
        assert history["train_loss"][epoch] == total_loss / len(y)
    for got, want in zip(_weights(fitted), _weights(looped)):
        assert np.array_equal(got, want)


def test_the_loop_docstring_shows_train_step_as_it_is():
    """loop.py's docstring copies train_step's lines for the reader; every code line must match step.py."""
    import inspect
    from minicnn.training import loop, step
    source = inspect.getsource(step.train_step).split('"""')[-1]          # the body after the docstring
    code = [line.split("#")[0].strip() for line in source.splitlines() if line.split("#")[0].strip()]
    shown = [line.strip() for line in loop.__doc__.splitlines()]
    assert len(code) >= 8
    for line in code:
        assert any(text == line or text.startswith(line + " ") for text in shown), (
            f"loop.py's docstring no longer shows train_step's line {line!r} (step.py)")
