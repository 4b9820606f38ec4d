"""Hostile and careless use of minicnn.data (issue 12): every bad input a clear error.

Each test hands minicnn.data something a tired user or an attacker could:
a gzip bomb, a header that lies, labels that are not classes, a setting that
points at nothing, a server that breaks the protocol, Ctrl-C in a download.
Each asserts the error type (DataError, IDXError, FetchError, ...), that the
message names the file or setting, what it found and what it needed, and
that no file on disk changed or was left behind. Servers listen on
127.0.0.1 only, and every wait is bounded.
"""

import _thread
import contextlib
import gzip
import hashlib
import os
import socket
import struct
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from minicnn.data import (
    DataError, DataLoader, FetchError, IDXError, fetch, load_dataset, load_idx, mean_std,
    normalize, save_idx, sources, to_float,
)
from minicnn.data.datasets import read_split
from minicnn.data.download import FetchInterrupted, download_verified
from minicnn.data.idx import MAX_DEFLATE_RATIO, idx_bytes

STEMS = sources.FILE_STEMS["train"] + sources.FILE_STEMS["test"]
TIMEOUT = 10  # seconds: the most any server thread or socket here waits


def snapshot(directory):
    """Every file under ``directory`` with its bytes: to show nothing changed."""
    directory = Path(directory)
    return {path.relative_to(directory): path.read_bytes()
            for path in sorted(directory.rglob("*")) if path.is_file() and not path.is_symlink()}


def write_dataset(directory, count=4, gz=True):
    """Four tiny valid IDX files: ``count`` train and 3 test images, labels 0, 1, 2, ..."""
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for split, number in (("train", count), ("test", 3)):
        images_stem, labels_stem = sources.FILE_STEMS[split]
        save_idx(directory / (images_stem + suffix), np.full((number, 28, 28), 7, np.uint8))
        save_idx(directory / (labels_stem + suffix), (np.arange(number) % 10).astype(np.uint8))
    return directory


def measured(function, *args):
    """``(error, peak_bytes, seconds)`` of ``function(*args)``, which must raise."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        function(*args)
    except Exception as error:  # noqa: BLE001 - returned for the caller to check
        caught = error
    else:
        caught = None
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return caught, peak, seconds


# ------------------------------------------------------------- 1. gzip bombs and lying headers

IMAGES_HEADER = idx_bytes(np.zeros((10, 28, 28), np.uint8))[:16]  # promises 10 images, 7840 bytes


def zeros_gzip(header, inflated_bytes, members=1):
    """A gzip file: ``header`` then ``inflated_bytes`` zeros, in ``members`` identical members."""
    per_member = inflated_bytes // members
    block = gzip.compress(b"\0" * per_member, compresslevel=9, mtime=0)
    return gzip.compress(header, mtime=0) + block * members


def test_gzip_bomb_stops_at_the_size_the_header_promises(tmp_path):
    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    bomb.write_bytes(zeros_gzip(IMAGES_HEADER, 10 * 2**20))  # 10 KB that inflates to 10 MB
    assert bomb.stat().st_size < 20_000
    error, peak, seconds = measured(load_idx, bomb)
    assert isinstance(error, IDXError)
    message = str(error)
    assert str(bomb) in message and "(10, 28, 28)" in message and "7840 bytes" in message
    assert "longer than its header says" in message and "more than 7840" in message
    assert peak < 1 * 2**20, f"reading a bomb used {peak} bytes; it should stop after 7841"
    assert seconds < 2


def test_gigabyte_gzip_bomb_costs_nothing(tmp_path):
    bomb = tmp_path / "bomb.gz"
    bomb.write_bytes(zeros_gzip(IMAGES_HEADER, 2**30, members=1024))  # 1 MB that inflates to 1 GiB
    error, peak, seconds = measured(load_idx, bomb)
    assert isinstance(error, IDXError) and "longer than its header says" in str(error)
    assert peak < 1 * 2**20 and seconds < 2


def test_gzip_header_promising_more_than_deflate_can_hold_is_refused_before_allocating(tmp_path):
    liar = tmp_path / "liar.gz"
    liar.write_bytes(gzip.compress(bytes([0, 0, 8, 3]) + struct.pack(">3I", 2**32 - 1, 2**32 - 1, 28)))
    error, peak, _ = measured(load_idx, liar)
    assert isinstance(error, IDXError)
    message = str(error)
    assert str(liar) in message and "(4294967295, 4294967295, 28)" in message
    assert f"at most {liar.stat().st_size * MAX_DEFLATE_RATIO} bytes" in message
    assert "about 10^20 bytes" in message and "header is corrupt" in message
    assert peak < 2**20


def test_uncompressed_header_promising_terabytes_is_compared_with_the_file_size(tmp_path):
    liar = tmp_path / "liar-idx3-ubyte"
    liar.write_bytes(bytes([0, 0, 0x0E, 2]) + struct.pack(">2I", 2**20, 2**20) + b"\0" * 64)
    error, peak, _ = measured(load_idx, liar)
    assert isinstance(error, IDXError)
    message = str(error)
    assert "(1048576, 1048576) of float64" in message and "8796093022208 bytes (8.8 TB)" in message
    assert "found 64" in message and "truncated" in message and peak < 2**20


def test_gzip_with_garbage_after_the_stream_is_refused(tmp_path):
    path = tmp_path / "tail.gz"
    good = idx_bytes(np.arange(60, dtype=np.uint8).reshape(3, 4, 5))
    path.write_bytes(gzip.compress(good) + b"<html>not gzip</html>")
    with pytest.raises(IDXError, match="gzip data is truncated or corrupt"):
        load_idx(path)


def test_gzip_whose_checksum_is_wrong_is_refused(tmp_path):
    path = tmp_path / "crc.gz"
    packed = bytearray(gzip.compress(idx_bytes(np.arange(60, dtype=np.uint8))))
    packed[-8] ^= 0xFF  # the CRC-32 of the inflated bytes
    path.write_bytes(bytes(packed))
    with pytest.raises(IDXError, match="CRC check failed"):
        load_idx(path)


def test_multi_member_gzip_and_a_near_maximal_ratio_still_load(tmp_path):
    images = np.zeros((2000, 28, 28), np.uint8)  # zeros: deflate at close to its best ratio
    data = idx_bytes(images)
    path = tmp_path / "members.gz"
    path.write_bytes(gzip.compress(data[:1000]) + gzip.compress(data[1000:]))
    np.testing.assert_array_equal(load_idx(path), images)
    assert load_idx(path).flags.writeable


@pytest.mark.parametrize("data, words", [
    (b"", ["found only 0 bytes", "the file is empty"]),
    (gzip.compress(b""), ["found only 0 bytes", "the file is empty"]),
    (bytes([0, 0, 8, 3]) + struct.pack(">3I", 0, 28, 28), ["(0, 28, 28)", "0 images"]),
    (b"\x1f\x8b", ["gzip data is truncated or corrupt"]),
    (b"%PDF-1.7\n", ["bad magic number", "25 50 44 46"]),
])
def test_empty_and_zero_image_files(tmp_path, data, words):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(data)
    with pytest.raises(IDXError) as caught:
        load_idx(path)
    assert str(path) in str(caught.value)
    for word in words:
        assert word in str(caught.value)


def test_a_directory_where_a_file_is_expected(tmp_path):
    (tmp_path / "images.gz").mkdir()
    with pytest.raises(IDXError, match=r"images.gz is a directory; an IDX file is an ordinary file"):
        load_idx(tmp_path / "images.gz")


def test_devices_and_pipes_are_refused_before_they_are_opened(tmp_path):
    with pytest.raises(IDXError, match="/dev/null is not a regular file"):
        load_idx("/dev/null")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result = {}

    def read():  # opening a pipe with no writer would block forever
        try:
            load_idx(fifo)
        except Exception as error:  # noqa: BLE001
            result["error"] = error

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(TIMEOUT)
    if reader.is_alive():  # unblock it before failing
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("load_idx opened a named pipe and blocked")
    assert isinstance(result["error"], IDXError) and "not a regular file" in str(result["error"])


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_idx(tmp_path / "nowhere")


def test_reading_changes_no_file(tmp_path):
    bomb = tmp_path / "bomb.gz"
    bomb.write_bytes(zeros_gzip(IMAGES_HEADER, 2**20))
    before = snapshot(tmp_path)
    with pytest.raises(IDXError):
        load_idx(bomb)
    assert snapshot(tmp_path) == before


# ---------------------------------------------------- 2. labels and images that are not the dataset

def broken(places, filename, array):
    """A fashion-mnist directory in the embedded place with ``filename`` replaced by ``array``."""
    directory = write_dataset(places / "embedded")
    save_idx(directory / filename, array)
    return directory


@pytest.mark.parametrize("labels, words", [
    (np.array([0.0, 1.0, 2.7, 3.0]), ["labels are float64", "whole numbers", "integers"]),
    (np.array([0, 1, 2, 3], np.float32), ["labels are float32"]),
    (np.array([0, 1, 200, 3], np.uint8), ["0..9", "10 classes", "found 200 at index 2"]),
    (np.array([0, -1, 2, -5], np.int8), ["0..9", "found -1 at index 1", "(2 of 4 labels out of range)"]),
    (np.array([0, 1, 2], np.uint8), ["holds 3 labels", "holds 4 images", "exactly one label"]),
    (np.array([0, 1, 2, 3, 4], np.uint8), ["holds 5 labels", "holds 4 images"]),
    (np.zeros((4, 28, 28), np.uint8), ["shape (N,)", "(4, 28, 28)", "an images file?"]),
])
def test_bad_labels_are_refused_naming_the_file(places, labels, words):
    directory = broken(places, "train-labels-idx1-ubyte.gz", labels)
    before = snapshot(directory)
    with pytest.raises(DataError) as caught:
        load_dataset("fashion-mnist", verbose=False)
    message = str(caught.value)
    assert str(directory / "train-labels-idx1-ubyte.gz") in message
    for word in words:
        assert word in message
    assert snapshot(directory) == before


@pytest.mark.parametrize("images, words", [
    (np.zeros((4, 32, 32), np.uint8), ["images are 32x32", "28x28"]),
    (np.zeros((4, 28, 27), np.uint8), ["images are 28x27"]),
    (np.zeros((4, 28, 28), np.int16), ["images are int16", "uint8", "0..255"]),
    (np.zeros((4, 28, 28), np.float32), ["images are float32"]),
    (np.zeros((4, 784), np.uint8), ["(N, rows, cols)", "(4, 784)"]),
    (np.zeros(4, np.uint8), ["(N, rows, cols)", "a labels file?"]),
])
def test_images_of_the_wrong_kind_are_refused_naming_the_file(places, images, words):
    directory = broken(places, "train-images-idx3-ubyte.gz", images)
    with pytest.raises(DataError) as caught:
        load_dataset("fashion-mnist", verbose=False)
    message = str(caught.value)
    assert str(directory / "train-images-idx3-ubyte.gz") in message
    for word in words:
        assert word in message


def test_errors_are_value_errors_for_the_command_line(places):
    broken(places, "train-labels-idx1-ubyte.gz", np.array([9, 10, 11, 12], np.uint8))
    with pytest.raises(ValueError):  # minicnn's command line reports ValueErrors without a traceback
        load_dataset("fashion-mnist", verbose=False)
    assert issubclass(IDXError, DataError) and issubclass(DataError, ValueError)


def test_a_test_split_of_zero_images(places):
    directory = write_dataset(places / "embedded")
    (directory / "t10k-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(bytes([0, 0, 8, 3]) + struct.pack(">3I", 0, 28, 28)))
    with pytest.raises(IDXError, match=r"dimensions must be positive, found \(0, 28, 28\)"):
        load_dataset("fashion-mnist", "test", verbose=False)


# --------------------------------------------------------- 3. where data is looked for

def source_lines(capsys):
    return capsys.readouterr().err.splitlines()


def test_minicnn_data_pointing_at_nothing_is_reported(places, monkeypatch, capsys):
    write_dataset(places / "embedded")
    monkeypatch.setenv("MINICNN_DATA", str(places / "typo"))
    data = load_dataset("fashion-mnist", verbose=True)
    note, line = source_lines(capsys)
    assert note == (f"minicnn: $MINICNN_DATA={places / 'typo'} was not used: "
                    f"{places / 'typo' / 'fashion-mnist'} does not exist")
    assert line.startswith("minicnn: fashion-mnist/train: 4 images from the embedded sample")
    assert data.source.startswith("embedded sample")


def test_minicnn_data_without_the_dataset_names_what_is_missing(places, monkeypatch, capsys):
    write_dataset(places / "embedded")
    directory = write_dataset(places / "env" / "fashion-mnist")
    (directory / "t10k-labels-idx1-ubyte.gz").unlink()
    (directory / "train-images-idx3-ubyte.gz").unlink()
    (directory / "train-images-idx3-ubyte.gz").mkdir()
    monkeypatch.setenv("MINICNN_DATA", str(places / "env"))
    load_dataset("fashion-mnist")
    note, line = source_lines(capsys)
    assert note.startswith(f"minicnn: $MINICNN_DATA={places / 'env'} was not used: in {directory}, ")
    assert "train-images-idx3-ubyte.gz is a directory, not a file" in note
    assert "t10k-labels-idx1-ubyte is missing" in note and "from the embedded sample" in line


def test_minicnn_data_set_to_the_dataset_directory_itself_suggests_its_parent(places, monkeypatch, capsys):
    write_dataset(places / "embedded")
    write_dataset(places / "sets" / "fashion-mnist")
    monkeypatch.setenv("MINICNN_DATA", str(places / "sets" / "fashion-mnist"))
    load_dataset("fashion-mnist")
    note, _ = source_lines(capsys)
    assert f"set MINICNN_DATA={places / 'sets'}" in note


def test_minicnn_data_that_is_used_or_unset_says_nothing_more(places, monkeypatch, capsys):
    write_dataset(places / "env" / "mnist")
    monkeypatch.setenv("MINICNN_DATA", str(places / "env"))
    load_dataset("mnist")
    assert len(source_lines(capsys)) == 1
    monkeypatch.setenv("MINICNN_DATA", "")  # set but empty: the same as unset
    write_dataset(places / "cache" / "minicnn" / "mnist")
    load_dataset("mnist")
    assert len(source_lines(capsys)) == 1


def test_nothing_found_error_also_says_why_minicnn_data_was_not_used(places, monkeypatch):
    monkeypatch.setenv("MINICNN_DATA", str(places / "typo"))
    with pytest.raises(FileNotFoundError) as caught:
        load_dataset("mnist")
    assert f"$MINICNN_DATA={places / 'typo'} was not used: {places / 'typo' / 'mnist'} does not exist" \
        in str(caught.value)


def test_an_explicit_path_overrides_minicnn_data_without_a_note(places, monkeypatch, capsys):
    given = write_dataset(places / "given")
    monkeypatch.setenv("MINICNN_DATA", str(places / "typo"))
    load_dataset("mnist", path=given)
    assert len(source_lines(capsys)) == 1


@pytest.mark.parametrize("name", ["../../etc", "mnist/../../etc", "/etc", "mnist/", "", None, 7, "MNIST\0"])
def test_dataset_names_never_become_paths(places, name):
    for call in (lambda: load_dataset(name), lambda: fetch(name), lambda: sources.cache_dir(name)):
        with pytest.raises(DataError, match="unknown dataset .*choose one of fashion-mnist, mnist"):
            call()
    assert not (places / "cache").exists()


@pytest.mark.parametrize("name, suggestion", [("Fashion-MNIST", "fashion-mnist"), ("fashion_mnist", "fashion-mnist"),
                                              ("mnsit", "mnist")])
def test_near_miss_names_get_a_suggestion(places, name, suggestion):
    with pytest.raises(DataError, match=f"did you mean '{suggestion}'"):
        load_dataset(name)


@pytest.mark.parametrize("make, words", [
    (lambda root: root / "absent", ["does not exist"]),
    (lambda root: write_dataset(root / "d") / "train-images-idx3-ubyte.gz",
     ["is a file, not a directory", "pass the directory"]),
])
def test_explicit_path_that_is_not_a_dataset_directory(places, make, words):
    path = make(places)
    with pytest.raises(FileNotFoundError) as caught:
        load_dataset("mnist", path=path)
    assert f"mnist not found at path='{path}'" in str(caught.value)
    for word in words:
        assert word in str(caught.value)


def test_empty_path_string_is_not_the_current_directory(places):
    with pytest.raises(DataError, match="path is an empty string"):
        load_dataset("mnist", path="")


@pytest.mark.parametrize("split", ["Train", "validation", ["train"], None])
def test_unknown_splits(places, split):
    with pytest.raises(DataError, match="unknown split .*choose 'train' or 'test'"):
        load_dataset("mnist", split)


def test_broken_symlink_is_explained(places):
    directory = write_dataset(places / "d")
    (directory / "train-labels-idx1-ubyte.gz").unlink()
    (directory / "train-labels-idx1-ubyte.gz").symlink_to(places / "gone")
    with pytest.raises(FileNotFoundError, match=r"train-labels-idx1-ubyte.gz is a broken symbolic link \(to "):
        load_dataset("mnist", path=directory)


def test_symlink_to_a_file_that_is_not_idx_names_the_link(places):
    directory = write_dataset(places / "d")
    (directory / "train-images-idx3-ubyte.gz").unlink()
    (directory / "train-images-idx3-ubyte.gz").symlink_to("/etc/hostname")
    with pytest.raises(IDXError) as caught:
        load_dataset("mnist", path=directory)
    assert str(directory / "train-images-idx3-ubyte.gz") in str(caught.value)


# ----------------------------------------------------------------------- 4. downloads

class RawServer:
    """A TCP server on 127.0.0.1: each connection gets ``reply(connection)`` after its request.

    It serves at most ``limit`` connections, for at most TIMEOUT seconds, so a
    test that goes wrong cannot hang; ``close`` stops it within 0.05 s.
    """

    def __init__(self, reply, limit=8):
        self.reply, self.limit = reply, limit
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}/"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        deadline, served = time.monotonic() + TIMEOUT, 0
        while served < self.limit and not self.stop.is_set() and time.monotonic() < deadline:
            try:
                connection, _ = self.socket.accept()
            except TimeoutError:
                continue
            served += 1
            with connection, contextlib.suppress(OSError):
                connection.settimeout(TIMEOUT)
                request = b""
                while b"\r\n\r\n" not in request and len(request) < 65536:
                    part = connection.recv(4096)
                    if not part:
                        break
                    request += part
                self.reply(connection)

    def close(self):
        self.stop.set()
        self.thread.join(TIMEOUT)
        self.socket.close()


@pytest.fixture
def raw_server():
    servers = []

    def start(reply, limit=8):
        servers.append(RawServer(reply, limit))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def sends(data, reset=False):
    """A reply that sends ``data`` and closes (with a TCP reset when ``reset``)."""
    def reply(connection):
        connection.sendall(data)
        if reset:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return reply


@pytest.fixture
def cache(places):
    """The (empty) cache directory of mnist, created the way fetch creates it."""
    directory = places / "cache" / "minicnn" / "mnist"
    directory.mkdir(parents=True)
    return directory


def fetch_error(url, **kwargs):
    with pytest.raises(FetchError) as caught:
        fetch("mnist", base_url=url, verbose=False, **kwargs)
    return str(caught.value)


FIRST = "train-images-idx3-ubyte.gz"  # the first file fetch downloads


@pytest.mark.parametrize("reply, words", [
    (sends(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" + b"x" * 100),
     ["closed in the middle of the file; the reply was cut short"]),
    (sends(b"SSH-2.0-OpenSSH_9.6\r\n"), ["the reply is not HTTP", "SSH-2.0-OpenSSH_9.6"]),
    (sends(b"\x16\x03\x01\x02\x00garbage\r\n\r\n"), ["the reply is not HTTP"]),
    (sends(b""), ["closed the connection without replying"]),
    (sends(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 100, reset=True),
     ["connection was reset or broken after", "Connection reset by peer"]),
    (sends(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"),
     ["HTTP 500 Internal Server Error"]),
    (sends(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"), ["HTTP 403 Forbidden"]),
    (sends(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 100),
     ["closed the connection after 100 of the 5000 bytes it announced"]),
    (sends(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n"),
     ["announces 1000000000000 bytes", "published file has 9912422"]),
])
def test_protocol_failures_become_fetch_errors(cache, raw_server, reply, words):
    server = raw_server(reply)
    message = fetch_error(server.url)
    assert message.startswith(f"could not download {server.url}{FIRST}: ")
    for word in words:
        assert word in message
    assert "copy the file by hand" in message and os.listdir(cache) == []


def test_a_server_that_never_answers_times_out(cache, raw_server):
    stop = threading.Event()
    server = raw_server(lambda connection: stop.wait(TIMEOUT))
    try:
        message = fetch_error(server.url, timeout=0.3)
    finally:
        stop.set()
    assert "sent nothing for 0.3 s (timed out)" in message and os.listdir(cache) == []


def test_an_endless_body_is_cut_at_the_published_size(cache, raw_server, monkeypatch):
    monkeypatch.setitem(sources.SIZES, "mnist", {**sources.SIZES["mnist"], FIRST: 10_000})
    sent = []

    def endless(connection):  # no Content-Length: the body lasts until the connection closes
        connection.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
        with contextlib.suppress(OSError):
            for _ in range(2000):  # at most 8 MB, then give up
                connection.sendall(b"\0" * 4096)
                sent.append(4096)

    server = raw_server(endless)
    message = fetch_error(server.url)
    assert "sent more than the 10000 bytes of the published file; stopped there" in message
    assert os.listdir(cache) == []


def test_a_cut_short_download_leaves_the_old_file_untouched(cache, raw_server):
    (cache / FIRST).write_bytes(b"an old, wrong file the user has")
    server = raw_server(sends(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 100))
    fetch_error(server.url)
    assert os.listdir(cache) == [FIRST] and (cache / FIRST).read_bytes() == b"an old, wrong file the user has"


def test_ctrl_c_during_a_download_removes_the_part_file_and_says_so(cache, raw_server):
    seen = {}

    def interrupted(connection):
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
        seen["during"] = os.listdir(cache)
        _thread.interrupt_main()  # as if Ctrl-C were pressed now
        time.sleep(0.2)

    server = raw_server(interrupted)
    with pytest.raises(FetchInterrupted) as caught:
        fetch("mnist", base_url=server.url)
    assert isinstance(caught.value, KeyboardInterrupt)  # it still stops the program
    message = str(caught.value)
    assert message == (f"download of {server.url}{FIRST} interrupted; the partial file was removed, "
                       f"nothing was saved in {cache}")
    assert "checkpoint" not in message
    assert [name for name in seen["during"] if name.endswith(".part")], "no .part file during the download"
    assert os.listdir(cache) == []


@pytest.mark.parametrize("url, setting", [
    ("ftp://127.0.0.1/mnist/", "base_url"), ("127.0.0.1/mnist", "base_url"),
    ("javascript:alert(1)", "base_url"), ("mirror.example/{name}", "$MINICNN_DATA_URL"),
])
def test_a_download_location_that_is_not_a_url(cache, monkeypatch, url, setting):
    if setting == "$MINICNN_DATA_URL":
        monkeypatch.setenv("MINICNN_DATA_URL", url)
        url = None
    with pytest.raises(FetchError) as caught:
        fetch("mnist", base_url=url, verbose=False)
    message = str(caught.value)
    assert message.startswith(f"{setting} is ") and "must start with http:// or https://" in message
    assert os.listdir(cache) == []


def test_a_connection_refused_names_the_url(cache):
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    message = fetch_error(f"http://127.0.0.1:{port}/")  # nothing listens there any more
    assert f"http://127.0.0.1:{port}/{FIRST}: could not reach it" in message and "refused" in message


def test_a_cache_directory_that_is_a_file(places):
    (places / "cache" / "minicnn").mkdir(parents=True)
    (places / "cache" / "minicnn" / "mnist").write_text("not a directory")
    with pytest.raises(FetchError, match=r"cannot create the cache directory .*mnist .*XDG_CACHE_HOME"):
        fetch("mnist", base_url="http://127.0.0.1:9/", verbose=False)
    assert (places / "cache" / "minicnn" / "mnist").read_text() == "not a directory"


def test_a_directory_in_place_of_the_destination(cache, tmp_path):
    served = idx_bytes(np.zeros(3, np.uint8))
    source = tmp_path / "labels.gz"
    source.write_bytes(gzip.compress(served))
    (cache / "labels.gz").mkdir()
    with pytest.raises(FetchError, match="downloaded and verified, but could not save it as"):
        download_verified(source.as_uri(), cache / "labels.gz",
                          hashlib.sha256(source.read_bytes()).hexdigest(), ndim=1)
    assert os.listdir(cache) == ["labels.gz"] and (cache / "labels.gz").is_dir()


def test_a_file_url_mirror_still_works(cache, tmp_path, monkeypatch):
    mirror = write_dataset(tmp_path / "mirror")
    hashes = {f"{stem}.gz": hashlib.sha256((mirror / f"{stem}.gz").read_bytes()).hexdigest() for stem in STEMS}
    monkeypatch.setitem(sources.SHA256, "mnist", hashes)
    assert fetch("mnist", base_url=mirror.as_uri(), verbose=False) == cache
    assert len(load_dataset("mnist", verbose=False)) == 4


# ----------------------------------------------------------- 5. preprocessing and batches

def test_to_float_twice_is_refused():
    x = to_float(np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError, match="to_float expects uint8 pixels 0..255, got float32.*255 again"):
        to_float(x)


def test_mean_std_refuses_floats_and_nothing():
    with pytest.raises(DataError, match="mean_std expects uint8"):
        mean_std(np.zeros((2, 28, 28), np.float64))
    with pytest.raises(DataError, match=r"at least one pixel, got images of shape \(0, 28, 28\)"):
        mean_std(np.zeros((0, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="chunk must be a positive whole number"):
        mean_std(np.zeros((2, 28, 28), np.uint8), chunk=0)


@pytest.mark.parametrize("mean, std, words", [
    (0.0, float("nan"), "positive std"), (0.0, float("inf"), "positive std"),
    (0.0, -1.0, "positive std"), (float("nan"), 1.0, "finite mean"),
])
def test_normalize_refuses_statistics_that_would_make_nan(mean, std, words):
    with pytest.raises(ValueError, match=words):
        normalize(np.zeros((1, 1, 2, 2), np.float32), mean, std)


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, "8", True, None])
def test_loader_batch_size_must_be_a_positive_whole_number(batch_size):
    with pytest.raises(ValueError, match="batch_size must be a whole number of at least 1"):
        DataLoader(np.zeros((4, 1, 2, 2)), np.arange(4), batch_size)


# ------------------------------------------------------------- 6. writing IDX files

def test_save_idx_interrupted_keeps_the_old_file(tmp_path, monkeypatch):
    path = save_idx(tmp_path / "labels.gz", np.arange(5, dtype=np.uint8))
    before = snapshot(tmp_path)

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_idx(path, np.arange(9, dtype=np.uint8))
    assert snapshot(tmp_path) == before and os.listdir(tmp_path) == ["labels.gz"]


def test_save_idx_refuses_dimensions_the_header_cannot_hold(tmp_path):
    huge = np.broadcast_to(np.uint8(0), (2**32,))  # a view: no 4 GB allocated
    with pytest.raises(IDXError, match=r"each dimension in 32 bits, at most 4294967295; got shape \(4294967296,\)"):
        save_idx(tmp_path / "huge", huge)
    assert os.listdir(tmp_path) == []



def test_save_idx_into_a_missing_directory_names_the_file_asked_for(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No such file or directory: '.*absent/labels.gz'"):
        save_idx(tmp_path / "absent" / "labels.gz", np.arange(3, dtype=np.uint8))

# ------------------------------------------------- 7. the real data loads exactly as before

def test_real_embedded_sample_still_loads_exactly():
    embedded = Path(__file__).resolve().parents[1] / "minicnn" / "data" / "embedded"
    for split, count in (("train", 6000), ("test", 1000)):
        images, labels = read_split(embedded, split, sources.CLASSES["fashion-mnist"])
        images_stem, labels_stem = sources.FILE_STEMS[split]
        with gzip.open(embedded / f"{images_stem}.gz") as raw_images, \
                gzip.open(embedded / f"{labels_stem}.gz") as raw_labels:
            pixels, classes = raw_images.read()[16:], raw_labels.read()[8:]  # independent of minicnn
        assert images.shape == (count, 28, 28) and images.dtype == np.uint8 and labels.dtype == np.int64
        assert images.tobytes() == pixels and labels.astype(np.uint8).tobytes() == classes
