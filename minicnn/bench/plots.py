"""PNG plots of a results document (the dict that run.py writes as JSON).

    ops-<op>.png   one bar chart per op: median time per workload and backend,
                   log scale, whiskers from the first to the third quartile
    models.png     images per second of each model step and backend
    scaling.png    time against batch size, against image size, and against
                   FLOPs, with the GEMM peak as a dashed line (the time the
                   work would take at the machine's best GFLOP/s)

Also usable on a saved JSON: ``python -m minicnn.bench.plots results.json``.
"""

import json
import pathlib
import re
import sys

COLORS = {"numpy": "#4c72b0", "numba": "#55a868", "cupy": "#c44e52",
          "torch-cpu": "#8172b2", "torch-cuda": "#ccb974"}


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _ok(case):
    return {r["backend"]: r for r in case["results"] if r.get("status") == "ok"}


def _timed_backends(cases):
    """The backends timed ("ok") in at least one of the cases, in first-seen order."""
    names = []
    for case in cases:
        names += [name for name in _ok(case) if name not in names]
    return names


def _grouped_bars(axes, labels, backends, value, spread=None):
    width = 0.8 / max(1, len(backends))
    for index, backend in enumerate(backends):
        positions = [i + (index - (len(backends) - 1) / 2) * width for i in range(len(labels))]
        heights = [value(label, backend) for label in labels]
        errors = None
        if spread is not None:
            low_high = [spread(label, backend) for label in labels]
            errors = [[max(0.0, h - lo) if h else 0 for h, (lo, _) in zip(heights, low_high)],
                      [max(0.0, hi - h) if h else 0 for h, (_, hi) in zip(heights, low_high)]]
        axes.bar(positions, [h or 0 for h in heights], width, yerr=errors, capsize=2,
                 label=backend, color=COLORS.get(backend))
    axes.set_xticks(range(len(labels)))
    axes.set_xticklabels(labels, fontsize=8)
    axes.legend(fontsize=8)


def plot_ops(document, out_dir):
    plt = _pyplot()
    cases = [case for case in document["cases"] if case["suite"] == "ops"]
    written = []
    for name in dict.fromkeys(case["name"] for case in cases):
        group = [case for case in cases if case["name"] == name]
        backends = _timed_backends(group)
        if not backends:
            continue
        labels = [case["workload"].split(":")[0] + "\n" + case["workload"].split(":", 1)[-1].strip()
                  for case in group]
        by_label = dict(zip(labels, group))

        def median(label, backend):
            result = _ok(by_label[label]).get(backend)
            return result["timing"]["median_ms"] if result else None

        def quartiles(label, backend):
            result = _ok(by_label[label]).get(backend)
            return (result["timing"]["q1_ms"], result["timing"]["q3_ms"]) if result else (0, 0)

        figure, axes = plt.subplots(figsize=(max(6, 3 * len(group)), 4.5))
        _grouped_bars(axes, labels, backends, median, quartiles)
        axes.set_yscale("log")
        axes.set_ylabel("median time per call (ms, log scale)")
        axes.set_title(f"{name}: time by backend (lower is better)")
        figure.tight_layout()
        path = out_dir / f"ops-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path.name)
    return written


def plot_models(document, out_dir):
    plt = _pyplot()
    cases = [case for case in document["cases"] if case["suite"] == "models"]
    backends = _timed_backends(cases)
    if not backends:
        return []
    labels = [f"{case['params']['model']}\n{case['name']}, batch {case['params']['batch']}" for case in cases]
    by_label = dict(zip(labels, cases))

    def images_per_s(label, backend):
        result = _ok(by_label[label]).get(backend)
        return result["images_per_s"] if result else None

    figure, axes = plt.subplots(figsize=(max(6, 2.5 * len(cases)), 4.5))
    _grouped_bars(axes, labels, backends, images_per_s)
    axes.set_yscale("log")
    axes.set_ylabel("images per second (log scale)")
    axes.set_title("Whole networks (higher is better)")
    figure.tight_layout()
    figure.savefig(out_dir / "models.png", dpi=110)
    plt.close(figure)
    return ["models.png"]


def plot_scaling(document, out_dir):
    plt = _pyplot()
    cases = [case for case in document["cases"] if case["suite"] == "scaling"]
    backends = _timed_backends(cases)
    if not backends:
        return []
    figure, panels = plt.subplots(1, 3, figsize=(15, 4.5))
    for axes, sweep in zip(panels[:2], ("batch", "image size")):
        points = [case for case in cases if case["params"]["sweep"] == sweep]
        for backend in backends:
            xy = [(case["params"]["value"], _ok(case)[backend]["timing"]["median_ms"])
                  for case in points if backend in _ok(case)]
            if xy:
                axes.plot(*zip(*xy), "o-", label=backend, color=COLORS.get(backend))
        axes.set_xscale("log")
        axes.set_yscale("log")
        values = [case["params"]["value"] for case in points]
        axes.set_xticks(values, [str(value) for value in values], minor=False)
        axes.set_xticks([], minor=True)
        axes.set_xlabel(f"{sweep} (log)")
        axes.set_ylabel("median time (ms, log)")
        axes.set_title(f"conv 3x3 forward+backward against {sweep}")
        axes.legend(fontsize=8)
    axes = panels[2]
    all_flops = sorted({case["flops"] for case in cases})
    for backend in backends:
        xy = sorted((case["flops"] / 1e9, _ok(case)[backend]["timing"]["median_ms"])
                    for case in cases if backend in _ok(case))
        if xy:
            axes.plot(*zip(*xy), "o", label=backend, color=COLORS.get(backend))
    for device, peak in document["peaks"].items():
        gflops = peak["gemm_peak_gflops"]
        axes.plot([f / 1e9 for f in all_flops], [f / gflops / 1e6 for f in all_flops], "--",
                  color="grey" if device == "cpu" else "black",
                  label=f"{device.upper()} GEMM peak {gflops:.0f} GFLOP/s")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.xaxis.set_minor_formatter(plt.NullFormatter())
    axes.set_xlabel("GFLOP per call (log)")
    axes.set_ylabel("median time (ms, log)")
    axes.set_title("time against work (both sweeps)")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out_dir / "scaling.png", dpi=110)
    plt.close(figure)
    return ["scaling.png"]


def plot_all(document, out_dir):
    """Write every plot into out_dir; returns the file names written."""
    out_dir = pathlib.Path(out_dir)
    return plot_ops(document, out_dir) + plot_models(document, out_dir) + plot_scaling(document, out_dir)


if __name__ == "__main__":
    path = pathlib.Path(sys.argv[1])
    print(plot_all(json.loads(path.read_text()), path.parent))
