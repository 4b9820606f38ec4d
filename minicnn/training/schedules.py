"""Learning-rate schedules: what the learning rate should be for the next epoch.

``fit`` calls ``schedule.next_lr(epoch, logs, lr)`` after every epoch, with
the epoch just finished (0-based), its logs (train_loss, val_loss, ...) and
the learning rate it used, and sets the optimizer's lr to the answer.

    StepLR(step_size=5, gamma=0.1)     lr <- lr * gamma every step_size epochs
    ReduceLROnPlateau(factor=0.1, ...) lr <- lr * factor when the monitored
                                       value has not improved for `patience` epochs

ZFNet's learning rate (0.01) was "annealed by hand when validation error
plateaued" (docs/sources.md section 4); ReduceLROnPlateau does that automatically.
Each schedule has ``state_dict()``/``load_state_dict()`` of plain numbers, which
checkpoints store, so a resumed run anneals exactly as an unbroken one.
Every setting is checked when a schedule is made and when its state is
loaded: a ValueError names the setting, its value and the range it needs.
"""

import math
import numbers


def _check(owner, name, value, needed, fits, kind=numbers.Real):
    """``value`` if it is a ``kind`` (never a bool) for which ``fits`` holds; else a ValueError."""
    if isinstance(value, bool) or not isinstance(value, kind) or not fits(value):
        raise ValueError(f"{owner}: {name} must be {needed}; got {value!r}")
    return value


def _check_keys(owner, state, keys):
    """A ValueError unless ``state`` is a dict with exactly ``keys`` (what state_dict() gives)."""
    if not isinstance(state, dict) or set(state) != set(keys):
        found = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{owner}.load_state_dict: expected the keys {sorted(keys)}, got {found}")


class StepLR:
    """Multiply the learning rate by ``gamma`` after every ``step_size`` epochs.

    With base rate lr0, epoch e (0-based) trains with lr0 * gamma ** (e // step_size).
    """

    def __init__(self, step_size, gamma=0.1):
        _check("StepLR", "step_size", step_size, "a whole number of epochs, at least 1",
               lambda value: value >= 1, numbers.Integral)
        _check("StepLR", "gamma", gamma, "a positive, finite factor", lambda value: 0 < value < math.inf)
        self.step_size, self.gamma = step_size, gamma

    def next_lr(self, epoch, logs, lr):
        return lr * self.gamma if (epoch + 1) % self.step_size == 0 else lr

    def state_dict(self):
        return {"step_size": self.step_size, "gamma": self.gamma}

    def load_state_dict(self, state):
        _check_keys("StepLR", state, ("step_size", "gamma"))
        self.__init__(state["step_size"], state["gamma"])   # checks both, as when made

    def __repr__(self):
        return f"StepLR(step_size={self.step_size}, gamma={self.gamma})"


class ReduceLROnPlateau:
    """Multiply the learning rate by ``factor`` when ``monitor`` stops improving.

    monitor:   a key of the epoch logs, e.g. "val_loss" or "val_accuracy"
    mode:      "min" (lower is better, losses) or "max" (accuracies)
    patience:  reduce after this many epochs in a row without improvement
               (Keras's rule; PyTorch waits one epoch more)
    threshold: an improvement must beat the best value by this relative amount:
               new < best * (1 - threshold) in "min" mode
    cooldown:  epochs to wait after a reduction before counting again
    min_lr:    never go below this
    """

    def __init__(self, monitor="val_loss", mode="min", factor=0.1, patience=2,
                 threshold=1e-4, cooldown=0, min_lr=0.0):
        owner = "ReduceLROnPlateau"
        if not isinstance(monitor, str):
            raise ValueError(f"{owner}: monitor must be a key of the epoch logs such as 'val_loss'; got {monitor!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"{owner}: mode must be 'min' or 'max', got {mode!r}")
        _check(owner, "factor", factor, "in (0, 1)", lambda value: 0 < value < 1)
        _check(owner, "patience", patience, "a whole number of epochs, 0 or more", lambda value: value >= 0,
               numbers.Integral)
        _check(owner, "threshold", threshold, "a finite number, 0 or more", lambda value: 0 <= value < math.inf)
        _check(owner, "cooldown", cooldown, "a whole number of epochs, 0 or more", lambda value: value >= 0,
               numbers.Integral)
        _check(owner, "min_lr", min_lr, "a finite learning rate, 0 or more", lambda value: 0 <= value < math.inf)
        self.monitor, self.mode, self.factor, self.patience = monitor, mode, factor, patience
        self.threshold, self.cooldown, self.min_lr = threshold, cooldown, min_lr
        self.best = None          # the best value seen so far; None before the first epoch
        self.bad_epochs = 0
        self.cooldown_left = 0

    def improved(self, value):
        """Better than the best so far by the relative threshold (PyTorch's rule)."""
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best * (1 - self.threshold)
        return value > self.best * (1 + self.threshold)

    def next_lr(self, epoch, logs, lr):
        value = logs.get(self.monitor)
        if value is None:
            available = ", ".join(key for key, v in logs.items() if v is not None)
            raise KeyError(
                f"ReduceLROnPlateau monitors {self.monitor!r}, which this epoch's logs lack "
                f"(they have: {available}); pass validation data to fit or monitor another key"
            )
        if self.improved(value):
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad_epochs = 0
        if self.bad_epochs >= self.patience and lr > self.min_lr:
            self.bad_epochs, self.cooldown_left = 0, self.cooldown
            return max(lr * self.factor, self.min_lr)
        return lr

    def state_dict(self):
        return {key: getattr(self, key) for key in self.SETTINGS + self.PROGRESS}

    SETTINGS = ("monitor", "mode", "factor", "patience", "threshold", "cooldown", "min_lr")
    PROGRESS = ("best", "bad_epochs", "cooldown_left")

    def load_state_dict(self, state):
        _check_keys("ReduceLROnPlateau", state, self.SETTINGS + self.PROGRESS)
        self.__init__(**{key: state[key] for key in self.SETTINGS})   # checks the settings, as when made
        if state["best"] is not None:
            _check("ReduceLROnPlateau", "best", state["best"], "None or a finite number",
                   lambda value: math.isfinite(value))
        for key in ("bad_epochs", "cooldown_left"):
            _check("ReduceLROnPlateau", key, state[key], "a whole number of epochs, 0 or more",
                   lambda value: value >= 0, numbers.Integral)
        self.best, self.bad_epochs, self.cooldown_left = state["best"], state["bad_epochs"], state["cooldown_left"]

    def __repr__(self):
        return (f"ReduceLROnPlateau(monitor={self.monitor!r}, mode={self.mode!r}, "
                f"factor={self.factor}, patience={self.patience})")
