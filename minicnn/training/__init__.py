"""Training, built on the engine: the loop, checkpoints, schedules, experiments.

    from minicnn.training import fit, evaluate

One idea per module:

    step.py         train_step(): forward, loss, backward, update: one batch
    loop.py         fit() and evaluate(): epochs, batches, the progress bar
    checkpoint.py   atomic, pickle-free checkpoints and exact resume
    files.py        writing any file atomically, with the usual permissions
    history.py      per-epoch metrics
    callbacks.py    hooks called by fit(): AtEpochs, EarlyStopping
    schedules.py    learning-rate schedules: StepLR, ReduceLROnPlateau
    experiment.py   one run from a RunConfig: data, model, fit, metrics.json
    plots.py        the figures of a run (curves, filters, confusion matrix)
"""

from .callbacks import AtEpochs, Callback, EarlyStopping
from .checkpoint import Checkpoint, CheckpointError, OutputError, load_checkpoint, load_model, save_checkpoint
from .history import History
from .loop import TrainingDiverged, confusion_matrix, evaluate, fit
from .schedules import ReduceLROnPlateau, StepLR
from .step import train_step

__all__ = [
    "train_step", "fit", "evaluate", "confusion_matrix", "TrainingDiverged", "Checkpoint", "CheckpointError",
    "OutputError", "load_checkpoint",
    "load_model", "save_checkpoint", "History", "Callback", "AtEpochs", "EarlyStopping",
    "StepLR", "ReduceLROnPlateau",
]
