"""The benchmark harness (minicnn/bench): it runs, it checks, it records.

One --quick run on tiny shapes, on every backend this machine has (and
PyTorch when installed), writes its JSON, Markdown and plots into a
temporary folder; the tests read them. No test looks at a time: how fast
minicnn is belongs in benchmarks/results, not in a unit test. The FLOP
formulas are checked against numbers worked out by hand.
"""

import json

import numpy as np
import pytest

import minicnn as mc
from minicnn.engine import threads
from minicnn.bench import flops, harness, run, targets, timing
from minicnn.bench.flops import ConvGeometry
from minicnn.bench.suite_ops import OpCase
from minicnn.models import get_model


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    status = run.main(["--quick", "--out", str(out)])
    return status, out, json.loads((out / "results.json").read_text())


def test_quick_run_passes_every_check(quick_run):
    status, _, document = quick_run
    assert status == 0, document["failures"]
    assert document["all_checks_passed"] and not document["failures"]
    for case in document["cases"]:
        for result in case["results"]:
            where = f"{case['name']} [{case['workload']}] on {result['backend']}"
            assert result["status"] in ("ok", "skipped"), f"{where}: {result.get('reason')}"
            if result["status"] == "skipped":
                assert result["reason"], where
                continue
            assert result["check"]["passed"], where
            assert result["check"]["max_relative_error"] <= case["tolerance"], where


def test_quick_run_covers_every_suite_op_and_backend(quick_run):
    _, _, document = quick_run
    assert {case["suite"] for case in document["cases"]} == {"ops", "models", "scaling"}
    names = {case["name"] for case in document["cases"]}
    for op in ("conv2d forward", "conv2d backward", "im2col", "col2im", "max_pool2d forward",
               "max_pool2d backward", "max_unpool2d", "lrn forward", "lrn backward",
               "cross_entropy forward", "cross_entropy backward", "train step",
               "conv2d forward+backward"):
        assert op in names, op
    timed = {r["backend"] for case in document["cases"] for r in case["results"] if r["status"] == "ok"}
    available = [name for name, (ok, _) in mc.backends().items() if ok]
    assert set(available) <= timed
    assert set(document["backends"]) == timed
    torch_available = targets.import_torch()[0] is not None
    assert ("torch-cpu" in timed) == torch_available
    for name in targets.ALL_NAMES:
        assert name in timed or name in document["missing_backends"], name


def test_quick_run_records_the_machine_and_the_figures(quick_run):
    _, _, document = quick_run
    machine = document["machine"]
    for key in ("date", "cpu_model", "cpu_count", "usable_cores", "ram_gib", "load_average_before",
                "load_average_after", "threads", "environment", "numpy_blas", "versions", "gpu"):
        assert key in machine, key
    assert "OPENBLAS_CORETYPE" in machine["environment"]
    assert machine["threads"]["requested"] == 2
    assert machine["versions"]["numpy"] == np.__version__
    assert len(machine["load_average_before"]) == 3
    assert document["peaks"]["cpu"]["gemm_peak_gflops"] > 0
    assert document["peaks"]["cpu"]["copy_peak_gb_per_s"] > 0
    for case in document["cases"]:
        assert case["flops"] >= 0 and case["flop_formula"]
        for result in case["results"]:
            if result["status"] != "ok":
                continue
            figures = result["timing"]
            assert figures["min_ms"] <= figures["median_ms"]
            assert figures["q1_ms"] <= figures["median_ms"] <= figures["q3_ms"]
            assert len(figures["samples_ms"]) == document["settings"]["timing"]["repeat"]
            if case["flops"]:
                assert result["gflops"] > 0 and result["fraction_of_gemm_peak"] > 0
            if case["suite"] == "models":
                assert result["images_per_s"] > 0
            numpy_ran = any(r["backend"] == "numpy" and r["status"] == "ok" for r in case["results"])
            if numpy_ran:  # GPU-only cases (ZFNet at 224x224) have no numpy time to compare with
                assert result["speedup_vs_numpy"] > 0


def test_quick_run_writes_markdown_and_plots(quick_run):
    _, out, document = quick_run
    text = (out / "results.md").read_text()
    for heading in ("## Ops", "## Models", "## Scaling", "## FLOP formulas"):
        assert heading in text
    assert document["machine"]["cpu_model"] in text
    pytest.importorskip("matplotlib")
    for name in ("scaling.png", "models.png", "ops-conv2d-forward.png", "ops-max-unpool2d.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG", name


# ----- FLOP formulas, worked by hand ----------------------------------------------------------

def test_conv_flops_by_hand():
    # MNIST conv1: x (128, 1, 28, 28), 32 filters 3x3 -> OH = OW = 28 - 3 + 1 = 26
    # forward: 2 * N * F * OH * OW * C * KH * KW = 2 * 128 * 32 * 26 * 26 * 1 * 3 * 3
    #        = 2 * 4096 * 676 * 9 = 49,840,128
    g = ConvGeometry(128, 1, 28, 28, 32, 3, 3)
    assert (g.oh, g.ow) == (26, 26)
    assert flops.conv2d_forward(g).flops == 49_840_128
    assert flops.conv2d_backward(g).flops == 2 * 49_840_128
    # bytes: x 128*784 + w 32*9 + y 128*32*676 floats of 4 bytes
    assert flops.conv2d_forward(g).bytes == 4 * (100_352 + 288 + 2_768_896)
    # ZFNet conv1: x (32, 3, 224, 224), 96 filters 7x7 stride 2 padding 1
    # OH = (224 - 7 + 2) // 2 + 1 = 110; 2 * 32 * 96 * 110 * 110 * 3 * 7 * 7 = 10,928,332,800
    zfnet = ConvGeometry(32, 3, 224, 224, 96, 7, 7, 2, 2, 1, 1)
    assert zfnet.oh == 110
    assert flops.conv2d_forward(zfnet).flops == 10_928_332_800
    # col2im: one addition per column entry, N * C*KH*KW * OH*OW = 32 * 147 * 12100
    assert flops.col2im(zfnet).flops == 56_918_400
    assert flops.im2col(zfnet).flops == 0


def test_pool_lrn_and_loss_flops_by_hand():
    # keras pool: x (128, 32, 26, 26), 2x2/2 -> 13x13 windows, 3 comparisons each
    pool = ConvGeometry(128, 32, 26, 26, 32, 2, 2, 2, 2)
    assert flops.maxpool_forward(pool).flops == 128 * 32 * 169 * 3 == 2_076_672
    assert flops.maxpool_scatter(pool).flops == 692_224
    # ZFNet pool1 with ceil_mode: ceil((110 - 3) / 2) + 1 = 55
    assert ConvGeometry(32, 96, 110, 110, 96, 3, 3, 2, 2, ceil_mode=True).oh == 55
    # LRN size 5 on (32, 96, 55, 55): 9,292,800 values, 9 FLOPs each forward, 11 backward
    assert flops.lrn_forward((32, 96, 55, 55), 5).flops == 83_635_200
    assert flops.lrn_backward((32, 96, 55, 55), 5).flops == 102_220_800
    # cross-entropy, logits (128, 10): 5 * 1280 + 128 and 2 * 1280 + 128
    assert flops.cross_entropy_forward(128, 10).flops == 6_528
    assert flops.cross_entropy_backward(128, 10).flops == 2_688


def test_network_flops_by_hand():
    # keras_mnist_cnn multiply-adds per image:
    #   conv 1->32 3x3 at 26x26: 32*26*26*1*9   =   194,688
    #   conv 32->64 3x3 at 11x11: 64*11*11*32*9 = 2,230,272
    #   conv 64->64 3x3 at 3x3:  64*3*3*64*9    =   331,776
    #   dense 576->64: 36,864;  dense 64->10: 640
    #   total 2,794,240
    model = get_model("keras_mnist_cnn")
    assert flops.network(model, (1, 28, 28), 1, "forward").flops == 2 * 2_794_240
    # backward: weight gradients 2 * total, input gradients 2 * (total - first layer)
    backward = 2 * 2_794_240 + 2 * (2_794_240 - 194_688)
    assert flops.network(model, (1, 28, 28), 1, "forward+backward").flops == 2 * 2_794_240 + backward
    parameters = 93_322
    assert flops.network(model, (1, 28, 28), 128, "train step").flops == (
        128 * (2 * 2_794_240 + backward) + 4 * parameters)


# ----- the check before the timing ---------------------------------------------------------------

def test_relative_error():
    reference = [np.array([1.0, -2.0, 4.0], np.float32), np.array([3, 1])]
    assert harness.relative_error(reference, reference) == 0.0
    off = [np.array([1.0, -2.0, 4.004], np.float32), np.array([3, 1])]
    assert harness.relative_error(reference, off) == pytest.approx(1e-3, rel=1e-3)
    wrong_switch = [reference[0], np.array([3, 2])]
    assert harness.relative_error(reference, wrong_switch) == float("inf")
    with pytest.raises(ValueError, match="shape"):
        harness.relative_error(reference, [np.zeros(2, np.float32), reference[1]])


def test_a_wrong_backend_is_reported_and_not_timed():
    """A result that disagrees with the NumPy reference is a failed check, never a time."""
    def build(rng):
        return {"x": rng.standard_normal((3, 4), dtype=np.float32)}

    def ours(target, arrays):
        x = target.put(arrays["x"])
        wrong = target.name != "numpy"            # every backend but the reference is off by 1%
        return lambda: (x * np.float32(1.01 if wrong else 1.0),)

    case = OpCase("ops", "scale", "x (3, 4)", flops.Work(12, 96, "N"), build, ours)
    chosen, _ = targets.make_targets(["numpy", "numba"])
    settings = {"seed": 0, "timing": {"warmup": 0, "repeat": 1, "min_sample_s": 0.0}}
    messages = []
    record = harness.run_case(case, chosen, targets.MinicnnTarget("numpy"), settings, messages.append)
    by_backend = {r["backend"]: r for r in record["results"]}
    assert by_backend["numpy"]["status"] == "ok"
    if "numba" in by_backend:
        failed = by_backend["numba"]
        assert failed["status"] == "check failed" and "timing" not in failed
        assert "exceeds the float32 tolerance" in failed["reason"]
        assert any("CHECK FAILED" in message for message in messages)


def test_measure_takes_the_samples_it_is_asked_for():
    calls = []
    result = timing.measure(lambda: calls.append(1), warmup=2, repeat=5, min_sample_s=0.0)
    assert len(result.samples_s) == 5 and result.number == 1
    assert len(calls) == 2 + 1 + 5                        # warm-up, calibration, samples
    assert result.min_s <= result.median_s
    assert set(result.summary()) >= {"median_ms", "min_ms", "q1_ms", "q3_ms", "iqr_ms", "samples_ms"}


def test_bad_options_are_explained():
    with pytest.raises(SystemExit, match="unknown suite"):
        run.main(["--quick", "--suite", "opz"])
    with pytest.raises(ValueError, match="unknown backend"):
        targets.expand(["numpy", "tensorflow"])
    assert targets.expand(["torch", "numpy"]) == ["torch-cpu", "torch-cuda", "numpy"]


def test_profile_accounts_for_ops_kernels_and_matrix_products():
    from minicnn.bench.profile import profile_training_step, table

    profile = profile_training_step("keras_mnist_cnn", "numpy", batch=4, steps=2, warmup=1)
    per_step = profile["ms_per_step"]
    for label in ("conv2d forward", "conv2d backward", "kernel im2col", "kernel col2im",
                  "max_pool2d forward", "kernel maxpool_forward", "relu forward", "SGD step"):
        assert per_step[label] > 0, label
    # 3 convolutions and 2 dense layers, 3 products each, except that the
    # first convolution's input (the images) needs no gradient: 14 products.
    products = profile["matrix_products_ms"]
    assert len(products) == 14
    assert "conv2d (32, 9, 2704) forward" in products          # F=32, K=1*3*3, P=4*26*26
    assert not any(label.startswith("conv2d (32, 9,") and "input gradient" in label for label in products)
    text = table(profile)
    assert "matrix products, timed apart" in text and "the rest (Python" in text


@pytest.mark.skipif(not mc.backends()["numba"][0],
                    reason="Winograd layers run on the numba backend, which needs numba")
def test_profile_lists_a_winograd_layers_sixteen_products_of_each_kind():
    from minicnn.bench.profile import profile_training_step

    # zfnet_small's 3x3 layers take kernels/winograd.py on the numba backend
    profile = profile_training_step("zfnet_small", "numba", batch=2, steps=1, warmup=1)
    products = profile["matrix_products_ms"]
    # conv4: 96 filters, 96 channels, 7x7 outputs in 4x4 tiles of 2x2: T = 2 images * 16 tiles
    assert "conv2d by Winograd, 16 x (96, 96, 32) forward" in products
    assert "conv2d by Winograd, 16 x (96, 96, 32) input gradient" in products
    assert not any(label.startswith("conv2d (96, 864,") for label in products)
    # its first layer takes "direct, pooled in cache", which computes no product
    assert not any(label.startswith("conv2d (32, 25,") for label in products)
    assert profile["ms_per_step"]["conv2d+max_pool2d+relu by direct, pooled in cache forward"] > 0


@pytest.mark.skipif(not mc.backends()["numba"][0] or not threads.blas_control(),
                    reason="the route runs on the numba backend with NumPy's OpenBLAS taking a thread count")
def test_profile_lists_only_the_forward_product_of_gradients_at_the_switches():
    from minicnn.bench.profile import profile_training_step

    # keras-MNIST's second layer takes "im2col pooled, gradients at switches": F=64, K=32*3*3,
    # P=4*10*10, the 10x10 of its 11x11 outputs that the 2x2 pool reads; its gradients are
    # read at the switches, with no product
    profile = profile_training_step("keras_mnist_cnn", "numba", batch=4, steps=1, warmup=1)
    products = profile["matrix_products_ms"]
    assert "conv2d, forward only (64, 288, 400) forward" in products
    assert not any("(64, 288, 4" in label and "gradient" in label for label in products)
    assert profile["ms_per_step"]["conv2d+max_pool2d+relu by im2col pooled, gradients at switches backward"] > 0


@pytest.mark.parametrize("arguments, named", [
    (["--steps", "0"], "--steps must be at least 1; got 0"),
    (["--batch", "-1"], "--batch must be at least 1; got -1"),
    (["--model", "bogus"], "--model: unknown model 'bogus'; choose one of keras_mnist_cnn"),
    (["--backend", "tpu"], "--backend: unknown backend 'tpu'; choose one of numpy, numba, cupy"),
])
def test_the_profiler_refuses_bad_arguments_in_one_line(arguments, named, capsys):
    from minicnn.bench import profile
    with pytest.raises(SystemExit) as stop:
        profile.main(arguments)
    assert stop.value.code == 2 and named in capsys.readouterr().err


def test_two_jobs_benchmark_times_each_library_alone_and_side_by_side(tmp_path):
    """benchmarks/two_jobs.py end to end on a tiny batch: both libraries, alone and in pairs,
    a table and the raw figures; no time is judged."""
    pytest.importorskip("torch")
    import pathlib
    import subprocess
    import sys
    script = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "two_jobs.py"
    done = subprocess.run([sys.executable, str(script), "--batch", "4", "--seconds", "1",
                           "--warmup", "1", "--rounds", "1", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (table,) = tmp_path.glob("two-jobs-cpu-*.md")
    (raw,) = tmp_path.glob("two-jobs-cpu-*.json")
    text = table.read_text()
    assert "| minicnn numba |" in text and "| PyTorch CPU |" in text
    results = json.loads(raw.read_text())["results"]
    for library in ("numba", "torch-cpu"):
        figures = results[library]
        assert len(figures["solo_ms"]) == 1 and len(figures["pair_ms"]) == 2
        assert all(value > 0 for value in figures["solo_ms"] + figures["pair_ms"])
        assert figures["kept"] == pytest.approx([figures["solo_ms"][0] / v for v in figures["pair_ms"]])


def run_benchmark_script(name, *arguments):
    """benchmarks/<name> run as a learner runs it, in a fresh process: its standard output.
    Skips without numba (these scripts time compiled loops); fails with the script's errors."""
    if not mc.backends()["numba"][0]:
        pytest.skip("numba is not available: the script times compiled loops on the numba backend")
    import pathlib
    import subprocess
    import sys
    root = pathlib.Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, str(root / "benchmarks" / name), *map(str, arguments)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_maxpool_loops_ab_compares_two_trees_on_the_same_arrays():
    """benchmarks/maxpool_loops_ab.py end to end, this checkout against itself: a row per case,
    both trees' loops agree (the script asserts it); no time is judged."""
    import pathlib
    root = pathlib.Path(__file__).resolve().parent.parent
    out = run_benchmark_script("maxpool_loops_ab.py", root, "--calls", "2")
    rows = [line for line in out.splitlines() if line.startswith("| (")]
    assert len(rows) == 4 and all(line.count("|") == 6 for line in rows)


@pytest.mark.parametrize("layers, cases", [("first", 6), ("later", 10)])
def test_route_ab_times_both_routes_of_every_case(tmp_path, layers, cases):
    """benchmarks/route_ab.py end to end, one step each: a row per case, and the JSON's
    figures; the script checks that each route ran. No time is judged."""
    import json
    out = run_benchmark_script("route_ab.py", "--layers", layers, "--steps", "1", "--json", tmp_path / "ab.json")
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert len(table) == 2 + cases and all(line.count("|") == 8 for line in table)   # header, rule, cases
    saved = json.loads((tmp_path / "ab.json").read_text())
    assert [result["case"] for result in saved["results"]] == [line.split(" | ")[0][2:] for line in table[2:]]
    for result in saved["results"]:
        a, b = (result["median_ms"][name] for name in saved["routes"])
        assert a > 0 and b > 0 and result["b_over_a"] == pytest.approx(b / a)


def test_step_ab_times_whole_steps_with_and_without_a_route(tmp_path):
    """benchmarks/step_ab.py end to end, two steps each: both medians, their ratio, the
    machine. No time is judged."""
    import json
    out = run_benchmark_script("step_ab.py", "--batch", "4", "--steps", "2", "--json", tmp_path / "ab.json")
    saved = json.loads((tmp_path / "ab.json").read_text())
    assert saved["without"] == "im2col pooled, gradients at switches" and saved["batch"] == 4
    assert min(saved["median_ms"].values()) > 0 and saved["machine"]["cpu_model"]
    assert saved["without_over_with"] == pytest.approx(saved["median_ms"]["without"] / saved["median_ms"]["with"])
    assert "without / with" in out


@pytest.mark.parametrize("cases, only, row", [
    ("training", "keras_mnist_cnn 32", "| keras_mnist_cnn 32 |"),
    ("elsewhere", "projection, keras", "| projection, keras_mnist_cnn, numba, batch 1 |")])
def test_compare_trees_times_both_trees_in_fresh_processes(tmp_path, cases, only, row):
    """benchmarks/compare_trees.py end to end, this tree against itself, one round of one
    step, the training case or an explorer click's projection: a row with both trees' figures,
    and the raw JSON. No time is judged."""
    import json
    import pathlib
    root = pathlib.Path(__file__).resolve().parent.parent
    out = run_benchmark_script("compare_trees.py", root, root, "--rounds", "1", "--steps", "1", "--cases", cases,
                               "--only", only, "--out", tmp_path / "trees.md")
    assert row in out and (tmp_path / "trees.md").read_text() in out
    (case, runs), = json.loads((tmp_path / "trees.json").read_text()).items()
    assert only in case and [len(runs["before"]), len(runs["after"])] == [1, 1]
    assert all(run["median_ms"] > 0 for run in runs["before"] + runs["after"])


def test_step_ab_names_the_routes_when_asked_for_one_that_is_not():
    import pathlib
    import subprocess
    import sys
    script = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "step_ab.py"
    done = subprocess.run([sys.executable, str(script), "--without", "nonsense"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode != 0
    assert "no route is named 'nonsense'; the routes are" in done.stderr and "'chunks'" in done.stderr


def test_im2col_table_ab_times_both_paths_and_checks_they_agree(tmp_path):
    """benchmarks/im2col_table_ab.py end to end, one call each: a row per case, and the JSON;
    the script asserts the loops and the table give the same bits. No time is judged."""
    import json
    out = run_benchmark_script("im2col_table_ab.py", "--calls", "1", "--json", tmp_path / "ab.json")
    table = [line for line in out.splitlines() if line.startswith("| (")]
    saved = json.loads((tmp_path / "ab.json").read_text())
    assert len(table) == len(saved["results"]) == 7
    assert all(len(r["im2col_ms"]) == len(r["col2im_ms"]) == 2 and min(r["im2col_ms"] + r["col2im_ms"]) > 0
               for r in saved["results"])


def test_maxpool_3x3_ab_times_both_loops_and_checks_they_agree(tmp_path):
    """benchmarks/maxpool_3x3_ab.py end to end, one call each: a row per case; the script
    asserts the two loops give the same bits. No time is judged."""
    import json
    out = run_benchmark_script("maxpool_3x3_ab.py", "--calls", "1", "--json", tmp_path / "ab.json")
    saved = json.loads((tmp_path / "ab.json").read_text())
    table = [line for line in out.splitlines() if line.startswith("| (")]
    assert len(table) == len(saved["results"]) == 7
    assert {result["replaced"] for result in saved["results"]} == {"inside", "general (clipped)"}


def test_a_second_result_of_the_same_day_gets_a_new_name(tmp_path):
    """benchmarks/import_order.py and two_jobs.py name their files by the date: a second run
    that day must not overwrite the first (as happened to a committed result)."""
    from minicnn.bench.report import unused_stem
    assert unused_stem(tmp_path, "two-jobs-cpu-2026-12-07") == tmp_path / "two-jobs-cpu-2026-12-07"
    (tmp_path / "two-jobs-cpu-2026-12-07.md").write_text("first")
    assert unused_stem(tmp_path, "two-jobs-cpu-2026-12-07") == tmp_path / "two-jobs-cpu-2026-12-07-2"
    (tmp_path / "two-jobs-cpu-2026-12-07-2.json").write_text("{}")
    assert unused_stem(tmp_path, "two-jobs-cpu-2026-12-07") == tmp_path / "two-jobs-cpu-2026-12-07-3"
