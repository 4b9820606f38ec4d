"""Tests for minicnn.data: IDX files, where datasets are found, downloads, batching, augmentation."""

import functools
import gzip
import hashlib
import http.server
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minicnn.data import (
    Compose, DataError, DataLoader, FetchError, IDXError, RandomCrop, RandomHorizontalFlip,
    RandomRotation, RandomShear, RandomShift, RandomZoom, ToFloat, describe_sources,
    fetch, keras_example, load_dataset, load_idx, mean_std, normalize, save_idx, to_float,
)
from minicnn.data import geometry, make_embedded, sources
from minicnn.data.datasets import read_split
from minicnn.data.idx import idx_bytes, read_bytes
from minicnn.engine import backend

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
EMBEDDED = sources.EMBEDDED_DIRS["fashion-mnist"]
needs_debian = pytest.mark.skipif(
    not sources.has_all_files(DEBIAN),
    reason="Debian package dataset-fashion-mnist not installed (apt-get install dataset-fashion-mnist)",
)
STEMS = sources.FILE_STEMS["train"] + sources.FILE_STEMS["test"]


# ---------------------------------------------------------------- IDX format

IDX_DTYPES = st.sampled_from(["u1", "i1", ">i2", "<i4", "f4", ">f8"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(array=hnp.arrays(IDX_DTYPES, hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5)),
       compress=st.booleans())
def test_idx_round_trip(tmp_path, array, compress):
    path = save_idx(tmp_path / "a.idx", array, compress=compress)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
    loaded = load_idx(path)
    assert loaded.shape == array.shape and loaded.dtype == array.dtype.newbyteorder("=")
    np.testing.assert_array_equal(loaded, array)


def test_gzip_is_detected_by_magic_bytes_not_name(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    plain_named_gz = tmp_path / "plain.gz"
    plain_named_gz.write_bytes(idx_bytes(array))
    gz_named_plain = tmp_path / "packed.idx"
    gz_named_plain.write_bytes(gzip.compress(idx_bytes(array)))
    np.testing.assert_array_equal(load_idx(plain_named_gz), array)
    np.testing.assert_array_equal(load_idx(gz_named_plain), array)


def test_idx_header_layout():
    data = idx_bytes(np.zeros((2, 3), dtype=np.uint8))
    assert data[:4] == bytes([0, 0, 0x08, 2])
    assert data[4:12] == bytes([0, 0, 0, 2, 0, 0, 0, 3]) and len(data) == 12 + 6


GOOD = idx_bytes(np.arange(60, dtype=np.uint8).reshape(3, 4, 5))


@pytest.mark.parametrize("data, words", [
    (GOOD[:-1], ["truncated", "60 bytes", "found 59"]),
    (GOOD + b"\x00", ["longer than its header", "found 61"]),
    (b"\x01" + GOOD[1:], ["bad magic number", "01 00 08 03"]),
    (GOOD[:2] + b"\x07" + GOOD[3:], ["unknown type code 0x07"]),
    (GOOD[:3] + b"\x00" + GOOD[4:], ["0 dimensions"]),
    (GOOD[:8], ["needs 16 bytes", "found only 8"]),
    (GOOD[:2], ["4-byte IDX header"]),
    (bytes([0, 0, 8, 1, 0, 0, 0, 0]), ["dimensions must be positive"]),
    (gzip.compress(GOOD)[:-12], ["gzip data is truncated or corrupt"]),
    (gzip.compress(GOOD[:-5]), ["truncated", "found 55"]),
])
def test_bad_idx_files_raise_idx_error_naming_the_file(tmp_path, data, words):
    path = tmp_path / "broken-idx3-ubyte"
    path.write_bytes(data)
    with pytest.raises(IDXError) as caught:
        load_idx(path)
    assert isinstance(caught.value, ValueError)
    message = str(caught.value)
    assert str(path) in message
    for word in words:
        assert word in message


def test_save_idx_rejects_unsupported_dtypes(tmp_path):
    with pytest.raises(IDXError, match="float16"):
        save_idx(tmp_path / "x", np.zeros(3, dtype=np.float16))


# ---------------------------------------------------------- where data is found

def write_dataset(directory, train_count, test_count=3, gz=True):
    """Four tiny valid IDX files; image pixels all equal ``train_count`` to tell sets apart."""
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for split, count in (("train", train_count), ("test", test_count)):
        images_stem, labels_stem = sources.FILE_STEMS[split]
        save_idx(directory / (images_stem + suffix), np.full((count, 28, 28), train_count, np.uint8))
        save_idx(directory / (labels_stem + suffix), (np.arange(count) % 10).astype(np.uint8))
    return directory


def test_lookup_order(places, monkeypatch, capsys):
    write_dataset(places / "embedded", 11)
    write_dataset(places / "cache" / "minicnn" / "fashion-mnist", 12, gz=False)
    write_dataset(places / "debian", 13)
    write_dataset(places / "env" / "fashion-mnist", 14)
    write_dataset(places / "given", 15)
    monkeypatch.setenv("MINICNN_DATA", str(places / "env"))
    kinds = [kind for kind, _, _ in describe_sources("fashion-mnist", path=places / "given")]
    assert kinds == ["path argument", "$MINICNN_DATA directory",
                     "Debian package dataset-fashion-mnist", "user cache", "embedded sample"]
    assert len(load_dataset("fashion-mnist", path=places / "given", verbose=False)) == 15
    expected = [(14, places / "env" / "fashion-mnist"), (13, places / "debian"),
                (12, places / "cache" / "minicnn" / "fashion-mnist"), (11, places / "embedded")]
    for count, directory in expected:
        data = load_dataset("fashion-mnist", "train")
        assert len(data) == count and data.images[0, 0, 0] == count
        *notes, line = capsys.readouterr().err.splitlines()
        assert line.startswith(f"minicnn: fashion-mnist/train: {count} images from")
        assert f"({directory})" in line and data.source.endswith(f"({directory})")
        if count == 14:
            assert notes == []
        else:  # $MINICNN_DATA is still set, but its files are gone: say so, in one line
            assert len(notes) == 1 and notes[0].startswith(f"minicnn: $MINICNN_DATA={places / 'env'} was not used")
            assert "train-images-idx3-ubyte is missing" in notes[0]
        for stem in STEMS:
            sources.find_file(directory, stem).unlink()  # next time, the next place wins


def test_describe_sources_reports_what_is_found(places):
    write_dataset(places / "cache" / "minicnn" / "mnist", 5)
    rows = describe_sources("mnist")
    assert rows == [("$MINICNN_DATA directory", "(not set)", False),
                    ("user cache", str(places / "cache" / "minicnn" / "mnist"), True)]


def test_dataset_fields_and_labels(places):
    write_dataset(places / "embedded", 20, test_count=7)
    data = load_dataset("fashion-mnist", "test", verbose=False)
    assert data.images.shape == (7, 28, 28) and data.images.dtype == np.uint8
    assert data.labels.dtype == np.int64 and list(data.labels) == [0, 1, 2, 3, 4, 5, 6]
    assert data.classes[0] == "T-shirt/top" and data.classes[9] == "Ankle boot"
    assert (data.name, data.split) == ("fashion-mnist", "test")


def test_missing_mnist_error_lists_every_place_and_how_to_fetch(places):
    with pytest.raises(FileNotFoundError) as caught:
        load_dataset("mnist")
    message = str(caught.value)
    for words in ["$MINICNN_DATA", "user cache", str(places / "cache"), "minicnn data --fetch mnist"]:
        assert words in message


def test_explicit_path_without_files_is_an_error(places):
    write_dataset(places / "embedded", 11)
    (places / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_dataset("fashion-mnist", path=places / "empty")


def test_unknown_names_and_splits(places):
    with pytest.raises(ValueError, match="fashion-mnist, mnist"):
        load_dataset("cifar10")
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load_dataset("mnist", split="validation")


def test_labels_out_of_range_are_rejected(places):
    directory = write_dataset(places / "embedded", 4)
    save_idx(directory / "train-labels-idx1-ubyte.gz", np.array([0, 1, 10, 2], np.uint8))
    with pytest.raises(DataError, match="0..9"):
        load_dataset("fashion-mnist", verbose=False)


# ------------------------------------------------------------------ downloads

@pytest.fixture
def server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path/served; yields (directory, url)."""
    served = tmp_path / "served"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    thread.join()


def serve_mnist(served, monkeypatch, count=4):
    """Write the four .gz files into ``served`` and inject their SHA-256 as the published ones."""
    write_dataset(served, count)
    hashes = {f"{stem}.gz": hashlib.sha256((served / f"{stem}.gz").read_bytes()).hexdigest()
              for stem in STEMS}
    monkeypatch.setitem(sources.SHA256, "mnist", hashes)
    return hashes


def test_fetch_fills_the_cache(places, server, monkeypatch):
    served, url = server
    serve_mnist(served, monkeypatch)
    directory = fetch("mnist", base_url=url, verbose=False)
    assert directory == places / "cache" / "minicnn" / "mnist"
    assert sorted(os.listdir(directory)) == sorted(f"{stem}.gz" for stem in STEMS)
    data = load_dataset("mnist", verbose=False)
    assert data.source.startswith("user cache") and len(data) == 4 and data.classes[3] == "3"
    for stem in STEMS:  # a second fetch keeps verified files and downloads nothing
        (served / f"{stem}.gz").unlink()
    assert fetch("mnist", base_url=url, verbose=False) == directory


def test_fetch_reads_the_mirror_from_the_environment(places, server, monkeypatch):
    served, url = server
    serve_mnist(served / "mnist", monkeypatch)
    monkeypatch.setenv("MINICNN_DATA_URL", url + "{name}")
    assert len(os.listdir(fetch("mnist", verbose=False))) == 4


def test_fetch_with_wrong_hash_leaves_nothing(places, server, monkeypatch):
    served, url = server
    hashes = serve_mnist(served, monkeypatch)
    monkeypatch.setitem(sources.SHA256, "mnist", {**hashes, "train-images-idx3-ubyte.gz": "0" * 64})
    with pytest.raises(FetchError, match="SHA-256 mismatch: expected 0000"):
        fetch("mnist", base_url=url, verbose=False)
    assert os.listdir(places / "cache" / "minicnn" / "mnist") == []


def test_fetch_of_truncated_file_with_matching_hash_leaves_nothing(places, server, monkeypatch):
    served, url = server
    hashes = serve_mnist(served, monkeypatch)
    truncated = gzip.compress(read_bytes(served / "train-images-idx3-ubyte.gz")[:-100])
    (served / "train-images-idx3-ubyte.gz").write_bytes(truncated)
    hashes["train-images-idx3-ubyte.gz"] = hashlib.sha256(truncated).hexdigest()
    with pytest.raises(FetchError, match="truncated"):
        fetch("mnist", base_url=url, verbose=False)
    assert os.listdir(places / "cache" / "minicnn" / "mnist") == []


def test_fetch_of_missing_file_is_a_clear_error(places, server, monkeypatch):
    served, url = server
    serve_mnist(served, monkeypatch)
    (served / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FetchError, match="404.*copy the file by hand"):
        fetch("mnist", base_url=url, verbose=False)
    left = os.listdir(places / "cache" / "minicnn" / "mnist")
    assert "t10k-labels-idx1-ubyte.gz" not in left and not any(name.endswith(".part") for name in left)


# ------------------------------------------------------- the real data shipped

@pytest.fixture(scope="module")
def embedded():
    return {split: load_dataset("fashion-mnist", split, path=EMBEDDED, verbose=False)
            for split in ("train", "test")}


def test_embedded_sample_is_stratified_and_small(embedded):
    for split, per_class in (("train", 600), ("test", 100)):
        data = embedded[split]
        assert data.images.shape == (10 * per_class, 28, 28) and len(data.classes) == 10
        assert list(np.bincount(data.labels, minlength=10)) == [per_class] * 10
    assert sum(path.stat().st_size for path in EMBEDDED.iterdir()) <= 5 * 2**20


def test_embedded_sample_is_the_fallback(places, monkeypatch):
    monkeypatch.setattr(sources, "EMBEDDED_DIRS", {"fashion-mnist": EMBEDDED})
    assert load_dataset("fashion-mnist", verbose=False).source.startswith("embedded sample")


@pytest.fixture(scope="module")
def debian():
    return {split: read_split(DEBIAN, split, sources.CLASSES["fashion-mnist"])
            for split in ("train", "test")}


@needs_debian
def test_debian_package_holds_the_full_dataset(debian):
    assert debian["train"][0].shape == (60000, 28, 28) and debian["test"][0].shape == (10000, 28, 28)
    assert list(np.bincount(debian["train"][1])) == [6000] * 10
    raw = hashlib.sha256(read_bytes(DEBIAN / "train-images-idx3-ubyte.gz")).hexdigest()
    assert raw == "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"  # upstream contents


@needs_debian
def test_embedded_images_are_real_fashion_mnist(embedded, debian):
    rng = np.random.default_rng(0)  # make_embedded's default seed: train first, then test
    for split, per_class in (("train", 600), ("test", 100)):
        images, labels = debian[split]
        indices = make_embedded.sample_indices(labels, per_class, rng)
        np.testing.assert_array_equal(embedded[split].images, images[indices])
        np.testing.assert_array_equal(embedded[split].labels, labels[indices])


# ------------------------------------------------------ preprocessing, batches

def test_to_float_normalize_mean_std():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    x = to_float(images)
    assert x.shape == (1, 1, 2, 2) and x.dtype == np.float32
    np.testing.assert_allclose(x.ravel(), [0, 1, 0.2, 0.4], rtol=1e-6)
    mean, std = mean_std(images, chunk=1)
    assert mean == pytest.approx(0.4) and std == pytest.approx(np.std(x.astype(np.float64)))
    z = normalize(x, mean, std)
    assert z.dtype == np.float32 and float(z.mean()) == pytest.approx(0, abs=1e-6)
    with pytest.raises(ValueError, match="positive std"):
        normalize(x, 0, 0)


@pytest.mark.parametrize("count, batch_size, drop_last, batches", [
    (10, 3, False, 4), (10, 3, True, 3), (9, 3, True, 3), (2, 5, True, 0),
])
def test_loader_covers_every_sample_once(count, batch_size, drop_last, batches):
    loader = DataLoader(np.arange(count) * 10, np.arange(count), batch_size, drop_last=drop_last)
    assert len(loader) == batches
    seen = [(x, y) for x, y in loader]
    assert len(seen) == batches
    labels = np.concatenate([y for _, y in seen]) if seen else np.array([], int)
    assert len(set(labels)) == len(labels) == (count // batch_size * batch_size if drop_last else count)
    assert all(np.array_equal(x, y * 10) for x, y in seen)


def test_loader_is_seeded_and_resumable():
    def run(seed, epochs, start=0):
        loader = DataLoader(np.arange(50), np.arange(50), 8, seed=seed)
        loader.set_epoch(start)
        return [np.concatenate([y for _, y in loader]) for _ in range(epochs)]

    first = run(seed=1, epochs=3)
    assert all(np.array_equal(a, b) for a, b in zip(first, run(seed=1, epochs=3)))
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(first[0], run(seed=2, epochs=1)[0])
    np.testing.assert_array_equal(run(seed=1, epochs=1, start=2)[0], first[2])
    unshuffled = DataLoader(np.arange(5), np.arange(5), 2, shuffle=False)
    np.testing.assert_array_equal(np.concatenate([y for _, y in unshuffled]), np.arange(5))


def test_loader_augmentation_is_reproducible_per_epoch():
    images = np.random.default_rng(0).integers(0, 256, (6, 1, 8, 8), dtype=np.uint8)
    loader = DataLoader(images, np.arange(6), 3, seed=4, transform=Compose([ToFloat(), RandomShift(0.25)]))
    first = [x for x, _ in loader]
    loader.set_epoch(0)
    again = [x for x, _ in loader]
    assert first[0].dtype == np.float32 and first[0].shape == (3, 1, 8, 8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    with pytest.raises(ValueError, match="6 images but 5 labels"):
        DataLoader(images, np.arange(5), 2)


# --------------------------------------------------------------- augmentation

def batch(dtype=np.float32, shape=(4, 2, 7, 7)):
    return np.random.default_rng(1).integers(0, 256, shape).astype(dtype)


ALL_TRANSFORMS = [
    RandomShift(0.2), RandomShift(0.2, fill="constant"), RandomCrop(7, padding=2),
    RandomHorizontalFlip(), RandomRotation(40), RandomZoom(0.2), RandomShear(0.2), keras_example(seed=0),
]


@pytest.mark.parametrize("transform", ALL_TRANSFORMS, ids=lambda t: type(t).__name__)
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_transforms_keep_shape_and_dtype(transform, dtype):
    x = batch(dtype)
    out = transform(x, np.random.default_rng(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    np.testing.assert_array_equal(out, transform(x, np.random.default_rng(0)))  # rng decides everything
    assert np.isin(out, np.append(x, 0)).all()  # nearest-neighbour: no new values


@pytest.mark.parametrize("transform", [
    RandomShift(0), RandomRotation(0), RandomZoom(0), RandomShear(0), RandomCrop(7, padding=0),
    RandomHorizontalFlip(p=0.0), RandomRotation((0, 0)),
], ids=repr)
def test_zero_strength_transforms_are_identity(transform):
    x = batch()
    np.testing.assert_array_equal(transform(x, np.random.default_rng(3)), x)


def test_flip_is_an_exact_mirror():
    x = batch()
    np.testing.assert_array_equal(RandomHorizontalFlip(p=1.0)(x), x[:, :, :, ::-1])
    which = [True, False, True, False]
    flipped = geometry.flip_horizontal(x, which)
    np.testing.assert_array_equal(flipped[0], x[0, :, :, ::-1])
    np.testing.assert_array_equal(flipped[1], x[1])


@pytest.mark.parametrize("size", [6, 7])
@pytest.mark.parametrize("degrees, turns", [(90, 1), (-90, -1), (180, 2), (270, 3)])
def test_rotation_by_quarter_turns_equals_rot90(size, degrees, turns):
    x = batch(shape=(2, 3, size, size))
    np.testing.assert_array_equal(geometry.rotate(x, degrees), np.rot90(x, turns, axes=(2, 3)))


def test_shift_moves_pixels_down_and_right():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    constant = geometry.shift(x, 1, 2, fill="constant")[0, 0]
    np.testing.assert_array_equal(constant[1:, 2:], x[0, 0, :3, :2])
    assert (constant[0] == 0).all() and (constant[:, :2] == 0).all()
    nearest = geometry.shift(x, 1, 2, fill="nearest")[0, 0]
    np.testing.assert_array_equal(nearest[0], [0, 0, 0, 1])  # top row repeats the border


def test_zoom_and_crop_by_hand():
    x = np.arange(25, dtype=np.float32).reshape(1, 1, 5, 5)
    zoomed = geometry.zoom(x, 5 / 3)[0, 0]  # the centre 3x3 block fills the image
    assert zoomed[2, 2] == 12 and zoomed[0, 0] == 6 and zoomed[4, 4] == 18
    cropped = geometry.crop(x, (3, 2), tops=[1], lefts=[0], padding=1)[0, 0]
    np.testing.assert_array_equal(cropped, np.pad(x[0, 0], 1)[1:4, 0:2])
    with pytest.raises(ValueError, match="does not fit"):
        RandomCrop(8, padding=1)(x)


def test_shear_moves_rows_in_proportion_to_their_height():
    x = np.zeros((1, 1, 5, 5), np.float32)
    x[0, 0, :, 2] = 1  # a vertical line through the centre
    sheared = geometry.shear(x, 1.0, fill="constant")[0, 0]
    assert [int(np.flatnonzero(row)[0]) for row in sheared] == [4, 3, 2, 1, 0]


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        RandomShift(0.1)(np.zeros((3, 28, 28)))
    with pytest.raises(ValueError, match="unknown fill"):
        geometry.rotate(batch(), 10, fill="wrap")
    with pytest.raises(ValueError, match="to_float expects"):
        to_float(np.zeros((2, 2), np.uint8))


@pytest.mark.skipif(backend.cupy is None, reason=f"needs CuPy and a GPU: {backend.cupy_reason}")
def test_transforms_on_cupy_match_numpy():
    cupy = backend.cupy
    x = batch(shape=(3, 1, 9, 9))
    for transform in ALL_TRANSFORMS + [ToFloat()]:
        expected = transform(x.astype(np.uint8), np.random.default_rng(5))
        found = transform(cupy.asarray(x.astype(np.uint8)), np.random.default_rng(5))
        np.testing.assert_array_equal(cupy.asnumpy(found), expected)
    loader = DataLoader(cupy.asarray(x), np.arange(3), 2)
    assert [type(x_batch) for x_batch, _ in loader] == [cupy.ndarray] * 2
