"""Hostile use of ``minicnn explore``, round two: what a web page elsewhere, a flood of uploads, a queue
of jobs, a crafted file beside the checkpoint or a model for other data could do to it.

Requests are real HTTP to the explorer on 127.0.0.1 at a free port (tests/explore_helpers.py),
nothing else is ever a target; every loop of requests is bounded in count and time. Each
defect class of issue 22 has its own section:

1. cross-site requests: a foreign Origin (or Referer, or Sec-Fetch-Site) is refused with 403;
2. uploads: pixels decoded (from the header, before decoding), decodes in flight, bytes read
   (chunked or not), measured in the server's own memory (a subprocess, its RSS);
3. fairness: one waiting job per client, WAITING in all, and a click that does not wait for
   the queue (its latency compared with one occlusion job's time);
4. files beside the checkpoint: a crafted top-9 cache or snapshots.npz counts as absent, with
   one line on stderr naming it and the fault, and is never changed by the explorer
   (snapshots.npz) or only replaced by a good one (the cache);
5. a model that does not fit the data, a background pass that fails, a --host or --port
   the server cannot listen on: one line naming both sides or the flag.
"""

import contextlib
import hashlib
import http.client
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy
import pytest
from PIL import Image

from explore_helpers import FASHION, serving, wait_ready
from explore_helpers import checkpoint, explorer  # noqa: F401 (fixtures: a trained zfnet_small, its explorer)
from minicnn.explore import pictures, save_snapshots, server as explore_server, session, topcache
from minicnn.engine.tensor import is_grad_enabled, no_grad
from minicnn.explore.npzfile import BadFile
from minicnn.explore.priority import ModelLock
from minicnn.explore.session import Explorer, ModelDoesNotFit
from minicnn.models import get_model
from minicnn.training import CheckpointError, save_checkpoint
from minicnn.visualize import Snapshot

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def server(explorer):
    with serving(explorer) as running:
        yield running


def send(server, method, path, body=None, headers=None, source=None, timeout=60):
    """One HTTP request to the explorer on 127.0.0.1; (status, headers, JSON or bytes).

    body: bytes (sent with Content-Length) or an iterator of bytes (sent chunked, no length);
    source: the loopback address to send from (127.0.0.x: another client, as the server sees it).
    """
    connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=timeout,
                                            source_address=(source, 0) if source else None)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        kind = response.headers.get("Content-Type", "")
        return response.status, response.headers, json.loads(data) if kind.startswith("application/json") else data
    finally:
        connection.close()


def png_bytes(array, mode=None):
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format="PNG")
    return buffer.getvalue()


SMALL_PNG = png_bytes(numpy.full((28, 28), 200, numpy.uint8))


def png_of_zeros(width, height, channels=4):
    """A real PNG of width x height zero pixels (RGBA by default), compressed a row at a time.

    A few tens of kilobytes that decode to width * height * channels bytes: the
    explorer must refuse it from its header when that is too many.
    """
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    colour = {1: 0, 3: 2, 4: 6}[channels]
    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    compressor, parts = zlib.compressobj(9), []
    row = bytes(1 + width * channels)                       # filter byte 0, then the row's zeros
    for _ in range(height):
        parts.append(compressor.compress(row))
    parts.append(compressor.flush())
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


# ===== 1. cross-site requests ==================================================================
EVIL = "http://evil.example"


def own(server, host="127.0.0.1"):
    return f"http://{host}:{server.server_port}"


CROSS_SITE = [
    # (what, method, path, headers from the server, refused)
    ("upload from another site", "POST", "/api/upload", lambda s: {"Origin": EVIL}, True),
    ("occlusion from another site", "POST", "/api/occlusion?image=test:0&window=7&stride=7",
     lambda s: {"Origin": EVIL}, True),
    ("a click from another site", "GET", "/api/unit?image=test:0&layer=0&channel=0", lambda s: {"Origin": EVIL}, True),
    ("the model from another site", "GET", "/api/model", lambda s: {"Origin": EVIL}, True),
    ("a sandboxed page (Origin null)", "POST", "/api/upload", lambda s: {"Origin": "null"}, True),
    ("another port of this machine", "POST", "/api/upload",
     lambda s: {"Origin": f"http://127.0.0.1:{s.server_port % 65535 + 1}"}, True),
    ("another scheme", "POST", "/api/upload", lambda s: {"Origin": f"https://127.0.0.1:{s.server_port}"}, True),
    ("a page named localhost at another port", "POST", "/api/upload",
     lambda s: {"Origin": f"http://localhost:{s.server_port + 1}"}, True),
    ("no Origin, a foreign Referer", "POST", "/api/upload", lambda s: {"Referer": EVIL + "/page.html"}, True),
    ("no Origin or Referer, Sec-Fetch-Site cross-site", "GET", "/api/layers?image=test:0",
     lambda s: {"Sec-Fetch-Site": "cross-site"}, True),
    ("no Origin or Referer, Sec-Fetch-Site same-site", "POST", "/api/upload",
     lambda s: {"Sec-Fetch-Site": "same-site"}, True),
    # the explorer's own page, and programs
    ("its own page (127.0.0.1)", "POST", "/api/upload", lambda s: {"Origin": own(s)}, False),
    ("its own page (localhost)", "POST", "/api/upload", lambda s: {"Origin": own(s, "localhost")}, False),
    ("its own Referer", "POST", "/api/upload", lambda s: {"Referer": own(s) + "/"}, False),
    ("same-origin fetch (no Origin on GET)", "GET", "/api/layers?image=test:0",
     lambda s: {"Sec-Fetch-Site": "same-origin"}, False),
    ("a program (no Origin, no Referer)", "POST", "/api/upload", lambda s: {}, False),
    ("a link from elsewhere opens the page", "GET", "/",
     lambda s: {"Referer": EVIL + "/", "Sec-Fetch-Site": "cross-site"}, False),
]


@pytest.mark.parametrize("what, method, path, headers, refused", CROSS_SITE, ids=[case[0] for case in CROSS_SITE])
def test_requests_from_other_sites_are_refused_naming_both_origins(server, explorer, what, method, path, headers,
                                                                   refused):
    uploads_before = list(explorer.uploads)
    body = SMALL_PNG if path == "/api/upload" else None
    status, _, answer = send(server, method, path, body=body, headers=headers(server))
    if not refused:
        assert status == 200, answer
        return
    assert status == 403, answer
    error = answer["error"]
    assert error.startswith("cross-site request refused:") and "Traceback" not in error
    sent = headers(server)
    received = sent.get("Origin") or sent.get("Referer") or sent.get("Sec-Fetch-Site")
    assert received in error and own(server) in error and own(server, "localhost") in error, error
    assert list(explorer.uploads) == uploads_before                    # nothing was stored
    assert not server.app.jobs.jobs                                    # nothing was queued


def test_the_host_check_stays(server):
    status, _, answer = send(server, "GET", "/api/model", headers={"Host": "evil.example"})
    assert status == 400 and "not trusted" in answer["error"]


# ===== 2. uploads: pixels, decodes in flight, bytes ============================================
SERVE_IN_A_PROCESS = """
import sys
from minicnn.explore.server import make_explore_server
from minicnn.explore.session import Explorer
explorer = Explorer(sys.argv[1], data_path=sys.argv[2], progress=False).start()
server = make_explore_server(explorer, "127.0.0.1", 0)
print(server.server_port, flush=True)
server.serve_forever()
"""


def memory_kib(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@contextlib.contextmanager
def explorer_process(checkpoint):
    """The explorer in its own process (numpy backend), so that its memory can be read; yields (pid, server port)."""
    environment = dict(os.environ, MINICNN_BACKEND="numpy", PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-c", SERVE_IN_A_PROCESS, str(checkpoint), FASHION], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    try:
        line = process.stdout.readline()
        assert line.strip().isdigit(), line + process.stderr.read()
        yield process.pid, int(line)
    finally:
        process.terminate()
        process.wait(timeout=30)


def peak_growth_during(pid, action):
    """Run ``action()``; the most the process's resident memory rose above its level before, in MiB.

    The kernel's own peak (VmHWM) is reset first where /proc allows it; a thread also
    samples VmRSS every 2 ms, so the bound holds either way.
    """
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")                 # reset VmHWM to the current RSS
        reset = True
    except OSError:
        reset = False
    before = memory_kib(pid, "VmRSS")
    highest, done = [before], threading.Event()

    def sample():
        while not done.is_set():
            highest.append(memory_kib(pid, "VmRSS"))
            time.sleep(0.002)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = action()
    finally:
        done.set()
        sampler.join(10)
    peak = max(max(highest), memory_kib(pid, "VmHWM") if reset else 0)
    return (peak - before) / 1024, result


def flood(port, body, count=12):
    """``count`` uploads of ``body`` sent at the same moment (a barrier); their (status, answer)s."""
    barrier, answers = threading.Barrier(count), [None] * count
    target = SimpleNamespace(server_port=port)

    def one(k):
        barrier.wait(30)
        status, _, answer = send(target, "POST", "/api/upload", body=body, timeout=120)
        answers[k] = (status, answer)
    threads = [threading.Thread(target=one, args=(k,)) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    return answers


def test_a_dozen_uploads_declaring_4096x4096_rgba_are_refused_from_their_header_in_bounded_memory(checkpoint,
                                                                                                  explorer):
    """Before: each was decoded whole (64 MiB RGBA, more once converted), all at once: over a gigabyte.

    Now the header's size is checked against the model's decode limit (1024 a side
    for 28x28) before any pixel is decoded; the process's memory hardly moves.
    A flood of pictures the explorer does decode (1024x1024 RGBA, 4 MiB each) stays
    small too: two decodes at a time, on two threads of the explorer's own (before:
    in each request's thread, whose freed memory the C library kept, about 110 MiB).
    """
    bomb, accepted = png_of_zeros(4096, 4096), png_of_zeros(1024, 1024)
    assert len(bomb) < 200_000 and len(accepted) < 20_000
    with explorer_process(checkpoint) as (pid, port):
        flood(port, SMALL_PNG, count=2)                                  # Pillow's PNG code loaded
        growth, answers = peak_growth_during(pid, lambda: flood(port, bomb))
        for status, answer in answers:
            assert status == 400 and "is 4096x4096 pixels; the explorer decodes at most 1024x1024" in \
                answer["error"], answer
        assert growth < 100, f"the server's memory rose {growth:.0f} MiB for a dozen refused uploads"
        growth, answers = peak_growth_during(pid, lambda: flood(port, accepted))
        assert all(status == 200 for status, _ in answers), answers
        assert growth < 60, f"the server's memory rose {growth:.0f} MiB for a dozen 1024x1024 uploads"


def test_at_most_two_pictures_are_decoded_at_once(server, monkeypatch):
    inside, most, lock = [0], [0], threading.Lock()
    real = pictures.decode_upload

    def counting(*args, **kwargs):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        try:
            time.sleep(0.1)
            return real(*args, **kwargs)
        finally:
            with lock:
                inside[0] -= 1
    monkeypatch.setattr(pictures, "decode_upload", counting)
    answers = flood(server.server_port, SMALL_PNG, count=10)
    assert all(status == 200 for status, _ in answers), answers
    assert most[0] == session.DECODES_AT_ONCE == 2


def test_an_upload_that_cannot_be_decoded_in_time_gets_503_with_retry_after(server, monkeypatch):
    gate, started = threading.Event(), threading.Semaphore(0)

    def blocked(*args, **kwargs):
        started.release()
        gate.wait(30)
        raise pictures.UploadError("stopped by the test")
    monkeypatch.setattr(pictures, "decode_upload", blocked)
    monkeypatch.setattr(session, "DECODE_WAIT", 0.3)
    holders = [threading.Thread(target=send, args=(server, "POST", "/api/upload", SMALL_PNG)) for _ in range(2)]
    for holder in holders:
        holder.start()
    try:
        assert started.acquire(timeout=30) and started.acquire(timeout=30)
        status, headers, answer = send(server, "POST", "/api/upload", body=SMALL_PNG)
        assert status == 503 and headers["Retry-After"] == "1"
        assert "2 pictures are being decoded already (at most 2 at once)" in answer["error"]
    finally:
        gate.set()
        for holder in holders:
            holder.join(30)


def test_uploads_received_at_once_are_bounded_too(server, monkeypatch):
    gate, started = threading.Event(), threading.Event()

    def blocked(*args, **kwargs):
        started.set()
        gate.wait(30)
        raise pictures.UploadError("stopped by the test")
    monkeypatch.setattr(pictures, "decode_upload", blocked)
    monkeypatch.setattr(explore_server, "BODY_WAIT", 0.3)
    server.app.bodies = threading.BoundedSemaphore(1)
    holder = threading.Thread(target=send, args=(server, "POST", "/api/upload", SMALL_PNG))
    holder.start()
    try:
        assert started.wait(30)
        status, headers, answer = send(server, "POST", "/api/upload", body=SMALL_PNG)
        assert status == 503 and headers["Retry-After"] == "1" and "uploads are being received already" in \
            answer["error"]
    finally:
        gate.set()
        holder.join(30)


def chunks_of(data, size=1 << 16):
    for start in range(0, len(data), size):
        yield data[start:start + size]


def test_a_chunked_upload_past_the_limit_is_refused_not_cut_short_and_decoded(server, explorer):
    """Before: Werkzeug stopped reading at the limit and the first 4 MiB were decoded (a PNG
    followed by anything is a PNG): 200. Now at most limit + 1 bytes are read, and 413 names the limit."""
    limit = explore_server.MAX_UPLOAD
    padded = SMALL_PNG + bytes(limit + 100_000 - len(SMALL_PNG))
    before = list(explorer.uploads)
    status, _, answer = send(server, "POST", "/api/upload", body=chunks_of(padded))
    assert status == 413 and f"({limit:,} bytes, 4 MiB)" in answer["error"], answer
    assert list(explorer.uploads) == before
    status, _, answer = send(server, "POST", "/api/upload", body=chunks_of(SMALL_PNG + bytes(limit - len(SMALL_PNG))))
    assert status == 200, answer                                          # exactly the limit: taken
    status, _, answer = send(server, "POST", "/api/upload", body=chunks_of(SMALL_PNG, 100))
    assert status == 200 and answer["image"].startswith("upload:")
    status, _, answer = send(server, "POST", "/api/upload", body=bytes(limit + 1))   # with Content-Length
    assert status == 413 and f"Content-Length says {limit + 1:,} bytes" in answer["error"]


def jpeg_with_size(width, height):
    """A small real JPEG whose header (SOF0) is rewritten to claim width x height pixels."""
    buffer = io.BytesIO()
    Image.new("L", (16, 16), 128).save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    at = data.index(b"\xff\xc0")
    data[at + 5:at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def test_the_decode_limit_follows_the_model_input_and_jpegs_decode_reduced(server):
    assert pictures.decode_limit((28, 28)) == 1024 and pictures.decode_limit((224, 224)) == 1792
    status, _, answer = send(server, "POST", "/api/upload", body=png_of_zeros(1025, 10, channels=1))
    assert status == 400 and "is 1025x10 pixels; the explorer decodes at most 1024x1024 for this model's " \
        "28x28 input" in answer["error"]
    status, _, answer = send(server, "POST", "/api/upload", body=png_of_zeros(1024, 1024))
    assert status == 200 and answer["note"].startswith("PNG of 1024x1024 pixels, resized to 28x28"), answer
    photo = io.BytesIO()
    Image.new("RGB", (3000, 2000), (200, 200, 200)).save(photo, format="JPEG")    # decoded at 1/8: 375x250
    status, _, answer = send(server, "POST", "/api/upload", body=photo.getvalue())
    assert status == 200 and answer["note"].startswith("JPEG of 3000x2000 pixels"), answer
    status, _, answer = send(server, "POST", "/api/upload", body=jpeg_with_size(9000, 9000))
    assert status == 400 and "is 9000x9000 pixels (still 1125x1125 at the JPEG's smallest decoding scale)" in \
        answer["error"], answer


def test_a_picture_thinner_than_a_pixel_once_fitted_is_fitted_as_one_pixel(server):
    status, _, answer = send(server, "POST", "/api/upload", body=png_of_zeros(1000, 1, channels=1))
    assert status == 200 and answer["note"].startswith("PNG of 1000x1 pixels, resized to 28x28"), answer


# ===== 3. fairness ===========================================================================
def click_during_background(*inside_background):
    """A ModelLock's background task of six slices, each ended by lock.pause(), run inside the
    context managers made by ``inside_background`` (e.g. no_grad); a click once it has begun.
    Returns (the order of the slices and the click, whether the click's thread recorded gradients)."""
    lock, order, seen = ModelLock(), [], []
    inside = threading.Event()

    def background():
        with lock.background(), contextlib.ExitStack() as stack:
            for make in inside_background:
                stack.enter_context(make())
            for k in range(6):
                order.append(f"slice {k}")
                inside.set()
                time.sleep(0.05)
                lock.pause()
    worker = threading.Thread(target=background)
    worker.start()
    assert inside.wait(10)
    with lock.interactive():
        order.append("click")
        seen.append(is_grad_enabled())
    worker.join(10)
    return order, seen


def test_a_click_goes_before_background_work_between_its_slices():
    order, _ = click_during_background()
    assert order.index("click") <= 2, order                # after the slice running when it came, not all six


def test_a_click_goes_first_even_when_the_background_slices_run_under_no_grad():
    """The gradient switch is each thread's own, so pausing inside no_grad hands the model over too."""
    order, seen = click_during_background(no_grad)
    assert order.index("click") <= 2, order
    assert seen == [True]                                  # the click's thread records, whatever the background's does


@contextlib.contextmanager
def blocked_occlusion(explorer, monkeypatch):
    """explorer.occlusion replaced by a job that waits for the gate (no CPU spent); yields the gate."""
    gate = threading.Event()
    monkeypatch.setattr(explorer, "occlusion", lambda image, *args: gate.wait(60) and {"image": image})
    try:
        yield gate
    finally:
        gate.set()


def post_occlusion(server, image, source=None, window=7, stride=7):
    return send(server, "POST", f"/api/occlusion?image={image}&window={window}&stride={stride}", source=source)


def job_status(server, job):
    status, _, answer = send(server, "GET", f"/api/job?id={job}")
    assert status == 200, answer
    return answer


def wait_computing(server, job, timeout=60):
    """Wait until the job has left the queue (the worker computes it)."""
    deadline = time.monotonic() + timeout
    while job_status(server, job)["queued"]:
        assert time.monotonic() < deadline, f"job {job} did not start in {timeout} s"
        time.sleep(0.01)


def wait_job(server, job, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = job_status(server, job)
        if answer["state"] != "running":
            return answer
        time.sleep(0.05)
    raise AssertionError(f"job {job} did not finish in {timeout} s")


def test_a_new_occlusion_request_replaces_the_clients_waiting_one(server, explorer, monkeypatch):
    with blocked_occlusion(explorer, monkeypatch) as gate:
        jobs = []
        for k in range(10):
            status, _, answer = post_occlusion(server, f"test:{k}")
            assert status == 200, answer
            jobs.append(answer["job"])
            if k == 0:
                wait_computing(server, jobs[0])
        waiting = job_status(server, jobs[-1])
        assert waiting["state"] == "running" and waiting["queued"] is True and waiting["ahead"] == 1
        gate.set()
        finished = [wait_job(server, job) for job in jobs]
    assert [job["state"] for job in finished] == ["done"] + ["replaced"] * 8 + ["done"]
    assert finished[-1]["result"] == {"image": "test:9"}
    assert f"replaced by a newer occlusion request from the same client (job {jobs[2]})" == finished[1]["error"]


def test_at_most_eight_jobs_wait_in_all_then_429(server, explorer, monkeypatch):
    with blocked_occlusion(explorer, monkeypatch):
        clients = [f"127.0.0.{k}" for k in range(2, 12)]
        answers = [post_occlusion(server, "test:0", source=clients[0])]
        wait_computing(server, answers[0][2]["job"])
        answers += [post_occlusion(server, "test:0", source=client) for client in clients[1:]]
    assert [status for status, _, _ in answers[:9]] == [200] * 9                # one computing, eight waiting
    status, headers, answer = answers[9]
    assert status == 429 and headers["Retry-After"] == "2"
    assert "occlusion: 8 jobs are waiting already (at most 8)" in answer["error"]


def click(server, layer, channel, image="test:3"):
    """The page's click on a map: its unit and its top-9, asked together; seconds until both answered."""
    started, answers = time.perf_counter(), []
    paths = [f"/api/unit?image={image}&layer={layer}&channel={channel}", f"/api/top9?layer={layer}&channel={channel}"]
    threads = [threading.Thread(target=lambda p=path: answers.append(send(server, "GET", p)[0])) for path in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert answers == [200, 200]
    return time.perf_counter() - started


def test_a_click_does_not_wait_for_dozens_of_queued_occlusion_jobs(server, explorer):
    """Before: every job took the model's lock in turn, and a click waited for whichever the
    lock chose, the whole queue at worst. Now the jobs run one at a time in the background
    and hand the model to a waiting click between their batches of 64 squares.

    The bound: one job (676 positions, 11 batches of 64) is timed alone first; a click
    while 30 jobs wait must take less than half of it, plus twice an idle click (the
    click's own work, on 2 shared cores). A click is two requests (unit, top-9), each of
    which may wait for the batch being computed: two batches, 2/11 of a job. Before, it
    waited for the job being computed and, the lock serving its waiters in no order, for
    others of the queue; a bound of half a job tells the two apart on any machine.
    """
    maps = [(0, 1), (4, 2), (8, 3), (10, 4), (13, 5), (16, 6), (1, 7), (5, 8)]
    idle = max(click(server, layer, channel) for layer, channel in maps[:2])
    status, _, answer = post_occlusion(server, "test:1", window=3, stride=1)
    assert status == 200 and answer["positions"] == 676
    one_job = wait_job(server, answer["job"])["seconds"]
    server.app.jobs.waiting_limit = 40
    queued = [post_occlusion(server, f"test:{k}", source=f"127.0.0.{k + 2}", window=3, stride=1) for k in range(30)]
    assert all(status == 200 for status, _, _ in queued)
    wait_computing(server, queued[0][2]["job"])
    clicks = [click(server, layer, channel) for layer, channel in maps[2:]]
    states = [job_status(server, answer["job"]) for _, _, answer in queued]
    assert sum(state["state"] == "running" for state in states) >= 25, "the queue emptied: the test proves nothing"
    bound = 2 * idle + one_job / 2
    print(f"idle click {idle:.3f} s, one occlusion job {one_job:.2f} s, clicks with 30 jobs queued "
          f"{', '.join(f'{c:.3f}' for c in clicks)} s (bound {bound:.2f} s)")
    assert max(clicks) < bound, (clicks, idle, one_job)


# ===== 4. files beside the checkpoint ==============================================================
def good_cache(explorer):
    """The module explorer's own top-9 and predictions, copied (the parts of a cache that fits)."""
    best = {layer: topcache.Strongest(s.values.copy(), s.indices.copy(), s.rows.copy(), s.cols.copy())
            for layer, s in explorer.top9_pass.best.items()}
    return best, explorer.top9_pass.predictions.copy()


def npy_header_only(shape, descr="<f4"):
    """The bytes of an .npy file whose header declares ``shape`` and which holds no data."""
    buffer = io.BytesIO()
    numpy.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def spoil(path, name, data):
    """Replace (or add) member ``name``.npy of the .npz at ``path`` with ``data``."""
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    members[name + ".npy"] = data
    with zipfile.ZipFile(path, "w") as archive:
        for member, content in members.items():
            archive.writestr(member, content)


def spoil_cache(fault, best, predictions):
    """The cache's parts with one fault of CACHE_FAULTS put in."""
    if fault == "predictions one short":
        predictions = predictions[:-1]
    elif fault == "a prediction outside the classes":
        predictions[5] = 10
    elif fault == "a layer's indices of another length":
        best[1].indices = best[1].indices[:, :8]
    elif fault == "an image index outside the test set":
        best[4].indices[0, 0] = 1000
    elif fault == "a row outside the map":
        best[1].rows[2, 3] = 28
    elif fault == "a value that is not a number":
        best[13].values[0, 0] = numpy.nan
    elif fault == "indices stored as floats":
        best[5].indices = best[5].indices.astype(numpy.float64)
    elif fault == "a layer missing":
        del best[22]
    return best, predictions


CACHE_FAULTS = {
    "predictions one short": "array 'predictions' has shape (999,), expected (1000)",
    "a prediction outside the classes": "..10, outside the 10 classes (0..9)",
    "a layer's indices of another length": "array 'layer/1/indices' has shape (32, 8), expected (32, 9)",
    "an image index outside the test set": "layer 4's indices run 0..1000, outside the 1000 test images",
    "a row outside the map": "layer 1's rows run 0..28, outside the 28 rows",
    "a value that is not a number": "layer 13's values are not all finite numbers",
    "indices stored as floats": "array 'layer/5/indices' is of type float64",
    "a layer missing": "lists the layers",
}


@pytest.mark.parametrize("fault", sorted(CACHE_FAULTS))
def test_a_top9_cache_that_does_not_fit_is_refused_naming_the_file_and_the_fault(explorer, tmp_path, fault):
    words = CACHE_FAULTS[fault]
    best, predictions = spoil_cache(fault, *good_cache(explorer))
    path = tmp_path / "checkpoint.top9-fashion-mnist-0.npz"
    top = explorer.top9_pass
    topcache.save(path, top.fingerprint, best, predictions, {"top9": 1.0})
    with pytest.raises(BadFile) as refused:
        topcache.load(path, top.fingerprint, top.shapes, top.total, top.classes)
    assert str(refused.value).startswith(str(path)) and words in str(refused.value), str(refused.value)


@pytest.mark.parametrize("member, data, words", [
    ("predictions", npy_header_only((10 ** 6, 10 ** 6), "<i8"), "has shape (1000000, 1000000), expected (1000)"),
    ("metadata.json", npy_header_only((10 ** 9,), "|u1"), "not a JSON document of at most"),
    ("metadata.json", b"", "array 'metadata.json' has no readable header"),
])
def test_a_cache_whose_arrays_declare_too_much_is_refused_before_reading_them(explorer, tmp_path, member, data, words):
    path = tmp_path / "cache.npz"
    top = explorer.top9_pass
    topcache.save(path, top.fingerprint, *good_cache(explorer), {})
    spoil(path, member, data)
    with pytest.raises(BadFile, match=re.escape(words)):
        topcache.load(path, top.fingerprint, top.shapes, top.total, top.classes)


def test_a_cache_with_non_finite_seconds_is_used_with_them_dropped(explorer, tmp_path):
    path = tmp_path / "cache.npz"
    top = explorer.top9_pass
    topcache.save(path, top.fingerprint, *good_cache(explorer), {"top9": float("nan"), "predictions": 2.5})
    _, _, seconds = topcache.load(path, top.fingerprint, top.shapes, top.total, top.classes)
    assert seconds == {"predictions": 2.5}
    (tmp_path / "other.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(BadFile, match="not a readable .npz file"):
        topcache.load(tmp_path / "other.npz", top.fingerprint, top.shapes, top.total, top.classes)


def test_a_cache_whose_arrays_disagree_is_rebuilt_with_a_warning_and_every_endpoint_answers(explorer, checkpoint,
                                                                                           tmp_path, capfd):
    """Before: /api/model, /api/top9 and /api/images were 500s (predictions one short)."""
    copy = tmp_path / "checkpoint.npz"
    shutil.copy(checkpoint, copy)
    fresh = Explorer(copy, data_path=FASHION, progress=False)
    best, predictions = good_cache(explorer)
    topcache.save(fresh.top9_pass.path, fresh.top9_pass.fingerprint, best, predictions[:-1], {})
    wait_ready(fresh.start())
    err = capfd.readouterr().err
    line = next(line for line in err.splitlines() if line.startswith("minicnn explore: ignoring"))
    assert str(fresh.top9_pass.path) in line and "'predictions' has shape (999,), expected (1000)" in line
    with serving(fresh) as running:
        for path in ("/api/model", "/api/top9?layer=1&channel=0", "/api/images?which=misclassified", "/api/status"):
            status, _, answer = send(running, "GET", path)
            assert status == 200, (path, answer)
    top = fresh.top9_pass
    assert topcache.load(top.path, top.fingerprint, top.shapes, top.total, top.classes) is not None   # good again


@pytest.fixture(scope="module")
def history_explorer(checkpoint, tmp_path_factory):
    """An Explorer of a copy of the checkpoint, in a folder of its own (its snapshots.npz is each test's)."""
    folder = tmp_path_factory.mktemp("history")
    shutil.copy(checkpoint, folder / "checkpoint.npz")
    return Explorer(folder / "checkpoint.npz", data_path=FASHION, progress=False, cache=False)


def snapshot(maps=3, epoch=1, layer=1, boxes=None, projections=None):
    """A Snapshot of ``maps`` maps of a 1x28x28 model, good unless ``boxes`` or ``projections`` say otherwise."""
    if projections is None:
        projections = numpy.random.default_rng(epoch).standard_normal((maps, 1, 28, 28)).astype(numpy.float32)
    if boxes is None:
        boxes = numpy.tile([2, 9, 3, 10], (maps, 1))
    return Snapshot(epoch, layer, numpy.arange(maps), numpy.zeros(maps, numpy.int64),
                    numpy.zeros((maps, 2), numpy.int64), numpy.ones(maps, numpy.float32), projections, boxes)


def write_snapshots(path, fault):
    if fault == "a box far outside the picture":
        save_snapshots(path, {1: {1: snapshot(boxes=numpy.array([[0, 10 ** 6, 0, 10 ** 6]] * 3))}})
    elif fault == "no maps":
        save_snapshots(path, {1: {1: snapshot(maps=0)}})
    elif fault == "projections of another size":
        save_snapshots(path, {1: {1: snapshot(projections=numpy.zeros((3, 1, 56, 56), numpy.float32))}})
    elif fault == "a projection that is not a number":
        save_snapshots(path, {1: {1: snapshot(projections=numpy.full((3, 1, 28, 28), numpy.nan, numpy.float32))}})
    elif fault == "fewer maps at a later epoch":
        save_snapshots(path, {1: {1: snapshot(maps=3)}, 2: {1: snapshot(maps=2, epoch=2)}})
    elif fault == "a layer the model does not have":
        save_snapshots(path, {1: {99: snapshot(layer=99)}})
    elif fault == "epochs that are not numbers":
        save_snapshots(path, {1: {1: snapshot()}})
        spoil(path, "metadata.json", npy_bytes(json_array({"format": "minicnn-snapshots", "version": 1,
                                                           "epochs": ["../../x"], "layers": [1]})))
    elif fault == "an array declaring 8 GB":
        save_snapshots(path, {1: {1: snapshot()}})
        spoil(path, "epoch/1/layer/1/channels", npy_header_only((10 ** 9,), "<i8"))
    elif fault == "not a zip file":
        path.write_bytes(b"PK\x03\x04" + bytes(100))
    else:
        raise AssertionError(fault)


def json_array(document):
    return numpy.frombuffer(json.dumps(document).encode("utf-8"), dtype=numpy.uint8)


def npy_bytes(array):
    buffer = io.BytesIO()
    numpy.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


SNAPSHOT_FAULTS = {
    "a box far outside the picture": "the box [0, 1000000, 0, 1000000] (rows r0..r1, columns c0..c1) is not inside "
                                     "the 28x28 picture",
    "no maps": "0 maps; a snapshot has 1..4096",
    "projections of another size": "has shape (3, 1, 56, 56), expected (3, 1, 28, 28)",
    "a projection that is not a number": "values or projections that are not finite numbers",
    "fewer maps at a later epoch": "epoch 2, layer 1: 2 maps, but 3 at an earlier epoch",
    "a layer the model does not have": "epoch 1, layer 99: the model has layers 0..22",
    "epochs that are not numbers": "its epochs are not a list of at most 100000 whole numbers",
    "an array declaring 8 GB": "declares 8,000,000,000 bytes, more than this file may hold in all",
    "not a zip file": "not a readable .npz file",
}


@pytest.mark.parametrize("fault", sorted(SNAPSHOT_FAULTS))
def test_a_crafted_snapshots_file_is_ignored_with_a_warning_and_left_as_it_is(history_explorer, fault, capfd):
    """Before: a box far outside built a picture for many seconds (or ran out of memory), no maps was a 500."""
    folder = history_explorer.checkpoint.path.parent
    path = folder / "snapshots.npz"
    write_snapshots(path, fault)
    digest, names = hashlib.sha256(path.read_bytes()).hexdigest(), sorted(os.listdir(folder))
    with serving(history_explorer) as running:
        started = time.perf_counter()
        status, _, history = send(running, "GET", "/api/history")
        seconds = time.perf_counter() - started
    assert status == 200, history
    assert seconds < 10 and history["evolution"] is None
    assert SNAPSHOT_FAULTS[fault] in history["evolution_note"], history["evolution_note"]
    lines = [line for line in capfd.readouterr().err.splitlines() if line.startswith("minicnn explore: ignoring")]
    assert len(lines) == 1 and str(path) in lines[0] and SNAPSHOT_FAULTS[fault] in lines[0], lines
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest and sorted(os.listdir(folder)) == names
    path.unlink()


def test_a_good_snapshots_file_beside_it_is_still_drawn(history_explorer):
    path = history_explorer.checkpoint.path.parent / "snapshots.npz"
    save_snapshots(path, {1: {1: snapshot()}, 2: {1: snapshot(epoch=2)}})
    try:
        evolution = history_explorer.history()["evolution"]
    finally:
        path.unlink()
    assert [layer["layer"] for layer in evolution] == [1] and evolution[0]["epochs"] == [1, 2]


def test_training_history_that_is_not_numbers_reaches_the_page_as_none(history_explorer, monkeypatch):
    records = [{"epoch": 1, "train_loss": float("nan"), "val_loss": "high", "lr": [1]}, "not a record"]
    monkeypatch.setitem(history_explorer.checkpoint.metadata, "history", {"epochs": records})
    with serving(history_explorer) as running:
        status, _, history = send(running, "GET", "/api/history")
    assert status == 200 and history["epochs"] == [{"epoch": 1, "train_loss": None, "val_loss": None, "lr": None}]


# ===== 5. a model that does not fit, a failed pass, where it cannot listen ================================
@pytest.fixture(scope="module")
def three_classes(tmp_path_factory):
    """A checkpoint of keras_mnist_cnn with 3 outputs, which says it was trained on fashion-mnist (10 classes)."""
    path = tmp_path_factory.mktemp("three") / "checkpoint.npz"
    model = get_model("keras_mnist_cnn", num_classes=3)
    save_checkpoint(path, model, epoch=1, extra={"dataset": "fashion-mnist", "normalize": {"mean": 0.3, "std": 0.35}})
    return path


def test_a_model_for_other_data_is_refused_at_the_start_naming_both(three_classes):
    with pytest.raises(ModelDoesNotFit) as refused:
        Explorer(three_classes, data_path=FASHION, progress=False, cache=False)
    assert isinstance(refused.value, CheckpointError)                  # minicnn's CLI: one line, exit status 2
    message = str(refused.value)
    assert str(three_classes) in message and "keras_mnist_cnn does not fit the fashion-mnist test set" in message
    assert "it outputs 3 class scores, but fashion-mnist has 10 classes" in message
    assert not list(three_classes.parent.glob("*.top9-*"))             # nothing written


def test_minicnn_explore_refuses_it_in_one_line_with_status_2(three_classes):
    result = subprocess.run([sys.executable, "-m", "minicnn", "explore", str(three_classes), "--data-path", FASHION,
                             "--port", "0", "--backend", "numpy"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2, result.stderr
    assert "outputs 3 class scores, but fashion-mnist has 10 classes" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("broken", ["search", "predict"])
def test_a_background_pass_that_fails_says_so_instead_of_not_finished_yet(checkpoint, monkeypatch, broken):
    def fail(*args, **kwargs):
        raise RuntimeError("the disk holding the test set went away")
    monkeypatch.setattr(topcache, broken, fail)
    explorer = Explorer(checkpoint, data_path=FASHION, progress=False, cache=False).start()
    explorer.top9_pass.thread.join(300)
    which = "top-9 pass" if broken == "search" else "predictions pass"
    error = f"the {which} failed: RuntimeError: the disk holding the test set went away"
    with serving(explorer) as running:
        status, _, answer = send(running, "GET", "/api/status")
        assert status == 200 and answer["error"] == error and answer["predictions"] == "failed"
        assert answer["state"] == ("failed" if broken == "search" else "ready")
        status, _, listing = send(running, "GET", "/api/images?which=misclassified")
        assert status == 200 and listing["failed"] is True and error in listing["message"]
        assert "not finished" not in listing["message"]
        status, _, top = send(running, "GET", "/api/top9?layer=1&channel=0")
        assert status == 200 and top["error"] == error and ("items" in top) == (broken == "predict")


def test_a_port_in_use_names_the_flag_and_serve_exits_with_status_2(explorer, capsys):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(explore_server.ListenError, match=rf"--port {port}: 127\.0\.0\.1:{port} is in use"):
            explore_server.make_explore_server(explorer, "127.0.0.1", port)
        with pytest.raises(SystemExit) as stopped:
            explore_server.serve(explorer, "127.0.0.1", port)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"minicnn explore: --port {port}:") and len(err.strip().splitlines()) == 1


def test_a_host_that_is_not_this_machine_names_the_flag(explorer, capsys):
    """192.0.2.1 is TEST-NET-1 (RFC 5737): no machine's address; binding fails without any packet sent."""
    with pytest.raises(SystemExit) as stopped:
        explore_server.serve(explorer, "192.0.2.1", 0)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("minicnn explore: --host 192.0.2.1: cannot listen there") and "Traceback" not in err
    import socket
    unknown = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert explore_server.listen_problem("no-such-host", 8000, unknown).startswith(
        "--host no-such-host: cannot listen there (Name or service not known)")


def test_an_upload_sent_as_a_form_says_to_send_the_bytes(server):
    """curl -F file=@picture.png posts multipart/form-data: the error names what came and how to send it."""
    boundary = "minicnn-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode() + png_bytes(numpy.zeros((28, 28), numpy.uint8)) + \
        f"\r\n--{boundary}--\r\n".encode()
    status, _, reply = send(server, "POST", "/api/upload", body,
                            {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 400
    text = reply if isinstance(reply, str) else json.dumps(reply)
    assert "multipart/form-data" in text and "--data-binary" in text and "BytesIO" not in text
