"""The results as Markdown: what ran where, then one table per suite.

The JSON (written by run.py) holds everything; the Markdown is for reading:
a summary table per suite with the median time of each backend and its
speed-up over the numpy backend, then the detail (min, IQR, GFLOP/s, share
of the machine's GEMM peak, GB/s) and every case that was skipped or failed.
"""

SUITE_TITLES = {"ops": "Ops", "models": "Models", "scaling": "Scaling"}


def unused_stem(folder, name):
    """folder / name, or folder / name-2, name-3 ...: the first whose .md and .json do not
    exist yet, so that a second run on the same day keeps the first one's results."""
    stem, number = folder / name, 1
    while stem.with_name(stem.name + ".md").exists() or stem.with_name(stem.name + ".json").exists():
        number += 1
        stem = folder / f"{name}-{number}"
    return stem


def _number(value, digits=3):
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def _percent(value):
    return "-" if value is None else f"{100 * value:.1f}%"


def _table(header, rows, right_from=2):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i < right_from else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def _backends_in_results(cases):
    """Every backend named in the cases' results, timed, skipped or failed, in first-seen order."""
    names = []
    for case in cases:
        for result in case["results"]:
            if result["backend"] not in names:
                names.append(result["backend"])
    return names


def _summary_cell(result, baseline, models):
    """"12.3 ms (4.10x)": the median, and the speed-up over the baseline's median."""
    if result is None:
        return ""
    status = result.get("status")
    if status == "skipped":
        return "skipped"
    if status != "ok":
        return f"**{status}**"
    median = result["timing"]["median_ms"]
    text = f"{_number(result['images_per_s'])} img/s" if models else f"{_number(median)} ms"
    if baseline is not None and baseline is not result:
        text += f" ({baseline['timing']['median_ms'] / median:.2f}x)"
    return text


def _baseline(by_backend):
    """The numpy backend's result when it was timed, else the first timed one."""
    timed = [r for r in by_backend.values() if r.get("status") == "ok"]
    return by_backend["numpy"] if "numpy" in by_backend and by_backend["numpy"] in timed else (
        timed[0] if timed else None)


def summary_table(cases):
    """op | workload | one column per backend: median (speed-up over the baseline)."""
    backends = _backends_in_results(cases)
    models = bool(cases) and cases[0]["suite"] == "models"
    rows = []
    for case in cases:
        by_backend = {r["backend"]: r for r in case["results"]}
        baseline = _baseline(by_backend)
        rows.append([case["name"], case["workload"]]
                    + [_summary_cell(by_backend.get(name), baseline, models) for name in backends])
    return _table(["op" if not models else "step", "workload"] + backends, rows)


def detail_table(cases):
    rows = []
    for case in cases:
        for result in case["results"]:
            if result.get("status") != "ok":
                continue
            timing = result["timing"]
            rows.append([
                case["name"], case["workload"], result["backend"],
                _number(timing["median_ms"]), _number(timing["min_ms"]), _number(timing["iqr_ms"]),
                _number(case["flops"] / 1e9), _number(result.get("gflops")),
                _percent(result.get("fraction_of_gemm_peak")), _number(result.get("gb_per_s")),
                _percent(result.get("fraction_of_copy_peak")),
                f"{result['check']['max_relative_error']:.1e}",
            ])
    return _table(["op", "workload", "backend", "median ms", "min ms", "IQR ms", "GFLOP",
                   "GFLOP/s", "of GEMM peak", "GB/s", "of copy peak", "check error"], rows, right_from=3)


def _machine_lines(document):
    machine, settings = document["machine"], document["settings"]
    threads = machine["threads"]
    blas = machine["numpy_blas"]
    runtime_blas = ", ".join(f"{b.get('corename') or b.get('architecture')} core, "
                             f"{b.get('num_threads')} threads" for b in threads.get("blas", []))
    versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items() if version)
    gpu = machine.get("gpu")
    lines = [
        f"- **Command:** `{machine['command']}`",
        f"- **Date:** {machine['date']}; took {document['duration_s']:.0f} s",
        f"- **CPU:** {machine['cpu_model']}, {machine['usable_cores']} usable cores of "
        f"{machine['cpu_count']}, {machine['ram_gib']} GiB RAM",
        "- **GPU:** " + (f"{gpu['name']}, {gpu.get('memory_gib')} GiB, driver {gpu.get('driver')}"
                          if gpu else "none"),
        f"- **Load average (1, 5, 15 min):** before {_loads(machine['load_average_before'])}, "
        f"after {_loads(machine['load_average_after'])}",
        f"- **Threads:** {threads['requested']} for every library on the CPU: minicnn "
        f"{threads.get('minicnn', '-')}; NumPy's BLAS "
        f"({threads['blas_method']}) {runtime_blas or 'not found'}; Numba {threads.get('numba', '-')}; "
        f"PyTorch {threads.get('torch', '-')}",
        f"- **NumPy's BLAS:** {blas.get('name')} {blas.get('version') or ''}; "
        f"OPENBLAS_CORETYPE={machine['environment'].get('OPENBLAS_CORETYPE')}",
        "- **Process settings (minicnn/engine/process.py):** " + (
            "not recorded" if "process" not in machine
            else "none (tune() not called)" if machine["process"].get("tuned") is False
            else f"{machine['process']['blas']}; {machine['process'].get('openmp', '-')}; "
                 f"{machine['process']['memory']}"),
        f"- **Libraries:** {versions}",
        "- **Compiled kernels in use:** " + "; ".join(
            f"{name}: {', '.join(kernels) or 'none'}" for name, kernels in document["compiled_kernels"].items()),
    ]
    for device, peak in document["peaks"].items():
        gemm = ", ".join(f"{name} {value:.0f}" for name, value in peak["gemm_gflops"].items())
        copy = ", ".join(f"{name} {value:.1f}" for name, value in peak["copy_gb_per_s"].items())
        lines.append(f"- **{device.upper()} peaks, measured in this run:** float32 GEMM "
                     f"{peak['gemm_size']}^3: {gemm} GFLOP/s; copy of {peak['copy_megabytes']} MB: "
                     f"{copy} GB/s")
    timing = settings["timing"]
    lines.append(
        f"- **Timing:** {timing['warmup']} warm-up calls, then the median of {timing['repeat']} samples "
        f"of at least {timing['min_sample_s'] * 1e3:g} ms each (many calls per sample for fast ops); "
        "GPU synchronised before each clock reading; every result first checked against the NumPy "
        "reference (max |result - reference| / max |reference| within the case's tolerance)")
    if document["missing_backends"]:
        lines.append("- **Not available:** " + "; ".join(
            f"{name} ({reason})" for name, reason in document["missing_backends"].items()))
    return lines


def _loads(values):
    return "-" if values is None else ", ".join(f"{value:.2f}" for value in values)


def markdown(document):
    """The whole report as Markdown text."""
    quick = " (--quick: tiny shapes, not a measurement)" if document["settings"]["quick"] else ""
    lines = [f"# minicnn benchmarks{quick}", ""] + _machine_lines(document) + [""]
    for suite, title in SUITE_TITLES.items():
        cases = [case for case in document["cases"] if case["suite"] == suite]
        if not cases:
            continue
        what = "images/s" if suite == "models" else "median time"
        lines += [f"## {title}: {what} (speed-up over numpy)", "",
                  "(x: the numpy backend's time over this one; where numpy was not run, the first "
                  "column's)", ""] + summary_table(cases) + [""]
        lines += [f"### {title}: details", ""] + detail_table(cases) + [""]
    formulas = {}
    for case in document["cases"]:
        formulas.setdefault(case["name"], case["flop_formula"])
    lines += ["## FLOP formulas", ""] + [f"- {name}: `{formula}`" for name, formula in formulas.items()]
    problems = [(case, r) for case in document["cases"] for r in case["results"] if r.get("status") != "ok"]
    notes = document.get("notes", [])
    if problems or notes:
        lines += ["", "## Skipped, failed and left out", ""]
        lines += [f"- {case['name']} [{case['workload']}] on {r['backend']}: {r['status']}: {r['reason']}"
                  for case, r in problems]
        lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"
