"""How live ``minicnn explore`` feels: a click on a map, a new image, and the top-9 pass.

    python benchmarks/explore_latency.py [--checkpoint CKPT] [--backend numba] [--clicks 40]
                                         [--out benchmarks/results/explore-latency.md]

What is timed, as the page does it, over HTTP to the real server on 127.0.0.1:

- the top-9 pass: every map of every layer over the whole test set (10,000
  Fashion-MNIST images when the full set is installed), from nothing to the
  cache file written; then the second pass, every image's prediction; then
  reading that file back (every later start);
- a click on a map: the page sends /api/unit (the map and this image's
  projection) and /api/top9 (the map's top-9, projected) together and is
  done when both have answered. Each click is on a map not clicked before
  (the server keeps a clicked map's top-9 pictures; a first click is the
  slow case), on a different test image, maps drawn with a fixed seed from
  every layer the page shows;
- a new image: /api/predict and /api/layers together (every layer's grid);
- occlusion, 6x6 square, step 2 (144 positions), from the request to the result;

each with 1 and with 2 CPU threads for NumPy's BLAS and Numba (--threads;
``minicnn explore`` uses 1 unless told otherwise).

Before timing, the results are checked against minicnn.visualize: the
top-9 of a map equals ``top_k`` over the same images, a projection equals
``Deconvnet.project``. Without --checkpoint, zfnet_small is trained for one
epoch on 2,000 images first (the time a click takes does not depend on how
well the model is trained). The machine, its load and the library versions
are written next to the figures (minicnn.bench.machine).
"""

import argparse
import base64
import concurrent.futures
import io
import json
import os
import pathlib
import statistics
import sys
import tempfile
import threading
import time
import urllib.request

import numpy

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from minicnn.bench.machine import machine_info  # noqa: E402
from minicnn.engine.backend import set_backend  # noqa: E402


def fetch(url, method="GET"):
    request = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)


def together(urls):
    """Send the requests at once, as the page does; seconds until the last answer, and the answers."""
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(len(urls)) as pool:
        answers = list(pool.map(fetch, urls))
    return time.perf_counter() - started, answers


def summary(seconds):
    ms = sorted(1000 * s for s in seconds)
    return {"count": len(ms), "median_ms": statistics.median(ms), "p90_ms": ms[int(0.9 * (len(ms) - 1))],
            "max_ms": ms[-1], "min_ms": ms[0]}


def train_default(folder):
    from minicnn.training.experiment import RunConfig, run
    run(RunConfig(model="zfnet_small", epochs=1, train_limit=2000, test_limit=500, out=str(folder)),
        progress=False, verbose=False)
    return folder / "checkpoint.npz"


def check(explorer):
    """The explorer's answers are minicnn.visualize's, before anything is timed."""
    from minicnn.data import normalize, to_float
    from minicnn.explore.pictures import signed, to_bytes
    from minicnn.visualize import Deconvnet, top_k
    images = normalize(to_float(explorer.pixels), explorer.mean, explorer.std)
    expected = top_k(explorer.model, images, 1, 3)
    items = explorer.top9(1, 3)["items"]
    assert [item["index"] for item in items] == expected.indices.tolist(), "top-9 differs from top_k"
    unit = explorer.unit("test:0", 4, 2)
    projection = Deconvnet(explorer.model).project(images[:1], 4, 2, (unit["row"], unit["col"]))[0, 0]
    from PIL import Image
    shown = numpy.asarray(Image.open(io.BytesIO(base64.b64decode(unit["projection"].split(",", 1)[1]))))
    assert numpy.array_equal(shown, to_bytes(signed(projection))), "projection differs from Deconvnet.project"


def measure(checkpoint, folder, args, threads):
    """Every figure of the module docstring, with ``threads`` CPU threads; returns (result, shown layers)."""
    from minicnn.bench.machine import limit_threads
    from minicnn.explore.server import make_explore_server
    from minicnn.explore.session import Explorer
    limit_threads(threads)
    copy = folder / f"threads-{threads}" / "checkpoint.npz"      # the cache goes beside a copy, not the original
    copy.parent.mkdir()
    copy.write_bytes(checkpoint.read_bytes())
    options = {"dataset": args.dataset, "data_path": args.data_path, "progress": False, "threads": threads}

    # the top-9 pass, from nothing to the file, then read back
    explorer = Explorer(copy, **options)
    explorer.start()
    explorer.top9_pass.thread.join()
    assert explorer.top9_pass.state == "ready", explorer.top9_pass.status()
    pass_seconds = explorer.top9_pass.seconds                  # {"top9": s, "predictions": s}
    started = time.perf_counter()
    explorer = Explorer(copy, **options).start()
    read_seconds = time.perf_counter() - started
    assert explorer.top9_pass.state == "ready" and explorer.top9_pass.thread is None
    check(explorer)

    explorer = Explorer(copy, **options).start()                 # no top-9 pictures kept yet
    server = make_explore_server(explorer, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    shown = [row for row in explorer.table if row["shown"]]
    try:
        rng = numpy.random.default_rng(args.seed)
        every_map = [(row["index"], channel) for row in shown for channel in range(row["maps"])]
        order = rng.permutation(len(every_map))
        images = rng.choice(len(explorer.labels), size=args.clicks + 10, replace=False)

        for image in images[:5]:                                  # warm up: compile, first pictures
            together([f"{url}/api/predict?image=test:{image}", f"{url}/api/layers?image=test:{image}"])
        for k in order[:5]:
            layer, channel = every_map[k]
            together([f"{url}/api/unit?image=test:0&layer={layer}&channel={channel}",
                      f"{url}/api/top9?layer={layer}&channel={channel}"])

        clicks, by_layer = [], {}
        for k, image in zip(order[5:5 + args.clicks], images[10:]):
            layer, channel = every_map[k]
            seconds, _ = together([f"{url}/api/unit?image=test:{image}&layer={layer}&channel={channel}",
                                   f"{url}/api/top9?layer={layer}&channel={channel}"])
            clicks.append(seconds)
            by_layer.setdefault(layer, []).append(seconds)
        new_images = [together([f"{url}/api/predict?image=test:{image}",
                                f"{url}/api/layers?image=test:{image}"])[0] for image in images[:20]]
        occlusions = []
        for image in images[:5]:
            started = time.perf_counter()
            job = fetch(f"{url}/api/occlusion?image=test:{image}&window=6&stride=2", method="POST")["job"]
            while fetch(f"{url}/api/job?id={job}")["state"] == "running":
                time.sleep(0.01)
            occlusions.append(time.perf_counter() - started)
    finally:
        server.shutdown()
        server.server_close()
    result = {
        "threads": threads, "model": explorer.name, "dataset": explorer.dataset, "source": explorer.source,
        "test_images": int(len(explorer.labels)), "maps": sum(row["maps"] for row in shown),
        "top9_pass_seconds": pass_seconds["top9"], "predictions_pass_seconds": pass_seconds["predictions"],
        "top9_cache_read_seconds": read_seconds,
        "click": summary(clicks), "click_by_layer": {str(layer): summary(s) for layer, s in sorted(by_layer.items())},
        "new_image": summary(new_images), "occlusion_6x6_step2": summary(occlusions),
    }
    return result, shown


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=None, help="default: train zfnet_small briefly")
    parser.add_argument("--dataset", default=None, help="default: the checkpoint's")
    parser.add_argument("--data-path", default=None)
    parser.add_argument("--backend", default="numba")
    parser.add_argument("--threads", default="1,2", help="CPU thread counts to measure, in turn (default 1,2)")
    parser.add_argument("--clicks", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "explore-latency.md"))
    args = parser.parse_args()
    set_backend(args.backend)
    info = machine_info(threads=None)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        folder = pathlib.Path(folder)
        checkpoint = pathlib.Path(args.checkpoint) if args.checkpoint else train_default(folder)
        for threads in (int(t) for t in args.threads.split(",")):
            result, shown = measure(checkpoint, folder, args, threads)
            results.append(result)
    info["load_average_after"] = list(os.getloadavg())
    document = {"backend": args.backend, "results": results, "machine": info}
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(document, indent=2) + "\n")
    out.write_text(markdown(document, shown))
    print(out.read_text())


def markdown(document, shown):
    machine = document["machine"]
    first = document["results"][0]
    kinds = {row["index"]: row["kind"] for row in shown}
    lines = [
        "# minicnn explore: how long the page waits",
        "",
        f"`{machine['command']}`, {machine['date']}",
        "",
        f"{first['model']} on {first['dataset']} ({first['test_images']} test images, {first['source']}), "
        f"backend `{document['backend']}`, {first['maps']} maps in the layers the page shows. Times are wall "
        "clock at the client, over HTTP to the server on 127.0.0.1, as the page sees them.",
        "",
        "| CPU threads | what | median | 90th percentile | max | count |",
        "|---|---|---|---|---|---|",
    ]
    for result in document["results"]:
        for label, key in (("click on a map (its first click): /api/unit + /api/top9", "click"),
                           ("new image: /api/predict + /api/layers", "new_image"),
                           ("occlusion 6x6, step 2 (144 positions), request to result", "occlusion_6x6_step2")):
            s = result[key]
            lines.append(f"| {result['threads']} | {label} | {s['median_ms']:.0f} ms | {s['p90_ms']:.0f} ms | "
                         f"{s['max_ms']:.0f} ms | {s['count']} |")
    lines += ["", "| CPU threads | top-9 pass: every map of every shown layer, to the cache file | "
                  "then the predictions pass (for the misclassified list) | reading the cache back "
                  "(every later start) |", "|---|---|---|---|"]
    for result in document["results"]:
        lines.append(f"| {result['threads']} | **{result['top9_pass_seconds']:.1f} s** ({result['test_images']} "
                     f"images) | {result['predictions_pass_seconds']:.1f} s | {result['top9_cache_read_seconds']:.2f} s |")
    lines += ["", "Clicks by layer (median / max, ms):", "",
              "| layer | kind | " + " | ".join(f"{r['threads']} thread{'s' if r['threads'] > 1 else ''}"
                                            for r in document["results"]) + " |",
              "|---|---|" + "---|" * len(document["results"])]
    layers = sorted({int(layer) for r in document["results"] for layer in r["click_by_layer"]})
    for layer in layers:
        cells = []
        for r in document["results"]:
            s = r["click_by_layer"].get(str(layer))
            cells.append(f"{s['median_ms']:.0f} / {s['max_ms']:.0f} ({s['count']})" if s else "")
        lines.append(f"| {layer} | {kinds[layer]} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Machine: " + f"{machine['cpu_model']}, {machine['usable_cores']} usable cores of {machine['cpu_count']}, "
        f"{machine['ram_gib']} GiB; load average {machine['load_average_before'][0]:.2f} before, "
        f"{machine['load_average_after'][0]:.2f} after (other processes share these cores: the higher, "
        f"the more pessimistic the figures); {machine['platform']}.",
        "",
        "Versions: " + ", ".join(f"{name} {version}" for name, version in machine["versions"].items() if version) + ".",
        "",
        "Full record: the .json file beside this one.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
