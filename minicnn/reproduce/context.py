"""What every measurement shares: the output folder, the budget, the seeds, the trained runs.

    context.train(spec)             the run's done.json record (trained now or before)
    context.model(spec)             its trained network, eval mode
    context.split(classes, ...)     a run's images (runs.split)
    context.claim_folder(3)         DIR/claim3/, where claim 3's figures go
    context.bar(items, "occlusion") a tqdm progress bar over items, on stderr
"""

import dataclasses
import os
import sys
from pathlib import Path

from tqdm import tqdm

from . import runs


@dataclasses.dataclass
class Context:
    out: Path
    budget: object
    seeds: list
    progress: bool = True
    stop_counter: dict = None      # the test hook (runs.StopAfterEpochs); None in real use

    @property
    def runs_dir(self):
        return Path(self.out) / "runs"

    @property
    def data(self):
        return runs.data_settings(self.budget)

    def train(self, spec):
        return runs.train(spec, self.runs_dir, self.progress, self.stop_counter)

    def record(self, spec):
        """The done.json record of a finished run."""
        return runs.read_json(runs.folder_of(self.runs_dir, spec) / "done.json")

    def model(self, spec, epoch=None):
        return runs.load_trained(spec, self.runs_dir, epoch)

    def split(self, classes=runs.ALL_CLASSES, per_class=None, seed=0):
        return runs.split(self.data, classes, per_class, seed)

    def class_names(self, classes=runs.ALL_CLASSES):
        return runs.class_names(self.data, classes)

    def claim_folder(self, claim_id):
        folder = Path(self.out) / f"claim{claim_id}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def relative(self, path):
        """A path as claims.json and the page name it: relative to DIR, with forward slashes."""
        return Path(os.path.relpath(path, self.out)).as_posix()

    def run_folder(self, spec):
        return self.relative(runs.folder_of(self.runs_dir, spec))

    def bar(self, items, description, total=None):
        return tqdm(items, desc=description, total=total, unit="step", disable=not self.progress,
                    file=sys.stderr, dynamic_ncols=True, leave=False)
