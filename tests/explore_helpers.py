"""What the explorer's tests share: small checkpoints trained here, an MNIST-format data
directory, and the server started on 127.0.0.1 at a free port.

MNIST itself cannot be read offline (minicnn ships only a Fashion-MNIST
sample, and its download comes from outside the machines the tests run on),
so ``write_digits`` writes a data directory in MNIST's exact format: the four
IDX files under MNIST's names (minicnn.data.save_idx), 28x28 uint8 light
digits 0-9 on black, drawn with Pillow's built-in font at random sizes,
places and angles. ``load_dataset("mnist", path=...)`` reads it as it reads
MNIST.
"""

import contextlib
import threading

import numpy
import pytest
from PIL import Image, ImageDraw, ImageFont

from minicnn.data import save_idx
from minicnn.data.sources import EMBEDDED_DIRS, FILE_STEMS
from minicnn.training.experiment import RunConfig, run

FASHION = str(EMBEDDED_DIRS["fashion-mnist"])


def draw_digit(digit, rng):
    """One 28x28 uint8 picture of ``digit``: light on black, size, place and angle drawn from rng."""
    font = ImageFont.load_default(size=int(rng.integers(18, 25)))
    picture = Image.new("L", (40, 40), 0)
    ImageDraw.Draw(picture).text((20 + rng.integers(-3, 4), 20 + rng.integers(-3, 4)), str(digit),
                                 fill=int(rng.integers(200, 256)), font=font, anchor="mm",
                                 stroke_width=int(rng.integers(0, 2)), stroke_fill=255)
    picture = picture.rotate(float(rng.uniform(-15, 15)), resample=Image.Resampling.BILINEAR)
    return numpy.asarray(picture.crop((6, 6, 34, 34)), dtype=numpy.uint8)


def write_digits(directory, train=600, test=300, seed=0):
    """An MNIST-format directory of ``train`` + ``test`` drawn digits (balanced classes); returns it."""
    rng = numpy.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", train), ("test", test)):
        labels = numpy.arange(count, dtype=numpy.uint8) % 10
        rng.shuffle(labels)
        images = numpy.stack([draw_digit(int(label), rng) for label in labels])
        images_stem, labels_stem = FILE_STEMS[split]
        save_idx(directory / f"{images_stem}.gz", images)
        save_idx(directory / f"{labels_stem}.gz", labels)
    return directory


def train_checkpoint(out, model, dataset="fashion-mnist", data_path=FASHION, images=300, epochs=1, batch_size=32):
    """Train ``model`` for ``epochs`` on the first ``images`` training images; returns the checkpoint path."""
    config = RunConfig(model=model, dataset=dataset, data_path=str(data_path), epochs=epochs,
                       train_limit=images, test_limit=100, batch_size=batch_size, lr=0.01, out=str(out))
    run(config, progress=False, verbose=False)
    return out / "checkpoint.npz"


@contextlib.contextmanager
def serving(explorer):
    """The explorer served on 127.0.0.1 at a free port, in a thread; yields the server (its app: server.app)."""
    from minicnn.explore.server import make_explore_server
    server = make_explore_server(explorer, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()                  # drops the waiting occlusion jobs
        thread.join(timeout=10)
        worker = getattr(getattr(server.app, "jobs", None), "worker", None)
        if worker is not None:                 # the job computing now: let it end here, not in the next test
            worker.join(timeout=120)


@contextlib.contextmanager
def running_server(explorer):
    """The explorer served on 127.0.0.1 at a free port, in a thread; yields its URL."""
    with serving(explorer) as server:
        yield f"http://127.0.0.1:{server.server_port}/"


def wait_ready(explorer, timeout=300):
    """Wait (bounded) for the top-9 pass of ``explorer`` and its predictions; returns it."""
    if explorer.top9_pass.thread is not None:
        explorer.top9_pass.thread.join(timeout)
    assert explorer.top9_pass.state == "ready", explorer.top9_pass.status()
    assert explorer.top9_pass.predictions is not None, explorer.top9_pass.status()
    return explorer


# ----- the fixtures both explorer test files use (imported there by name) -----------------
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A zfnet_small checkpoint trained briefly on the test data, once per test module."""
    return train_checkpoint(tmp_path_factory.mktemp("zfnet"), "zfnet_small")


@pytest.fixture(scope="module")
def explorer(checkpoint):
    """An Explorer over ``checkpoint``, its top-9 pass and predictions finished."""
    from minicnn.explore.session import Explorer
    return wait_ready(Explorer(checkpoint, data_path=FASHION, progress=False).start())
