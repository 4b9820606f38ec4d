"""Callbacks: code that ``fit`` runs at fixed points of training.

Subclass ``Callback`` and override the hooks you need:

    on_train_begin(state)                   before the first epoch
    on_epoch_begin(state, epoch)            epoch is 0-based
    on_batch_end(state, batch, logs)        logs: {"loss", "accuracy", "size"} of that batch
    on_epoch_end(state, epoch, logs)        logs: the epoch's History record; the
                                            checkpoint of this epoch is already written
    on_train_end(state)                     after the last epoch (not after an exception)

``state`` is the ``TrainingState`` of minicnn/training/loop.py: ``state.model``,
``state.optimizer``, ``state.history``, ``state.epoch``, the data
(``state.train_images``, ``state.val_images``, ...) and ``state.stop``, which a
callback sets to True to end training after the current epoch.
"""


class Callback:
    def on_train_begin(self, state):
        pass

    def on_epoch_begin(self, state, epoch):
        pass

    def on_batch_end(self, state, batch, logs):
        pass

    def on_epoch_end(self, state, epoch, logs):
        pass

    def on_train_end(self, state):
        pass


class AtEpochs(Callback):
    """Call ``function(state, epoch, logs)`` at the end of chosen epochs.

    epochs: 1-based epoch numbers, e.g. (1, 2, 5, 10) to snapshot features as
    they evolve (ZFNet figure 4); None means every epoch.

        snapshots = {}
        AtEpochs((1, 5), lambda state, epoch, logs: snapshots.update({epoch + 1: state.model.state_dict()}))
    """

    def __init__(self, epochs, function):
        self.epochs = None if epochs is None else {int(e) for e in epochs}
        self.function = function

    def on_epoch_end(self, state, epoch, logs):
        if self.epochs is None or epoch + 1 in self.epochs:
            self.function(state, epoch, logs)


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs in a row.

    mode: "min" for losses, "max" for accuracies.
    """

    def __init__(self, monitor="val_loss", mode="min", patience=3):
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}")
        self.monitor, self.mode, self.patience = monitor, mode, patience
        self.best, self.bad_epochs = None, 0

    def on_epoch_end(self, state, epoch, logs):
        value = logs.get(self.monitor)
        if value is None:
            raise KeyError(f"EarlyStopping monitors {self.monitor!r}, which the epoch's logs lack")
        better = self.best is None or (value < self.best if self.mode == "min" else value > self.best)
        if better:
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs >= self.patience:
                state.stop = True
