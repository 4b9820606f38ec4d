"""What the explorer computes, without any HTTP: one Explorer per checkpoint.

    explorer = Explorer("runs/zfnet/checkpoint.npz")         # model, test set, top-9 pass started
    explorer.predict("test:7")                                 # class probabilities
    explorer.layers("test:7")                                  # every layer's maps, as grids
    explorer.unit("test:7", layer=4, channel=12)               # map, projection, top-9

An image is named by a reference: ``test:<index>`` for a test image,
``upload:<id>`` for a picture sent with ``upload`` (kept in memory, the
last UPLOADS of them). Every method checks its arguments and raises
RequestError with a sentence the page can show; each returns plain data
(numbers, lists, strings, PNG data URLs) ready for JSON.

The science is minicnn.visualize's: ``feature_maps`` (every map of a layer),
``Deconvnet.project_units`` (ZFNet 2.1: one unit back to pixels, with the
switches of the image's own forward pass), ``receptive_boxes`` (the patch
a unit sees), ``occlusion`` (Fig. 7) and the top-k search in topcache.py
(Fig. 2). One lock serialises everything that runs the model: the
server answers requests in threads, and a forward pass is not meant to
be shared between threads. It serves clicks first (minicnn/explore/priority.py):
what the page waits for (``predict``, ``layers``, ``unit``, ``top9``) takes
it as interactive; the top-9 pass and occlusion jobs take it in the
background, on their own copy of the model, and let a waiting click go
between their batches. So a click waits for at most one batch of them.

Limits, each against one way of making the explorer slow or large for
everyone (the server adds its own, minicnn/explore/server.py):

- DECODES_AT_ONCE uploads are decoded at a time (each at most
  pictures.decode_limit pixels a side); another waits up to DECODE_WAIT
  seconds, then is refused with 503 and Retry-After: decoding is CPU work
  and memory, and the machine has few cores. The decoding itself runs on
  DECODES_AT_ONCE threads of the Explorer's own, not in each request's
  thread: the C library keeps memory a thread freed for that thread's
  next use, so a dozen request threads that each decoded a picture once
  would keep a dozen pictures' worth of memory, two threads keep two
  (tests/test_hostile_explore.py measures the server's memory);
- MAX_OCCLUSION_POSITIONS squares per occlusion request;
- UPLOADS pictures and TOP9_KEPT maps' top-9 pictures kept in memory.

Files beside the checkpoint are input too: the top-9 cache
(topcache.load) and snapshots.npz (snapshots.check_snapshots) are checked
array by array before use; a bad one counts as absent, and one line on
stderr names the file and what was wrong with it.

The model must fit the data: ``Explorer`` refuses (ModelDoesNotFit, a
CheckpointError, which ``minicnn explore`` prints as one line, exit
status 2) a checkpoint whose input shape or number of classes differs
from the test set's, naming both, instead of failing later in the
background pass.

Threads. A click runs one to ten images through the model: too little
work to share between cores, and on a busy machine a parallel loop waits
for its slowest thread. So the model runs with ``threads`` threads
(default 1): minicnn's pool (minicnn/engine/threads.py, a setting for the
whole process, put back when the computation ends) and Numba's in
whichever thread computes (Numba's setting is per thread). NumPy's BLAS
threads are set for the whole process by whoever owns it (``minicnn
explore --threads``). benchmarks/results/explore-latency.md has
the clicks and the top-9 pass timed with 1 and 2 threads.

Layers: every layer of the model is shown except Flatten and Dropout,
which in evaluation mode hand on the previous layer's values unchanged.
A dense layer's units are shown as maps of 1x1.
"""

import concurrent.futures
import contextlib
import hashlib
import math
import re
import sys
import threading
from collections import OrderedDict

import numpy

from ..data import load_dataset, mean_std, normalize, to_float
from ..engine import backend
from ..engine import threads as minicnn_threads
from ..engine import functional as F
from ..engine.backend import default_device, to_device, to_numpy
from ..engine.nn import Conv2d, Dropout, Flatten
from ..training import Checkpoint, CheckpointError, load_checkpoint, load_model
from ..visualize import Deconvnet, feature_maps, occlusion, occlusion_starts, receptive_boxes
from . import pictures, topcache
from .priority import ModelLock, Pausing
from .snapshots import FILENAME as SNAPSHOTS, check_snapshots, load_snapshots

UPLOADS = 64                    # uploaded pictures kept in memory
MAX_OCCLUSION_POSITIONS = 4096  # squares per occlusion request
TOP9_KEPT = 256                 # maps whose top-9 pictures are kept in memory
DECODES_AT_ONCE = 2             # uploads decoded at the same time (see the module docstring)
DECODE_WAIT = 5.0               # seconds an upload waits for its turn to be decoded, then 503
HISTORY_EPOCHS = 10_000         # training-history records sent to the page at most
MAX_SNAPSHOT_BYTES = 256 << 20  # array data read from snapshots.npz at most (a 28x28 model's run: a few MB)


class RequestError(ValueError):
    """A request the explorer cannot answer as asked; the message says what to change.

    status: the HTTP status the server answers with (400, or 404 for a
    thing that does not exist, 429 or 503 for "busy, try again");
    retry_after: seconds, sent as Retry-After with a 429 or 503.
    """

    def __init__(self, message, status=400, retry_after=None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class ModelDoesNotFit(CheckpointError):
    """The checkpoint's model cannot run on the data set: input shapes or numbers of classes differ."""


class Explorer:
    """A trained model, its test set and everything the page asks of them.

    checkpoint: a path or Checkpoint written by ``minicnn train``;
    dataset: the test set (default: the one the checkpoint was trained on);
    data_path: a directory of IDX files (default: where ``load_dataset`` looks);
    progress: a tqdm bar in the terminal for the top-9 pass;
    cache: read and write the top-9 file beside the checkpoint (else: memory only);
    threads: minicnn's and Numba's threads while the model computes (None: leave both alone).
    """

    def __init__(self, checkpoint, dataset=None, data_path=None, progress=True, cache=True, threads=1):
        if not isinstance(checkpoint, Checkpoint):
            checkpoint = load_checkpoint(checkpoint)
        self.checkpoint = checkpoint
        self.model = load_model(checkpoint)
        self.name = (checkpoint.metadata.get("model") or {}).get("name", "model")
        self.dataset = dataset or checkpoint.extra.get("dataset")
        if self.dataset is None:
            raise CheckpointError(f"{checkpoint.path} does not say which dataset it was trained on; give the dataset")
        test = load_dataset(self.dataset, "test", path=data_path, verbose=False)
        self.pixels, self.labels = test.images, numpy.asarray(test.labels, dtype=numpy.int64)
        self.classes, self.source = list(test.classes), test.source
        saved = checkpoint.extra.get("normalize")        # the training images' statistics, as in training
        self.mean, self.std = (saved["mean"], saved["std"]) if saved else mean_std(
            load_dataset(self.dataset, "train", path=data_path, verbose=False).images)
        self.input_shape = tuple(getattr(self.model, "input_shape", (1,) + self.pixels.shape[1:]))
        self._check_fit()
        self.table = layer_table(self.model, self.input_shape)
        self.shown = [row["index"] for row in self.table if row["shown"]]
        self.model_lock, self.threads = ModelLock(), threads
        self.lock = threading.Lock()             # the dictionaries below (never held while computing)
        self.decodes = threading.BoundedSemaphore(DECODES_AT_ONCE)     # admission: at most this many decode ...
        self.decoder = concurrent.futures.ThreadPoolExecutor(DECODES_AT_ONCE, "minicnn-explore-decode")   # ... here
        self.uploads = OrderedDict()
        self.top9_items = OrderedDict()          # (layer, channel) -> top9()'s items, the last TOP9_KEPT
        shapes = {row["index"]: tuple(row["shape"]) if len(row["shape"]) == 3 else (row["maps"], 1, 1)
                  for row in self.table if row["shown"]}
        fingerprint = {"checkpoint": topcache.file_digest(checkpoint.path),
                       "test": topcache.data_digest(self.pixels, self.labels),
                       "mean": self.mean, "std": self.std, "k": 9, "layers": sorted(shapes)}
        path = topcache.cache_path(checkpoint.path, self.dataset, fingerprint["test"])
        # background work (the top-9 pass, occlusion) runs on its own copy of the model, which lets
        # waiting clicks go first between its batches (priority.py); nothing of it is shared with clicks
        self.background_model = Pausing(load_model(checkpoint), self.model_lock.pause).eval()
        self.top9_pass = topcache.TopNine(self.background_model, self.pixels, self.labels, self.prepare, shapes,
                                          fingerprint, path if cache else None, self.background,
                                          progress=progress, dataset=self.dataset, classes=len(self.classes))

    def start(self):
        """Start (or load) the top-9 pass; returns self."""
        self.top9_pass.start()
        return self

    @contextlib.contextmanager
    def computing(self, interactive=True):
        """Hold the model's lock (a click: ``interactive``; else background work, see priority.py).

        Inside, minicnn and this thread's Numba loops use ``self.threads``
        threads. A click that runs while background work pauses sets and
        puts back the same numbers, so the two never disturb each other.
        """
        with (self.model_lock.interactive() if interactive else self.model_lock.background()):
            if self.threads is None:
                yield
                return
            if backend.numba is not None:
                backend.numba.set_num_threads(min(self.threads, backend.numba.config.NUMBA_NUM_THREADS))
            previous = minicnn_threads.set_num_threads(self.threads)
            try:
                yield
            finally:
                minicnn_threads.set_num_threads(previous)

    def background(self):
        """``computing`` for background work: the top-9 pass and occlusion jobs, after every waiting click."""
        return self.computing(interactive=False)

    # ----- images -----------------------------------------------------------------------
    def _check_fit(self):
        """Refuse, naming both, a model whose input shape or number of classes is not the data set's.

        Found here, at the start, rather than by the background pass, which
        would fail on its first chunk (or, for the classes, only in its
        second half, the predictions).
        """
        channels, height, width = self.input_shape
        image = self.pixels.shape[1:]
        problems = []
        if tuple(image[-2:]) != (height, width) or (len(image) == 3 and image[0] != channels):
            problems.append(f"it takes images of {channels}x{height}x{width} (C, H, W), but the {self.dataset} "
                            f"test images are {'x'.join(map(str, image))}")
        else:
            outputs = self.model.output_shape(self.input_shape)
            if len(outputs) != 1 or outputs[0] != len(self.classes):
                problems.append(f"it outputs {'x'.join(map(str, outputs))} class scores, but {self.dataset} has "
                                f"{len(self.classes)} classes")
            elif len(self.labels) and not 0 <= int(self.labels.min()) <= int(self.labels.max()) < len(self.classes):
                problems.append(f"the {self.dataset} test labels run {int(self.labels.min())}.."
                                f"{int(self.labels.max())}, outside its {len(self.classes)} classes")
        if problems:
            saved = self.checkpoint.extra.get("dataset")
            named = f" (the checkpoint names {saved})" if saved and saved != self.dataset else ""
            raise ModelDoesNotFit(f"{self.checkpoint.path}: {self.name} does not fit the {self.dataset} test set: "
                                  f"{'; '.join(problems)}; give --dataset the data set it was trained on{named}")

    def prepare(self, pixels):
        """uint8 pixels (N, H, W) or (N, C, H, W) -> the model's float input, standardised, on its device."""
        x = normalize(to_float(pixels), self.mean, self.std)
        return to_device(x, default_device())

    def parse_image(self, reference):
        """``test:<i>`` or ``upload:<id>`` -> (pixels (H, W) uint8, true label or None)."""
        if not isinstance(reference, str):
            raise RequestError("image: give test:<index> or upload:<id>")
        match = re.fullmatch(r"test:(\d{1,9})", reference)
        if match:
            index = int(match.group(1))
            if index >= len(self.labels):
                raise RequestError(f"image: there is no test image {index}; the {self.dataset} test set has "
                                   f"images 0..{len(self.labels) - 1}", status=404)
            return self.pixels[index], int(self.labels[index])
        match = re.fullmatch(r"upload:([0-9a-f]{16})", reference)
        if match:
            with self.lock:
                pixels = self.uploads.get(match.group(1))
            if pixels is None:
                raise RequestError(f"image: no uploaded picture {match.group(1)} (the server keeps the last "
                                   f"{UPLOADS}; upload or draw it again)", status=404)
            return pixels, None
        raise RequestError(f"image: {reference[:40]!r} is not test:<index> or upload:<16 hex digits>")

    def upload(self, data, invert=False):
        """Decode a PNG/JPEG upload into the model's input size; returns its reference and a note.

        At most DECODES_AT_ONCE decode at a time; another waits DECODE_WAIT
        seconds for its turn, then is refused (503, try again).
        """
        channels, height, width = self.input_shape
        if not self.decodes.acquire(timeout=DECODE_WAIT):
            raise RequestError(f"upload: {DECODES_AT_ONCE} pictures are being decoded already (at most "
                               f"{DECODES_AT_ONCE} at once) and none finished within {DECODE_WAIT:g} s; "
                               "try again in a moment", status=503, retry_after=1)
        try:
            pixels, note = self.decoder.submit(pictures.decode_upload, data, (height, width), channels,
                                               invert).result()
        except pictures.UploadError as error:
            raise RequestError(f"upload: {error}") from error
        finally:
            self.decodes.release()
        if pixels.ndim == 3:
            pixels = pixels.transpose(2, 0, 1)                     # (H, W, 3) -> (3, H, W)
        key = hashlib.sha256(pixels.tobytes()).hexdigest()[:16]
        with self.lock:
            self.uploads[key] = pixels
            self.uploads.move_to_end(key)
            while len(self.uploads) > UPLOADS:
                self.uploads.popitem(last=False)
        return {"image": f"upload:{key}", "note": note, "picture": pictures.data_url(picture_pixels(pixels))}

    def images(self, which="all", label=None, offset=0, limit=48):
        """A page of test images: all of them or the misclassified ones, optionally of one class."""
        if label is not None and not 0 <= label < len(self.classes):
            raise RequestError(f"label: {label} is not a class; the classes are 0..{len(self.classes) - 1}")
        chosen = numpy.ones(len(self.labels), dtype=bool)
        if label is not None:
            chosen &= self.labels == label
        predictions = self.top9_pass.predictions
        if which == "misclassified":
            if predictions is None:
                status = self.top9_pass.status()
                if status["error"]:
                    return {"ready": False, "failed": True, "total": 0, "items": [],
                            "message": f"no predictions: {status['error']}"}
                return {"ready": False, "failed": False, "total": 0, "items": [],
                        "message": f"the predictions come after the top-9 pass; not finished yet "
                                   f"({status['predicted']} of {status['total']} images)"}
            chosen &= predictions != self.labels
        indices = numpy.flatnonzero(chosen)
        items = []
        for index in indices[offset:offset + limit]:
            items.append({"image": f"test:{int(index)}", "index": int(index), "label": int(self.labels[index]),
                          "predicted": None if predictions is None else int(predictions[index]),
                          "picture": pictures.data_url(picture_pixels(self.pixels[index]))})
        return {"ready": True, "total": int(len(indices)), "offset": offset, "items": items}

    # ----- the model on one image -----------------------------------------------------------
    def predict(self, reference):
        """Class probabilities of one image, with the image itself."""
        pixels, label = self.parse_image(reference)
        with self.computing():
            logits = feature_maps(self.model, self.prepare(pixels[None]), [len(self.model) - 1])
        logits = logits[len(self.model) - 1].reshape(1, -1)
        probabilities = to_numpy(F.softmax(logits).data)[0]
        return {"image": reference, "label": label, "predicted": int(probabilities.argmax()),
                "probabilities": [round(float(p), 6) for p in probabilities],
                "picture": pictures.data_url(picture_pixels(pixels))}

    def layers(self, reference):
        """Every shown layer's maps for one image, each layer as one grid picture.

        Maps of a layer share one brightness scale, so a weak map looks weak:
        0 .. max for layers without negative values, grey = 0 otherwise.
        Map k sits at row k // columns, column k % columns (pictures.grid).
        """
        pixels, _ = self.parse_image(reference)
        with self.computing():
            maps = feature_maps(self.model, self.prepare(pixels[None]), self.shown)
        result = []
        for row in self.table:
            if not row["shown"]:
                continue
            values = maps[row["index"]]                                   # (C, h, w)
            low, high = float(values.min()), float(values.max())
            shown = pictures.ranged(values, 0.0, high) if low >= 0 else pictures.signed(values)
            columns = pictures.grid_columns(len(values))
            result.append({**row, "columns": columns, "cell": list(values.shape[1:]), "gap": 1,
                           "range": [low, high], "scale": "0 .. max" if low >= 0 else "grey = 0",
                           "grid": pictures.data_url(pictures.grid(shown, columns))})
        return {"image": reference, "layers": result}

    def _layer_row(self, layer):
        rows = {row["index"]: row for row in self.table}
        if layer not in rows or not rows[layer]["shown"]:
            raise RequestError(f"layer: {layer} is not a layer the explorer shows; choose one of "
                               f"{', '.join(map(str, self.shown))}", status=404)
        return rows[layer]

    def _check_map(self, layer, channel):
        """The layer's row of the table, after checking that map ``channel`` exists."""
        info = self._layer_row(layer)
        if not 0 <= channel < info["maps"]:
            raise RequestError(f"channel: layer {layer} has {info['maps']} maps (0..{info['maps'] - 1}), "
                               f"no map {channel}", status=404)
        return info

    def unit(self, reference, layer, channel, row=None, col=None):
        """One map of one layer for one image: its values, and one unit's deconvnet projection.

        The unit is (row, col) of the map, or its strongest activation when
        not given (ZFNet's choice). The projection runs the image up to the
        layer, keeps that one activation, sets every other activation of the
        layer to zero and sends the layer down the deconvnet, unpooling with
        the switches of this image's own forward pass (ZFNet 2.1).
        """
        pixels, label = self.parse_image(reference)
        info = self._check_map(layer, channel)
        height, width = info["shape"][1:] if len(info["shape"]) == 3 else (1, 1)
        if (row is None) != (col is None):
            raise RequestError("row and col: give both (a unit of the map) or neither (its strongest unit)")
        if row is not None and not (0 <= row < height and 0 <= col < width):
            raise RequestError(f"row, col: ({row}, {col}) is outside the {height}x{width} maps of layer {layer}")
        with self.computing():
            x = self.prepare(pixels[None])
            values = feature_maps(self.model, x, [layer])[layer][channel]         # (h, w)
            if row is None:
                row, col = (int(v) for v in numpy.unravel_index(int(numpy.argmax(values)), values.shape))
            projection = Deconvnet(self.model).project(x, layer, channel, (row, col))
        box = receptive_boxes(self.model, layer, [(row, col)], self.input_shape[1:])[0]
        value = float(values[row, col])
        return {"image": reference, "layer": layer, "channel": channel, "label": label,
                "map": numpy.round(values.astype(numpy.float64), 5).tolist(),
                "range": [float(values.min()), float(values.max())],
                "row": row, "col": col, "value": value, "box": box.tolist(),
                "projection": pictures.data_url(pictures.signed(picture_of(to_numpy(projection)[0]))),
                "note": "" if value > 0 else "this unit is not active (value <= 0) for this image; "
                                             "its projection is blank"}

    def top9(self, layer, channel):
        """A map's nine strongest activations over the test set, projected, beside their patches.

        Each unit is projected with its own image's switches; projections and
        patches are cut to the unit's receptive field (ZFNet Fig. 2). Until
        the top-9 pass has finished, only its progress is returned.
        """
        self._check_map(layer, channel)
        result = {"layer": layer, "channel": channel, **self.top9_pass.status()}
        if self.top9_pass.state != "ready":
            return result
        key = (layer, channel)
        with self.lock:
            items = self.top9_items.get(key)
        if items is None:
            top = self.top9_pass.best[layer]
            chosen = top.indices[channel]
            positions = numpy.stack([top.rows[channel], top.cols[channel]], axis=1)
            with self.computing():
                projections, _, _ = Deconvnet(self.model).project_units(
                    self.prepare(self.pixels[chosen]), layer, channel, positions)
                boxes = receptive_boxes(self.model, layer, positions, self.input_shape[1:])
            items = self._top_items(top, channel, to_numpy(projections), boxes)
            with self.lock:
                self.top9_items[key] = items
                while len(self.top9_items) > TOP9_KEPT:
                    self.top9_items.popitem(last=False)
        return {**result, "items": items}

    def _top_items(self, top, channel, projections, boxes):
        """The top-9 of one map: projections and patches cut to the units' boxes, on equal canvases."""
        size = (int((boxes[:, 1] - boxes[:, 0]).max()), int((boxes[:, 3] - boxes[:, 2]).max()))
        height, width = self.input_shape[1:]
        items = []
        for k, box in enumerate(boxes):
            index = int(top.indices[channel, k])
            r0, r1, c0, c1 = (int(v) for v in box)
            cut = pictures.signed(picture_of(projections[k][:, r0:r1, c0:c1]))
            patch = picture_pixels(self.pixels[index])[r0:r1, c0:c1] / 255.0
            items.append({"image": f"test:{index}", "index": index, "label": int(self.labels[index]),
                          "value": float(top.values[channel, k]), "row": int(top.rows[channel, k]),
                          "col": int(top.cols[channel, k]), "box": [r0, r1, c0, c1],
                          "projection": pictures.data_url(place(cut, size, box, height, width, 0.5)),
                          "patch": pictures.data_url(place(patch, size, box, height, width, 0.0))})
        return items

    # ----- occlusion -------------------------------------------------------------------------
    def check_occlusion(self, reference, window, stride, layer=None):
        """Refuse settings ``occlusion`` cannot use; returns the number of square positions."""
        self.parse_image(reference)
        height, width = self.input_shape[1:]
        side = min(height, width)
        if not 1 <= window <= side:
            raise RequestError(f"window: the square's side must be 1..{side} pixels, got {window}")
        if not 1 <= stride <= side:
            raise RequestError(f"stride: the square's step must be 1..{side} pixels, got {stride}")
        positions = len(occlusion_starts(height, window, stride)) * len(occlusion_starts(width, window, stride))
        if positions > MAX_OCCLUSION_POSITIONS:
            raise RequestError(f"window {window}, stride {stride}: {positions} positions; at most "
                               f"{MAX_OCCLUSION_POSITIONS} (take a larger stride)")
        if layer is not None and len(self._layer_row(layer)["shape"]) != 3:
            raise RequestError(f"layer: {layer} outputs a vector; occlusion sums one of its maps (C, H, W)")
        return positions

    def occlusion(self, reference, window, stride, layer=None):
        """ZFNet Fig. 7 for one image: strongest-map activity, true-class probability, top class.

        A square of side ``window``, moved ``stride`` pixels at a time, is
        filled with the image's mean (grey). The true class of a test image
        is its label; an uploaded or drawn picture has none, so its most
        probable class stands in for it. Background work: it runs on the
        background copy of the model and lets clicks go first between its
        batches of squares (priority.py).
        """
        positions = self.check_occlusion(reference, window, stride, layer)
        pixels, label = self.parse_image(reference)
        last = len(self.model) - 1
        with self.background():
            x = self.prepare(pixels[None])
            target = label
            if target is None:
                logits = feature_maps(self.background_model, x, [last])[last]
                target = int(numpy.argmax(to_numpy(logits).reshape(-1)))
            maps = occlusion(self.background_model, x, target, window, stride, layer=layer)
        return {"image": reference, "target": target, "target_is_label": label is not None,
                "window": window, "stride": stride, "layer": maps.layer, "channel": maps.channel,
                "positions": positions, "rows": maps.rows.tolist(), "cols": maps.cols.tolist(),
                "activity": numpy.round(maps.activity.astype(numpy.float64), 5).tolist(),
                "prob": numpy.round(maps.prob.astype(numpy.float64), 5).tolist(),
                "top_class": maps.top_class.tolist(),
                "clean": {"activity": maps.clean_activity, "prob": maps.clean_prob, "class": maps.clean_class}}

    # ----- the run ---------------------------------------------------------------------------
    def summary(self):
        """The model, its data, its layers and the state of the top-9 pass."""
        accuracy = None
        if self.top9_pass.predictions is not None:
            accuracy = float((self.top9_pass.predictions == self.labels).mean())
        return {"model": self.name, "checkpoint": self.checkpoint.path.name, "epoch": self.checkpoint.epoch,
                "dataset": self.dataset, "source": self.source, "classes": self.classes,
                "input_shape": list(self.input_shape), "test_images": int(len(self.labels)),
                "test_accuracy": accuracy, "layers": self.table, "top9": self.top9_pass.status()}

    def history(self):
        """Training curves, first-layer filters, and Fig. 4's feature evolution if it was recorded.

        snapshots.npz beside the checkpoint is input like an upload: it is
        checked (snapshots.check_snapshots: every array's shape, dtype and
        range, every box inside the picture) before anything is drawn, and
        a bad one counts as absent, with one line on stderr and the reason
        on the page.
        """
        result = {"epochs": history_records(self.checkpoint.metadata.get("history")), "filters": None,
                  "evolution": None, "evolution_note": ""}
        first = next((module for module in self.model if isinstance(module, Conv2d)), None)
        if first is not None:
            weight = to_numpy(first.weight.data)                                 # (F, C, KH, KW)
            shown = numpy.stack([pictures.signed(picture_of(w)) for w in weight])
            columns = pictures.grid_columns(len(shown))
            result["filters"] = {"count": len(shown), "size": list(weight.shape[2:]), "columns": columns,
                                 "grid": pictures.data_url(pictures.grid(shown, columns))}
        path = self.checkpoint.path.with_name(SNAPSHOTS)
        try:
            snapshots = load_snapshots(path, self.input_shape, max_bytes=MAX_SNAPSHOT_BYTES)
            check_snapshots(snapshots, self.input_shape, len(self.model), path)
        except ValueError as error:
            print(f"minicnn explore: ignoring {error}", file=sys.stderr, flush=True)
            result["evolution_note"] = f"the feature evolution is not shown: {error}"
            return result
        if not snapshots:
            result["evolution_note"] = ("no snapshots beside the checkpoint; train with "
                                        "`minicnn train --snapshots` to record the feature evolution (Fig. 4)")
            return result
        result["evolution"] = evolution_grids(snapshots)
        return result


def history_records(history):
    """The checkpoint's per-epoch records as the page draws them: numbers (finite) or None, nothing else.

    The checkpoint's metadata is a file's JSON: a record that is not a dict,
    a value that is not a finite number (NaN would not even be valid JSON
    for the page) is dropped or becomes None; at most HISTORY_EPOCHS records.
    """
    records = history.get("epochs") if isinstance(history, dict) else None
    if not isinstance(records, list):
        return []
    cleaned = []
    for record in records[:HISTORY_EPOCHS]:
        if not isinstance(record, dict):
            continue
        cleaned.append({str(key)[:40]: finite_number(value) for key, value in list(record.items())[:40]})
    return cleaned


def finite_number(value):
    """An int or a finite float as it is; anything else (text, NaN, a list, True) -> None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if isinstance(value, int) or math.isfinite(value) else None


def layer_table(model, input_shape):
    """One row per layer: index, kind, text, output shape, number of maps, and whether it is shown."""
    rows, shape = [], tuple(input_shape)
    for index, module in enumerate(model):
        shape = module.output_shape(shape)
        rows.append({"index": index, "kind": type(module).__name__, "text": repr(module),
                     "shape": list(shape), "maps": int(shape[0]),
                     "shown": not isinstance(module, (Flatten, Dropout))})
    return rows


def picture_of(image):
    """(C, H, W) -> (H, W) or (H, W, 3), see pictures.picture_of."""
    return pictures.picture_of(numpy.asarray(image))


def picture_pixels(pixels):
    """Stored pixels (H, W) or (C, H, W) uint8 -> (H, W) or (H, W, 3) uint8."""
    return pixels if pixels.ndim == 2 else pictures.picture_of(pixels)


def place(cut, size, box, height, width, fill):
    """Put a unit's cut (h, w) on a ``size`` canvas, where it lies in its unclipped receptive field.

    A box clipped at the image's top (row_start = 0 and shorter than
    ``size``) is aligned to the canvas's bottom, and likewise for the
    left; so the same part of every patch lies at the same place.
    """
    canvas = numpy.full(tuple(size) + cut.shape[2:], fill, dtype=numpy.float64)
    r0, r1, c0, c1 = box
    top = size[0] - cut.shape[0] if r0 == 0 and r1 < height else 0
    left = size[1] - cut.shape[1] if c0 == 0 and c1 < width else 0
    canvas[top:top + cut.shape[0], left:left + cut.shape[1]] = cut
    return canvas


def evolution_grids(snapshots, max_maps=8):
    """Fig. 4 as one grid per layer: a row per map, a column per recorded epoch."""
    epochs = sorted(snapshots)
    layers = sorted(snapshots[epochs[-1]])
    result = []
    for layer in layers:
        kept = [epoch for epoch in epochs if layer in snapshots[epoch]]
        first = snapshots[kept[0]][layer]
        maps = min(max_maps, len(first.channels))
        boxes = numpy.concatenate([snapshots[e][layer].boxes[:maps] for e in kept])
        size = (int((boxes[:, 1] - boxes[:, 0]).max()), int((boxes[:, 3] - boxes[:, 2]).max()))
        height, width = first.projections.shape[2:]
        cells = []
        for m in range(maps):
            for epoch in kept:
                snap = snapshots[epoch][layer]
                r0, r1, c0, c1 = (int(v) for v in snap.boxes[m])
                cut = pictures.signed(picture_of(snap.projections[m][:, r0:r1, c0:c1]))
                cells.append(place(cut, size, (r0, r1, c0, c1), height, width, 0.5))
        result.append({"layer": layer, "epochs": kept, "maps": [int(c) for c in first.channels[:maps]],
                       "columns": len(kept), "grid": pictures.data_url(pictures.grid(numpy.stack(cells), len(kept)))})
    return result
