"""``minicnn explore``'s HTTP API: every endpoint, and every kind of bad request.

Requests go through Werkzeug's test Client, which calls the WSGI
application without a socket; one test talks to the real server on
127.0.0.1. The checkpoints are trained here, one short epoch on 300
images: zfnet_small and keras_mnist_cnn, on the embedded Fashion-MNIST
sample and on an MNIST-format directory of drawn digits
(tests/explore_helpers.py says why MNIST itself is not used).

What the explorer shows must be minicnn.visualize's results: the top-9 of
the streaming pass equal ``top_k`` over the whole test set, a projection
equals ``Deconvnet.project``, occlusion equals ``occlusion``.
"""

import base64
import io
import json
import re
import struct
import subprocess
import sys
import time
import urllib.request
import zlib
from pathlib import Path

import numpy
import pytest
from PIL import Image
from werkzeug.test import Client

from explore_helpers import FASHION, running_server, train_checkpoint, wait_ready, write_digits
from explore_helpers import checkpoint, explorer  # noqa: F401 (fixtures: a trained zfnet_small, its explorer)
from minicnn.data import load_dataset, normalize, to_float
from minicnn.explore import SaveSnapshots, load_snapshots, pictures, topcache
from minicnn.explore.npzfile import BadFile
from minicnn.explore.server import MAX_UPLOAD, ExploreApp
from minicnn.explore.session import Explorer
from minicnn.training import evaluate, load_model
from minicnn.training.experiment import RunConfig, run
from minicnn.visualize import Deconvnet, feature_maps, occlusion, receptive_box, top_k

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "minicnn" / "explore" / "static"


@pytest.fixture()
def client(explorer):
    return Client(ExploreApp(explorer))


@pytest.fixture(scope="module")
def test_images(explorer):
    """The prepared test images, as the model sees them."""
    return normalize(to_float(explorer.pixels), explorer.mean, explorer.std)


def png_bytes(array, mode=None):
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def picture(data_url):
    """A data: URL's PNG as a NumPy array."""
    assert data_url.startswith("data:image/png;base64,")
    return numpy.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


def get(client, path, status=200, **query):
    response = client.get(path, query_string=query)
    assert response.status_code == status, response.get_data(as_text=True)
    return response.json


# ----- the page and its files ---------------------------------------------------------------------
def test_the_page_and_its_files_are_served_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    assert '/static/app.js' in html and '/static/app.css' in html
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css")):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and response.mimetype == kind
        assert response.data == (STATIC / name).read_bytes()


def test_the_page_needs_no_network():
    """Works offline: no script, style, font or image is fetched from anywhere else."""
    for path in STATIC.iterdir():
        text = path.read_text()
        text = text.replace("http://www.w3.org/2000/svg", "")       # SVG's namespace name, not a request
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE), path.name
        assert "@import" not in text and "url(" not in text, path.name


@pytest.mark.parametrize("path", ["/static/missing.js", "/static/index.html", "/static/..%2Fsetup.cfg",
                                  "/static/../../setup.cfg", "/static/%2e%2e/session.py", "/api/nothing",
                                  "/minicnn/explore/server.py"])
def test_nothing_else_is_served(client, path):
    response = client.get(path)
    assert response.status_code == 404 and "error" in response.json


# ----- the model and the test images ------------------------------------------------------------
def test_model_describes_the_checkpoint_its_data_and_its_layers(client, explorer):
    model = get(client, "/api/model")
    assert model["model"] == "zfnet_small" and model["dataset"] == "fashion-mnist" and model["epoch"] == 1
    assert len(model["classes"]) == 10 and model["test_images"] == 1000 and model["input_shape"] == [1, 28, 28]
    kinds = {row["kind"]: row["shown"] for row in model["layers"]}
    assert kinds["Flatten"] is False and kinds["Dropout"] is False and kinds["Conv2d"] is True
    assert model["layers"][0]["shape"] == [32, 28, 28] and model["layers"][-1]["shape"] == [10]
    assert model["top9"]["state"] == "ready" and 0 <= model["test_accuracy"] <= 1
    assert get(client, "/api/status")["state"] == "ready"


def test_images_pages_by_class_and_misclassified(client, explorer, test_images):
    page = get(client, "/api/images")
    assert page["total"] == 1000 and len(page["items"]) == 48 and page["items"][0]["image"] == "test:0"
    assert picture(page["items"][0]["picture"]).shape == (28, 28)
    bags = get(client, "/api/images", label=8, offset=10, limit=5)
    assert bags["total"] == 100 and len(bags["items"]) == 5
    assert all(item["label"] == 8 for item in bags["items"])
    wrong = get(client, "/api/images", which="misclassified", limit=200)
    expected = numpy.flatnonzero(predicted(explorer.model, test_images) != explorer.labels)
    assert wrong["total"] == len(expected)
    assert [item["index"] for item in wrong["items"]] == expected[:200].tolist()
    assert all(item["predicted"] != item["label"] for item in wrong["items"])


def predicted(model, images):
    """The most probable class of each image, by minicnn.training.evaluate."""
    return evaluate(model, images, numpy.zeros(len(images), numpy.int64)).predictions


# ----- one image through the model ----------------------------------------------------------------
def test_predict_gives_the_class_probabilities(client, explorer, test_images):
    result = get(client, "/api/predict", image="test:3")
    probabilities = numpy.array(result["probabilities"])
    assert probabilities.shape == (10,) and probabilities.sum() == pytest.approx(1, abs=1e-4)
    assert result["label"] == int(explorer.labels[3])
    assert result["predicted"] == int(predicted(explorer.model, test_images[3:4])[0])
    assert numpy.array_equal(picture(result["picture"]), explorer.pixels[3])


def test_layers_gives_every_shown_layer_as_a_grid(client, explorer):
    result = get(client, "/api/layers", image="test:5")
    shown = [row["index"] for row in explorer.table if row["shown"]]
    assert [layer["index"] for layer in result["layers"]] == shown
    for layer in result["layers"]:
        grid = picture(layer["grid"])
        height, width = layer["cell"]
        rows = -(-layer["maps"] // layer["columns"])
        assert grid.shape == (rows * (height + 1) + 1, layer["columns"] * (width + 1) + 1, 3)
        assert layer["range"][0] <= layer["range"][1]


def test_unit_is_the_map_and_its_deconvnet_projection(client, explorer, test_images):
    x = test_images[7:8]
    for layer, channel in ((1, 3), (5, 10), (13, 2), (16, 40), (22, 4)):
        result = get(client, "/api/unit", image="test:7", layer=layer, channel=channel)
        values = feature_maps(explorer.model, x, [layer])[layer][channel]
        assert numpy.allclose(result["map"], values, atol=1e-4)
        row, col = numpy.unravel_index(numpy.argmax(values), values.shape)
        assert (result["row"], result["col"]) == (row, col)             # the strongest unit, by default
        projection = Deconvnet(explorer.model).project(x, layer, channel, (int(row), int(col)))[0, 0]
        assert numpy.array_equal(picture(result["projection"]), pictures.to_bytes(pictures.signed(projection)))
        assert tuple(result["box"]) == receptive_box(explorer.model, layer, (row, col), (28, 28))
    chosen = get(client, "/api/unit", image="test:7", layer=4, channel=1, row=2, col=11)
    assert (chosen["row"], chosen["col"]) == (2, 11)
    assert chosen["value"] == pytest.approx(chosen["map"][2][11], abs=1e-5)


def test_top9_equals_minicnn_visualize_top_k_over_the_whole_test_set(client, explorer, test_images):
    for layer, channel in ((1, 0), (5, 7), (13, 3), (17, 9), (22, 2)):
        result = get(client, "/api/top9", layer=layer, channel=channel)
        expected = top_k(explorer.model, test_images, layer, channel)
        assert [item["index"] for item in result["items"]] == expected.indices.tolist()
        assert numpy.allclose([item["value"] for item in result["items"]], expected.values, rtol=1e-5, atol=1e-6)
        assert [[item["row"], item["col"]] for item in result["items"]] == expected.positions.tolist()
        assert [item["box"] for item in result["items"]] == expected.boxes.tolist()
        first = result["items"][0]
        r0, r1, c0, c1 = first["box"]
        patch = picture(first["patch"])
        assert patch.shape[:2] == picture(first["projection"]).shape[:2]
        assert (r1 - r0, c1 - c0) <= patch.shape[:2]


# ----- occlusion ------------------------------------------------------------------------------------
def run_job(client, started, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = get(client, "/api/job", id=started["job"])
        if job["state"] != "running":
            return job
        time.sleep(0.05)
    raise AssertionError("the job did not finish in time")


def test_occlusion_runs_as_a_job_and_equals_minicnn_visualize(client, explorer, test_images):
    response = client.post("/api/occlusion", query_string={"image": "test:9", "window": 8, "stride": 4})
    assert response.status_code == 200, response.json
    started = response.json
    assert started["positions"] == 6 * 6 and re.fullmatch(r"[0-9a-f]{16}", started["job"])
    job = run_job(client, started)
    assert job["state"] == "done" and job["total"] == 36
    result = job["result"]
    expected = occlusion(explorer.model, test_images[9], int(explorer.labels[9]), 8, 4)
    assert result["target"] == int(explorer.labels[9]) and result["target_is_label"]
    assert numpy.allclose(result["activity"], expected.activity, rtol=1e-4, atol=1e-3)
    assert numpy.allclose(result["prob"], expected.prob, atol=1e-4)
    assert numpy.array_equal(result["top_class"], expected.top_class)
    assert (result["layer"], result["channel"]) == (expected.layer, expected.channel)


# ----- training history --------------------------------------------------------------------------
def test_history_has_curves_filters_and_says_when_there_is_no_evolution(client):
    history = get(client, "/api/history")
    assert len(history["epochs"]) == 1 and history["epochs"][0]["train_loss"] > 0
    assert history["filters"]["count"] == 32 and history["filters"]["size"] == [5, 5]
    assert picture(history["filters"]["grid"]).shape == (6 * 6 + 1, 6 * 6 + 1, 3)
    assert history["evolution"] is None and "--snapshots" in history["evolution_note"]


def test_train_snapshots_are_saved_each_epoch_and_shown(tmp_path):
    """SaveSnapshots (what `minicnn train --snapshots` adds) writes Fig. 4 beside the checkpoint."""
    config = RunConfig(model="keras_mnist_cnn", dataset="fashion-mnist", data_path=FASHION, epochs=2,
                       train_limit=200, test_limit=50, batch_size=32, out=str(tmp_path))
    run(config, progress=False, verbose=False, callbacks=[SaveSnapshots(tmp_path / "snapshots.npz", count=50)])
    snapshots = load_snapshots(tmp_path / "snapshots.npz")
    assert sorted(snapshots) == [1, 2] and sorted(snapshots[1]) == [1, 4, 7]     # each conv's ReLU
    assert snapshots[2][4].projections.shape == (16, 1, 28, 28)
    with numpy.load(tmp_path / "snapshots.npz", allow_pickle=False) as archive:      # nothing pickled
        assert all(archive[key].dtype != object for key in archive.files)
    run(RunConfig(**{**config.__dict__, "epochs": 3}), resume=tmp_path / "checkpoint.npz", progress=False,
        verbose=False, callbacks=[SaveSnapshots(tmp_path / "snapshots.npz", count=50)])
    assert sorted(load_snapshots(tmp_path / "snapshots.npz")) == [1, 2, 3]          # resumed: added
    history = Client(ExploreApp(Explorer(tmp_path / "checkpoint.npz", data_path=FASHION, progress=False,
                                         cache=False))).get("/api/history").json
    assert [layer["layer"] for layer in history["evolution"]] == [1, 4, 7]
    assert history["evolution"][0]["epochs"] == [1, 2, 3] and len(history["epochs"]) == 3
    assert picture(history["evolution"][0]["grid"]).shape[1] == 3 * (3 + 1) + 1    # a column per epoch


# ----- uploads ------------------------------------------------------------------------------------------
def jpeg_bytes(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def test_upload_png_and_jpeg_are_fitted_to_the_input_with_a_note(client, explorer):
    photo = numpy.zeros((60, 120, 3), numpy.uint8)
    photo[10:50, 20:100] = (250, 250, 250)
    for data, kind in ((png_bytes(photo), "PNG"), (jpeg_bytes(photo), "JPEG")):
        answer = client.post("/api/upload", data=data, content_type="image/png").json
        assert re.fullmatch(r"upload:[0-9a-f]{16}", answer["image"])
        assert answer["note"].startswith(f"{kind} of 120x60 pixels, resized to 28x28 grey")
        pixels = picture(answer["picture"])
        assert pixels.shape == (28, 28) and pixels[:6].max() < 30 and pixels[14, 14] > 200   # padded with black
        for path in ("/api/predict", "/api/layers"):
            get(client, path, image=answer["image"])
        unit = get(client, "/api/unit", image=answer["image"], layer=0, channel=0)
        assert unit["label"] is None
    exact = client.post("/api/upload", data=png_bytes(explorer.pixels[3])).json
    assert "used as it is" in exact["note"]
    assert numpy.array_equal(picture(exact["picture"]), explorer.pixels[3])
    assert get(client, "/api/predict", image=exact["image"])["probabilities"] == \
        get(client, "/api/predict", image="test:3")["probabilities"]
    inverted = client.post("/api/upload?invert=1", data=png_bytes(255 - explorer.pixels[3])).json
    assert "inverted" in inverted["note"] and numpy.array_equal(picture(inverted["picture"]), explorer.pixels[3])


def test_uploads_are_kept_in_memory_only_and_the_oldest_forgotten(client, explorer, checkpoint, monkeypatch):
    monkeypatch.setattr("minicnn.explore.session.UPLOADS", 2)
    before = sorted(path.name for path in checkpoint.parent.iterdir())
    names = [client.post("/api/upload", data=png_bytes(numpy.full((28, 28), value, numpy.uint8))).json["image"]
             for value in (10, 20, 30)]
    assert sorted(path.name for path in checkpoint.parent.iterdir()) == before
    get(client, "/api/predict", image=names[2])
    assert "upload or draw it again" in get(client, "/api/predict", 404, image=names[0])["error"]


def png_header_only(width, height):
    """A PNG signature and IHDR chunk claiming width x height pixels, and nothing else (a tiny bomb)."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def gif_bytes():
    buffer = io.BytesIO()
    Image.new("L", (28, 28)).save(buffer, format="GIF")
    return buffer.getvalue()


@pytest.mark.parametrize("data, message", [
    (b"", "the upload is empty"),
    (b"hello, I am not a picture", "not a PNG or JPEG"),
    (gif_bytes(), "not a PNG or JPEG"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "not a PNG or JPEG"),
    (png_header_only(5000, 5000), "is 5000x5000 pixels; the explorer decodes at most"),
    (png_header_only(30000, 30000), "claims more pixels than the explorer decodes"),
    (png_bytes(numpy.random.default_rng(0).integers(0, 256, (28, 28), dtype=numpy.uint8))[:300],
     "could not be decoded"),
], ids=["empty", "text", "gif", "svg", "header-claims-5000x5000", "header-claims-30000x30000", "truncated"])
def test_an_upload_that_is_not_a_usable_picture_is_refused(client, data, message):
    response = client.post("/api/upload", data=data)
    assert response.status_code == 400 and message in response.json["error"]
    assert "Traceback" not in response.get_data(as_text=True)


def test_an_upload_too_large_is_refused_before_it_is_read(client):
    response = client.post("/api/upload", data=b"\0" * (MAX_UPLOAD + 1))
    assert response.status_code == 413 and "error" in response.json


def test_pillow_decodes_nothing_but_png_and_jpeg(monkeypatch):
    """The format list passed to Image.open is the guard: no other decoder is ever tried."""
    opened = []
    real_open = Image.open
    monkeypatch.setattr(pictures.Image, "open", lambda fp, *a, **k: opened.append(k.get("formats")) or real_open(fp, *a, **k))
    pictures.decode_upload(png_bytes(numpy.zeros((5, 5), numpy.uint8)), (28, 28))
    assert opened == [("PNG", "JPEG")]


# ----- every bad request -------------------------------------------------------------------------------
BAD_REQUESTS = [
    # (method, path, status, words the error must contain)
    ("GET", "/?x=1", 400, "unknown parameter 'x'"),
    ("GET", "/api/model?verbose=1", 400, "unknown parameter"),
    ("GET", "/api/status?x=", 400, "unknown parameter"),
    ("GET", "/api/images?which=some", 400, "which: 'some' is not one of all, misclassified"),
    ("GET", "/api/images?label=10", 400, "label: 10 is out of range; give 0..9"),
    ("GET", "/api/images?label=-1", 400, "out of range"),
    ("GET", "/api/images?label=one", 400, "not a whole number"),
    ("GET", "/api/images?label=1&label=2", 400, "given 2 times"),
    ("GET", "/api/images?offset=-5", 400, "out of range"),
    ("GET", "/api/images?limit=0", 400, "out of range; give 1..200"),
    ("GET", "/api/images?limit=100000", 400, "out of range"),
    ("GET", "/api/images?limit=1e3", 400, "not a whole number"),
    ("GET", "/api/predict", 400, "image: missing"),
    ("GET", "/api/predict?image=", 400, "is not test:<index> or upload"),
    ("GET", "/api/predict?image=test:1000", 404, "no test image 1000; the fashion-mnist test set has images 0..999"),
    ("GET", "/api/predict?image=test:-1", 400, "is not test:<index>"),
    ("GET", "/api/predict?image=test:1.5", 400, "is not test:<index>"),
    ("GET", "/api/predict?image=../../etc/passwd", 400, "is not test:<index>"),
    ("GET", "/api/predict?image=upload:0123456789abcdef", 404, "no uploaded picture"),
    ("GET", "/api/predict?image=upload:XYZ", 400, "is not test:<index>"),
    ("GET", "/api/predict?image=test:1;rm%20-rf", 400, "is not test:<index>"),
    ("GET", "/api/layers", 400, "image: missing"),
    ("GET", "/api/layers?image=test:0&layer=1", 400, "unknown parameter 'layer'"),
    ("GET", "/api/unit?image=test:0&layer=1", 400, "channel: missing"),
    ("GET", "/api/unit?image=test:0&layer=99&channel=0", 400, "layer: 99 is out of range; give 0..22"),
    ("GET", "/api/unit?image=test:0&layer=15&channel=0", 404, "layer: 15 is not a layer the explorer shows"),
    ("GET", "/api/unit?image=test:0&layer=0&channel=32", 404, "layer 0 has 32 maps (0..31), no map 32"),
    ("GET", "/api/unit?image=test:0&layer=0&channel=x", 400, "not a whole number"),
    ("GET", "/api/unit?image=test:0&layer=0&channel=0&row=3", 400, "give both"),
    ("GET", "/api/unit?image=test:0&layer=0&channel=0&row=28&col=0", 400, "outside the 28x28 maps of layer 0"),
    ("GET", "/api/unit?image=test:0&layer=22&channel=0&row=0&col=1", 400, "outside the 1x1 maps"),
    ("GET", "/api/unit?image=test:5000&layer=0&channel=0", 404, "no test image"),
    ("GET", "/api/top9?layer=0", 400, "channel: missing"),
    ("GET", "/api/top9?layer=18&channel=0", 404, "not a layer the explorer shows"),
    ("GET", "/api/top9?layer=22&channel=10", 404, "has 10 maps"),
    ("GET", "/api/top9?layer=0&channel=0&image=test:0", 400, "unknown parameter 'image'"),
    ("POST", "/api/occlusion", 400, "image: missing"),
    ("POST", "/api/occlusion?image=test:0&window=0", 400, "window: 0 is out of range; give 1..28"),
    ("POST", "/api/occlusion?image=test:0&window=29", 400, "window: 29 is out of range; give 1..28"),
    ("POST", "/api/occlusion?image=test:0&window=4&stride=0", 400, "stride: 0 is out of range; give 1..28"),
    ("POST", "/api/occlusion?image=test:0&window=4&stride=40", 400, "stride: 40 is out of range; give 1..28"),
    ("POST", "/api/occlusion?image=test:0&window=4&layer=16", 400, "outputs a vector"),
    ("POST", "/api/occlusion?image=test:0&window=4&layer=18", 404, "not a layer the explorer shows"),
    ("POST", "/api/occlusion?image=test:77777", 404, "no test image"),
    ("GET", "/api/job", 400, "id: missing"),
    ("GET", "/api/job?id=zzz", 400, "is not a job id"),
    ("GET", "/api/job?id=0123456789abcdef", 404, "no job"),
    ("GET", "/api/history?epoch=1", 400, "unknown parameter"),
    ("POST", "/api/upload?invert=2", 400, "invert: 2 is out of range; give 0..1"),
    ("POST", "/api/upload?name=x.png", 400, "unknown parameter 'name'"),
    # the wrong method
    ("GET", "/api/upload", 405, "Method Not Allowed"),
    ("GET", "/api/occlusion?image=test:0", 405, "Method Not Allowed"),
    ("POST", "/api/predict?image=test:0", 405, "Method Not Allowed"),
    ("DELETE", "/api/model", 405, "Method Not Allowed"),
    ("PUT", "/", 405, "Method Not Allowed"),
]


@pytest.mark.parametrize("method, path, status, words", BAD_REQUESTS, ids=[f"{m} {p}" for m, p, _, _ in BAD_REQUESTS])
def test_every_bad_request_is_answered_with_json_and_no_traceback(client, method, path, status, words):
    response = client.open(path, method=method)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.json["error"]
    assert words in error
    assert "Traceback" not in error and "File \"" not in error


def test_a_bug_is_a_500_whose_details_stay_in_the_terminal(client, explorer, monkeypatch, capsys):
    def broken(reference):
        raise RuntimeError("secret detail of a bug")
    monkeypatch.setattr(explorer, "predict", broken)
    response = client.get("/api/predict", query_string={"image": "test:0"})
    assert response.status_code == 500
    assert "secret detail" not in response.get_data(as_text=True) and "internal error" in response.json["error"]
    assert "secret detail of a bug" in capsys.readouterr().err


@pytest.mark.parametrize("host, status", [("127.0.0.1", 200), ("localhost:8000", 200), ("evil.example", 400),
                                          ("127.0.0.1.evil.example", 400)])
def test_requests_naming_another_host_are_refused(client, host, status):
    """DNS rebinding: a page elsewhere whose name resolves to 127.0.0.1 still says its own name."""
    response = client.get("/api/model", headers={"Host": host})
    assert response.status_code == status
    if status == 400:
        assert "not trusted" in response.json["error"]


# ----- the top-9 file beside the checkpoint ----------------------------------------------------------
def test_the_top9_pass_is_cached_beside_the_checkpoint_without_pickle_and_reused(explorer, checkpoint):
    path = explorer.top9_pass.path
    assert path.parent == checkpoint.parent and path.name.startswith("checkpoint.top9-fashion-mnist-")
    with numpy.load(path, allow_pickle=False) as archive:
        assert "predictions" in archive.files and all(archive[key].dtype != object for key in archive.files)
    again = Explorer(checkpoint, data_path=FASHION, progress=False).start()
    assert again.top9_pass.thread is None and again.top9_pass.state == "ready"      # read, not searched
    assert "read from" in again.top9_pass.message
    assert numpy.array_equal(again.top9_pass.predictions, explorer.top9_pass.predictions)
    for layer, strongest in explorer.top9_pass.best.items():
        assert numpy.array_equal(again.top9_pass.best[layer].indices, strongest.indices)


def test_a_cache_without_predictions_gets_them_and_keeps_its_top9(explorer, tmp_path):
    copy = tmp_path / "checkpoint.npz"
    copy.write_bytes(explorer.checkpoint.path.read_bytes())
    first = Explorer(copy, data_path=FASHION, progress=False)
    topcache.save(first.top9_pass.path, first.top9_pass.fingerprint, explorer.top9_pass.best, None, {"top9": 1.0})
    first.start()
    assert first.top9_pass.state == "ready" and first.top9_pass.predictions is None      # top-9 at once
    wait_ready(first)
    assert numpy.array_equal(first.top9_pass.predictions, explorer.top9_pass.predictions)
    top = first.top9_pass
    assert topcache.load(top.path, top.fingerprint, top.shapes, top.total, top.classes)[1] is not None   # saved again


def test_a_stale_or_broken_cache_is_searched_again(explorer, checkpoint, tmp_path):
    """A stale cache is absent (None); a broken one is refused (BadFile, naming it), which the pass treats
    as absent too (tests/test_hostile_explore.py has every kind of broken file)."""
    top = explorer.top9_pass
    fingerprint = dict(top.fingerprint, checkpoint="0" * 64)        # the checkpoint changed
    assert topcache.load(top.path, fingerprint, top.shapes, top.total, top.classes) is None
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(BadFile, match="broken.npz: not a readable .npz file"):
        topcache.load(broken, top.fingerprint, top.shapes, top.total, top.classes)
    pickled = tmp_path / "pickled.npz"
    numpy.savez(pickled, **{"metadata.json": numpy.array([{"a": 1}], dtype=object)})
    with pytest.raises(BadFile, match="pickled.npz: .*'metadata.json'"):
        topcache.load(pickled, top.fingerprint, top.shapes, top.total, top.classes)


def test_the_streaming_pass_is_the_same_whatever_the_chunk(explorer, test_images):
    layers = {1: 32, 13: 64, 22: 10}
    args = (explorer.model, explorer.pixels[:300], explorer.prepare, layers)
    small = topcache.search(*args, chunk=7)
    whole = topcache.search(*args, chunk=300)
    labels = explorer.labels[:300]
    predictions = topcache.predict(explorer.model, explorer.pixels[:300], labels, explorer.prepare, chunk=7)
    assert numpy.array_equal(predictions, predicted(explorer.model, test_images[:300]))
    for layer in layers:
        assert numpy.array_equal(small[layer].indices, whole[layer].indices)
        assert numpy.array_equal(small[layer].rows, whole[layer].rows)
        assert numpy.allclose(small[layer].values, whole[layer].values, rtol=1e-5, atol=1e-6)


def test_while_the_pass_runs_the_page_gets_its_progress(checkpoint, monkeypatch):
    gate = __import__("threading").Event()
    real_search = topcache.search

    def slow_search(*args, **kwargs):
        gate.wait(60)
        return real_search(*args, **kwargs)
    monkeypatch.setattr(topcache, "search", slow_search)
    explorer = Explorer(checkpoint, data_path=FASHION, progress=False, cache=False).start()
    client = Client(ExploreApp(explorer))
    try:
        status = get(client, "/api/status")
        assert status["state"] == "building" and status["predicted"] == 0 and status["total"] == 1000
        top = get(client, "/api/top9", layer=0, channel=0)
        assert top["state"] == "building" and "items" not in top and top["total"] == 1000
        listing = get(client, "/api/images", which="misclassified")
        assert listing["ready"] is False and "not finished" in listing["message"]
        assert get(client, "/api/model")["test_accuracy"] is None
        get(client, "/api/unit", image="test:0", layer=0, channel=0)                 # the rest works
    finally:
        gate.set()
    wait_ready(explorer)
    assert len(get(client, "/api/top9", layer=0, channel=0)["items"]) == 9
    status = get(client, "/api/status")
    assert status["predicted"] == 1000 and set(status["seconds"]) == {"top9", "predictions"}
    assert get(client, "/api/images", which="misclassified")["ready"] is True


# ----- the real server -----------------------------------------------------------------------------------
def test_the_server_listens_on_127_0_0_1_at_a_free_port(explorer):
    with running_server(explorer) as url:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "api/model", timeout=30) as response:
            assert json.load(response)["model"] == "zfnet_small"
        request = urllib.request.Request(url + "api/upload", data=png_bytes(explorer.pixels[0]), method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.load(response)["image"].startswith("upload:")


def test_minicnn_explore_prints_its_url_and_serves(checkpoint):
    """The command itself, in a subprocess: port 0 picks a free port; the URL it prints answers."""
    process = subprocess.Popen(
        [sys.executable, "-m", "minicnn", "explore", str(checkpoint), "--data-path", FASHION, "--port", "0",
         "--backend", "numpy"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()                     # blocks until the server is up (or it failed)
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line + process.stderr.read()
        with urllib.request.urlopen(match.group(0) + "api/model", timeout=30) as response:
            assert json.load(response)["model"] == "zfnet_small"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_minicnn_explore_stops_at_ctrl_c_and_says_when_its_port_is_taken(checkpoint):
    import signal
    import socket
    command = [sys.executable, "-m", "minicnn", "explore", str(checkpoint), "--data-path", FASHION, "--backend", "numpy"]
    process = subprocess.Popen(command + ["--port", "0"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        assert "http://127.0.0.1:" in process.stdout.readline()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0 and "minicnn explore: stopped" in out and "Traceback" not in err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(command + ["--port", str(port)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "is in use" in result.stderr and "Traceback" not in result.stderr
    assert f"minicnn explore: --port {port}: 127.0.0.1:{port} is in use" in result.stderr


@pytest.mark.parametrize("arguments, words", [
    (["missing.npz"], "no file at missing.npz"),
    (["CKPT", "--port", "70000"], "--port must be 0..65535"),
    (["CKPT", "--dataset", "cifar"], "unknown dataset 'cifar'"),
])
def test_minicnn_explore_refuses_what_it_cannot_serve(checkpoint, arguments, words):
    arguments = [str(checkpoint) if a == "CKPT" else a for a in arguments]
    result = subprocess.run([sys.executable, "-m", "minicnn", "explore", *arguments, "--backend", "numpy"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


# ----- every model and data set ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return write_digits(tmp_path_factory.mktemp("mnist"))


@pytest.mark.parametrize("model", ["keras_mnist_cnn", "zfnet_small"])
@pytest.mark.parametrize("dataset", ["fashion-mnist", "mnist"])
def test_every_endpoint_works_for_both_models_on_both_data_sets(model, dataset, digits, tmp_path):
    data_path = FASHION if dataset == "fashion-mnist" else digits
    checkpoint = train_checkpoint(tmp_path, model, dataset, data_path, images=300)
    explorer = wait_ready(Explorer(checkpoint, data_path=data_path, progress=False).start())
    client = Client(ExploreApp(explorer))
    summary = get(client, "/api/model")
    assert summary["model"] == model and summary["dataset"] == dataset
    assert summary["classes"][:2] == (["0", "1"] if dataset == "mnist" else ["T-shirt/top", "Trouser"])
    test = load_dataset(dataset, "test", path=data_path, verbose=False)
    assert summary["test_images"] == len(test.labels)
    layers = get(client, "/api/layers", image="test:1")["layers"]
    x = normalize(to_float(test.images), explorer.mean, explorer.std)
    for layer in (layers[0]["index"], layers[-1]["index"]):
        get(client, "/api/unit", image="test:1", layer=layer, channel=1)
        top = get(client, "/api/top9", layer=layer, channel=1)
        assert [item["index"] for item in top["items"]] == top_k(load_model(checkpoint), x, layer, 1).indices.tolist()
    get(client, "/api/predict", image="test:1")
    get(client, "/api/images", which="misclassified")
    started = client.post("/api/occlusion", query_string={"image": "test:1", "window": 7, "stride": 7}).json
    assert run_job(client, started)["state"] == "done"
    assert len(get(client, "/api/history")["epochs"]) == 1


def test_the_tour_report_says_how_to_explore_its_model():
    from types import SimpleNamespace
    from minicnn.cli.tour import introduction
    metrics = {"parameters": 429194, "epochs": 1, "train_images": 400, "data_source": "embedded sample",
               "test_images": 100, "test_accuracy": 0.5, "test_loss": 1.0, "seconds": 3.0,
               "images_per_second": 200.0, "backend": "numpy", "device": "a CPU"}
    config = RunConfig(out="tour", epochs=1, train_limit=400)
    text = introduction(SimpleNamespace(metrics=metrics, config=config))
    assert "Explore this model live:</b> <code>minicnn explore tour/checkpoint.npz</code>" in text
    config = RunConfig(out="tour", epochs=1, data_path="/data/fashion")
    assert "minicnn explore tour/checkpoint.npz --data-path /data/fashion" in introduction(
        SimpleNamespace(metrics=metrics, config=config))
