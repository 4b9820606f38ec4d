"""History: what happened in each epoch of training, as plain numbers.

One record (a dict) per epoch, with these keys (None where not measured,
e.g. val_loss without validation data):

    epoch              1-based epoch number
    train_loss         mean cross-entropy over the epoch's batches (dropout on)
    train_accuracy     fraction of the epoch's training images classified right
    val_loss           cross-entropy on the validation data after the epoch
    val_accuracy       accuracy on the validation data after the epoch
    lr                 the learning rate the epoch trained with
    seconds            wall time of the epoch, validation included
    images_per_second  training images per second (the training pass only)

``history["val_loss"]`` is one column, a list over epochs (Keras's
``history.history[key]``); ``to_dict``/``from_dict`` give JSON-ready data.
"""

KEYS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
        "lr", "seconds", "images_per_second")


class History:
    def __init__(self, records=()):
        self.records = [dict(record) for record in records]

    def append(self, logs):
        """Add one epoch's record; ``logs`` must have every key in KEYS."""
        missing = [key for key in KEYS if key not in logs]
        if missing:
            raise KeyError(f"History.append: the epoch's logs lack {missing}")
        self.records.append({key: logs[key] for key in KEYS})

    def __getitem__(self, key):
        if key not in KEYS:
            raise KeyError(f"History has no column {key!r}; choose one of {', '.join(KEYS)}")
        return [record[key] for record in self.records]

    def __len__(self):
        return len(self.records)

    @property
    def last(self):
        """The latest epoch's record, or None before the first epoch."""
        return self.records[-1] if self.records else None

    def to_dict(self):
        return {"epochs": [dict(record) for record in self.records]}

    @classmethod
    def from_dict(cls, data):
        return cls(data["epochs"])

    def __repr__(self):
        return f"History({len(self)} epochs)"
