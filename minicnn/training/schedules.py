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
"""

class StepLR:
    """Multiply the learning rate by ``gamma`` after every ``step_size`` epochs.

    With base rate lr0, epoch e (0-based) trains with lr0 * gamma ** (e // step_size).
    """

    def __init__(self, step_size, gamma=0.1):
        if step_size < 1:
            raise ValueError(f"StepLR: step_size is a number of epochs and must be >= 1, got {step_size}")
        self.step_size, self.gamma = step_size, gamma

    def next_lr(self, epoch, logs, lr):
        return lr * self.gamma if (epoch + 1) % self.step_size == 0 else lr

    def state_dict(self):
        return {"step_size": self.step_size, "gamma": self.gamma}

    def load_state_dict(self, state):
        self.step_size, self.gamma = state["step_size"], state["gamma"]

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
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if not 0.0 < factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor}")
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
        return {key: getattr(self, key) for key in (
            "monitor", "mode", "factor", "patience", "threshold", "cooldown", "min_lr",
            "best", "bad_epochs", "cooldown_left")}

    def load_state_dict(self, state):
        for key, value in state.items():
            setattr(self, key, value)

    def __repr__(self):
        return (f"ReduceLROnPlateau(monitor={self.monitor!r}, mode={self.mode!r}, "
                f"factor={self.factor}, patience={self.patience})")
