"""The top-9 of every map over the whole test set: one streaming pass, kept beside the checkpoint.

ZFNet's Fig. 2 shows, for one feature map, its nine strongest activations
over a data set (each image counted once, at its strongest unit of that
map). The explorer answers a click on any map of any layer with them, so it
finds them for every map of every layer at once:

    for each chunk of CHUNK test images (pixels prepared chunk by chunk):
        found = find_strongest(model, chunk, {layer: all maps})   minicnn.visualize's search
        best  = the k best of best + found                         same order as the search:
                                                                   value down, then lower image
                                                                   index, then earlier position

and then, a second pass, each image's most probable class (for browsing
the misclassified images): minicnn.training.evaluate, chunk by chunk. The
top-9 come first, so that the page can show them as soon as possible.

Memory stays bounded: one chunk's activations plus k units per map, never
the activations of the whole set. Only the units (image index, row,
column, value) are kept; their deconvnet projections are computed when a
map is clicked (nine images down the deconvnet: milliseconds).

The result is written beside the checkpoint after each pass,

    <checkpoint stem>.top9-<dataset>-<12 hex digits of the test set's SHA-256>.npz

atomically and without pickle (``minicnn.training.checkpoint.atomic_write``,
``numpy.load(allow_pickle=False)``), with a fingerprint: the checkpoint's
SHA-256, the test set's, the standardisation, k and the layers. A file
whose fingerprint differs (the checkpoint was trained further, say) is
rebuilt; one that matches is reused, so the pass runs once per checkpoint.

A file that matches is still input from disk: before it is used, every
array is checked against what this pass would have written (npzfile.py
reads each header before its data): one (maps, k) array per part and
layer, of the right kind, the image indices inside the test set, the
positions inside the layer's maps, the values finite, one prediction per
test image, each a class of the data set. A file that fails counts as
absent: one line on stderr names it and what was wrong, and the pass
runs again (and writes a good file over it).

The background passes share the model with the page's clicks by
``computing`` (the Explorer's background lock, minicnn/explore/priority.py),
held one chunk of CHUNK images at a time: a click waits for at most the
chunk being computed (a smaller chunk would make that wait shorter and
the pass longer: its per-map bookkeeping is paid once per chunk). A pass
that fails says so in ``status()`` (``error``), which the page shows.
"""

import contextlib
import hashlib
import json
import math
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy
from tqdm import tqdm

from ..training import evaluate
from ..training.checkpoint import atomic_write
# find_strongest is the first half of minicnn.visualize's top_k (the search, before any
# projection); the package level exports only the whole of top_k, which projects too.
from ..visualize.topk import find_strongest
from .npzfile import BadFile, NpzReader

FORMAT, VERSION = "minicnn-explore-top9", 1
CHUNK = 250            # test images per step of the pass (and per hold of the compute lock)
PARTS = (("values", "f"), ("indices", "iu"), ("rows", "iu"), ("cols", "iu"))


@dataclass
class Strongest:
    """The k strongest units of every map of one layer, strongest first.

    values:  (C, k) float32 activations
    indices: (C, k) int64 test-image indices
    rows, cols: (C, k) int64 position of each unit in its map (0, 0 for a dense layer)
    """

    values: numpy.ndarray
    indices: numpy.ndarray
    rows: numpy.ndarray
    cols: numpy.ndarray


def merge(best, found, offset, k):
    """The k best of ``best`` (a Strongest or None) and one chunk's ``found``.

    found: {channel: (values, indices, rows, cols)} as find_strongest returns
    it for one layer, image indices counted from the chunk's start ``offset``.
    Order: value descending, then image index, then row, then column.
    """
    channels = sorted(found)
    new = [numpy.stack([numpy.asarray(found[c][part]) for c in channels]) for part in range(4)]
    new[1] = new[1] + offset
    if best is not None:
        new = [numpy.concatenate([old, fresh], axis=1)
               for old, fresh in zip((best.values, best.indices, best.rows, best.cols), new)]
    values, indices, rows, cols = new
    order = numpy.lexsort((cols, rows, indices, -values.astype(numpy.float64)), axis=-1)[:, :k]
    pick = [numpy.take_along_axis(part, order, axis=1) for part in (values, indices, rows, cols)]
    return Strongest(pick[0].astype(numpy.float32), *(part.astype(numpy.int64) for part in pick[1:]))


def search(model, pixels, prepare, layers, k=9, chunk=CHUNK, computing=contextlib.nullcontext, on_progress=None):
    """The streaming top-k pass: {layer: Strongest}.

    pixels: (N, H, W) or (N, C, H, W) uint8 test images; prepare: pixels ->
    the model's float input; layers: {layer index: number of maps};
    computing: a context manager factory held while the model computes
    (one chunk at a time; the Explorer's lock); on_progress(done): called
    after each chunk.
    """
    count = len(pixels)
    k = min(k, count)
    wanted = {layer: range(maps) for layer, maps in layers.items()}
    best = {}
    for start in range(0, count, chunk):
        stop = min(start + chunk, count)
        x = prepare(pixels[start:stop])
        with computing():
            found = find_strongest(model, x, wanted, k=min(k, stop - start), batch_size=stop - start)
        for layer in layers:
            best[layer] = merge(best.get(layer), found[layer], start, k)
        if on_progress is not None:
            on_progress(stop)
    return best


def predict(model, pixels, labels, prepare, chunk=CHUNK, computing=contextlib.nullcontext, on_progress=None):
    """The most probable class of every test image, (N,) int64, by minicnn.training.evaluate."""
    predictions = numpy.zeros(len(pixels), dtype=numpy.int64)
    for start in range(0, len(pixels), chunk):
        stop = min(start + chunk, len(pixels))
        x = prepare(pixels[start:stop])
        with computing():
            predictions[start:stop] = evaluate(model, x, labels[start:stop], batch_size=stop - start).predictions
        if on_progress is not None:
            on_progress(stop)
    return predictions


# ----- the file beside the checkpoint ---------------------------------------------------------
def file_digest(path):
    """SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_digest(pixels, labels):
    """SHA-256 of the test images and labels, hex."""
    digest = hashlib.sha256()
    digest.update(numpy.ascontiguousarray(pixels).tobytes())
    digest.update(numpy.ascontiguousarray(labels, dtype=numpy.int64).tobytes())
    return digest.hexdigest()


def cache_path(checkpoint_path, dataset, test_digest):
    """Where the cache of ``checkpoint_path`` on ``dataset`` lives (see the module docstring)."""
    checkpoint_path = Path(checkpoint_path)
    return checkpoint_path.with_name(f"{checkpoint_path.stem}.top9-{dataset}-{test_digest[:12]}.npz")


def save(path, fingerprint, best, predictions, seconds):
    """Write the cache atomically: numeric arrays and a JSON document, nothing pickled.

    predictions: (N,) int64, or None before the second pass; seconds: {"top9": s, "predictions": s}.
    """
    metadata = {"format": FORMAT, "version": VERSION, "fingerprint": fingerprint,
                "layers": sorted(best), "seconds": seconds}
    arrays = {"metadata.json": numpy.frombuffer(json.dumps(metadata).encode("utf-8"), dtype=numpy.uint8)}
    if predictions is not None:
        arrays["predictions"] = predictions
    for layer, strongest in best.items():
        for part in ("values", "indices", "rows", "cols"):
            arrays[f"layer/{layer}/{part}"] = getattr(strongest, part)
    return atomic_write(path, lambda file: numpy.savez(file, **arrays))


def load(path, fingerprint, shapes, total, classes, k=9):
    """(best, predictions or None, seconds) from a cache whose fingerprint matches; None if absent or outdated.

    shapes: {layer: (maps, h, w)} of the layers searched; total: test
    images; classes: how many. Raises BadFile (npzfile.py), naming the
    file and the fault, for a file that is not a cache this pass could
    have written (see the module docstring); the caller treats it as absent.
    """
    path = Path(path)
    if not path.is_file():
        return None
    kept = min(k, total)
    expected = sum(maps * kept * 28 for maps, _, _ in shapes.values()) + 8 * total + (1 << 20)
    with NpzReader(path, max_bytes=expected) as npz:
        metadata = npz.json("metadata.json")
        if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
            npz.fail(f"is not a minicnn explore top-9 cache (format {str(metadata.get('format'))[:40]!r})"
                     if isinstance(metadata, dict) else "its metadata is not a JSON object")
        if metadata.get("version") != VERSION or metadata.get("fingerprint") != fingerprint:
            return None                                      # another version, checkpoint or test set
        if metadata.get("layers") != sorted(shapes):
            npz.fail(f"lists the layers {str(metadata.get('layers'))[:80]}, but its fingerprint says "
                     f"{sorted(shapes)}")
        best = {}
        for layer, (maps, height, width) in shapes.items():
            parts = {part: npz.read(f"layer/{layer}/{part}", (maps, kept), kinds) for part, kinds in PARTS}
            where = f"layer {layer}'s"
            if not numpy.isfinite(parts["values"]).all():
                npz.fail(f"{where} values are not all finite numbers")
            for part, high, what in (("indices", total, "test images"), ("rows", height, "rows"),
                                     ("cols", width, "columns")):
                if parts[part].size and not (0 <= parts[part].min() and parts[part].max() < high):
                    npz.fail(f"{where} {part} run {parts[part].min()}..{parts[part].max()}, outside the "
                             f"{high} {what} (0..{high - 1})")
            best[layer] = Strongest(parts["values"].astype(numpy.float32),
                                    *(parts[part].astype(numpy.int64) for part in ("indices", "rows", "cols")))
        predictions = None
        if "predictions" in npz.names:
            predictions = npz.read("predictions", (total,), "iu").astype(numpy.int64)
            if total and not (0 <= predictions.min() and predictions.max() < classes):
                npz.fail(f"its predictions run {predictions.min()}..{predictions.max()}, outside the "
                         f"{classes} classes (0..{classes - 1})")
    seconds = metadata.get("seconds") if isinstance(metadata.get("seconds"), dict) else {}
    seconds = {key: float(value) for key, value in seconds.items() if key in ("top9", "predictions")
               and isinstance(value, (int, float)) and math.isfinite(value)}
    return best, predictions, seconds


class TopNine:
    """The top-9 units of every map, and every image's prediction: from the file, or two background passes.

    shapes: {layer: (maps, h, w)} of the layers searched (a dense layer's
    units as maps of 1x1); classes: how many the data set has.
    computing: the Explorer's context manager around every use of the model.
    state: "building", "ready" or "failed" (the top-9); done/total: images
    searched so far, predicted: images predicted so far (the page's progress
    bar; tqdm draws the same in the terminal). best: {layer: Strongest} once
    ready; predictions: (N,) once the second pass is done, else None.
    error: what went wrong, once either pass has failed, else None.
    path: the cache file, or None to keep everything in memory only.
    """

    def __init__(self, model, pixels, labels, prepare, shapes, fingerprint, path, computing, k=9, progress=True,
                 dataset="", classes=10):
        self.model, self.pixels, self.labels, self.prepare = model, pixels, labels, prepare
        self.shapes, self.path, self.fingerprint, self.classes = shapes, path, fingerprint, classes
        self.layers = {layer: shape[0] for layer, shape in shapes.items()}
        self.computing, self.k, self.progress, self.dataset = computing, k, progress, dataset
        self.state, self.done, self.predicted, self.total = "building", 0, 0, len(pixels)
        self.best, self.predictions, self.seconds, self.message, self.error = None, None, {}, "", None
        self.thread = None

    def start(self):
        """Load the cache; start in a daemon thread whatever pass it lacks; returns self.

        A cache file that is not usable (load's BadFile) counts as absent: one
        line on stderr says which file and why, and the passes run again.
        """
        loaded = None
        if self.path is not None:
            try:
                loaded = load(self.path, self.fingerprint, self.shapes, self.total, self.classes, self.k)
            except BadFile as error:
                print(f"minicnn explore: ignoring {error}; searching the test set again", file=sys.stderr, flush=True)
        if loaded is not None:
            self.best, self.predictions, self.seconds = loaded
            self.state, self.done = "ready", self.total
            self.message = f"read from {self.path.name}"
            if self.predictions is not None:
                self.predicted = self.total
                return self
        self.thread = threading.Thread(target=self.build, name="minicnn-explore-top9", daemon=True)
        self.thread.start()
        return self

    def _bar(self, what, counter):
        """A tqdm bar in the terminal, and the function that advances it and ``self.<counter>``."""
        bar = tqdm(total=self.total, desc=f"{what} over {self.total} {self.dataset} test images", unit="img",
                   disable=not self.progress, dynamic_ncols=True)

        def advance(done):
            bar.update(done - getattr(self, counter))
            setattr(self, counter, done)
        return bar, advance

    def _save(self):
        if self.path is None:
            return
        try:
            save(self.path, self.fingerprint, self.best, self.predictions, self.seconds)
            self.message += f", saved to {self.path.name}"
        except OSError as error:
            self.message += f"; not saved ({error}), kept in memory"

    def build(self):
        """The top-9 pass, then the predictions, each followed by the file; a failure goes to ``message``."""
        try:
            if self.best is None:
                started = time.perf_counter()
                bar, advance = self._bar("top-9 of every map", "done")
                with bar:
                    self.best = search(self.model, self.pixels, self.prepare, self.layers, self.k,
                                       computing=self.computing, on_progress=advance)
                self.seconds["top9"] = time.perf_counter() - started
                self.message = f"top-9 found in {self.seconds['top9']:.1f} s"
                self._save()
                self.state = "ready"
            started = time.perf_counter()
            bar, advance = self._bar("predictions", "predicted")
            with bar:
                predictions = predict(self.model, self.pixels, self.labels, self.prepare,
                                      computing=self.computing, on_progress=advance)
            self.seconds["predictions"] = time.perf_counter() - started
            self.predictions = predictions
            self.message = f"{self.message.split(', saved')[0]}; predictions in {self.seconds['predictions']:.1f} s"
            self._save()
        except Exception as error:  # shown on the page (status's error); the server keeps answering
            which = "predictions pass" if self.state == "ready" else "top-9 pass"
            self.error = f"the {which} failed: {type(error).__name__}: {error}"
            self.message = self.error
            if self.state != "ready":
                self.state = "failed"
            traceback.print_exc()           # the details stay in the terminal, as for any bug

    def status(self):
        """The page's view: state of the top-9 ("building", "ready", "failed"), of the predictions
        ("waiting", "building", "ready", "failed"), progress, seconds, a message, and the error if any."""
        if self.predictions is not None:
            predictions = "ready"
        elif self.error is not None:
            predictions = "failed"
        else:
            predictions = "building" if self.state == "ready" else "waiting"
        return {"state": self.state, "predictions": predictions, "done": self.done, "predicted": self.predicted,
                "total": self.total, "seconds": self.seconds, "message": self.message, "error": self.error}
