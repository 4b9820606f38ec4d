"""Every plot helper writes a PNG and returns its path; tour_figures makes the tour's figures;
no experiment leaves a trace on the model (modes, gradients, flags)."""

import numpy as np
import pytest

import minicnn as mc
from minicnn import nn
from minicnn.visualize import (
    FeatureEvolution, ablation, compare_first_layers, correspondence, discriminability, feature_maps,
    feature_visualization, format_rows, format_table, grad_cam, invariance, maximize_activation, occlusion,
    occlusion_attribution, plot_ablation, plot_correspondence, plot_discriminability, plot_evolution,
    plot_feature_maps, plot_feature_visualization, plot_first_layers, plot_grad_cam, plot_invariance,
    plot_occlusion, plot_patterns, top_k,
)
from minicnn.cli.tour_figures import tour_figures

PNG = b"\x89PNG\r\n\x1a\n"


def small_net():
    mc.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(1, 4, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True), nn.LocalResponseNorm(5),
        nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(6 * 3 * 3, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 4),
    )


def images(count=12, seed=0):
    return np.random.default_rng(seed).standard_normal((count, 1, 14, 14)).astype(np.float32)


def is_png(path):
    with open(path, "rb") as handle:
        return handle.read(8) == PNG


def test_every_plot_helper_writes_a_png(tmp_path):
    model, x = small_net(), images()
    paths = [
        plot_feature_visualization(feature_visualization(model, x, [1, 5], k=4, max_maps=2), tmp_path / "fig2.png"),
        plot_invariance([invariance(model, x[:2], [0, 1], name, amounts=amounts) for name, amounts in
                         (("translate", [-2, 0, 2]), ("scale", [0.8, 1, 1.2]), ("rotate", [0, 90]))],
                        tmp_path / "fig5.png"),
        plot_first_layers(compare_first_layers(model, small_net(), x), tmp_path / "fig6.png"),
        plot_occlusion(x[0], occlusion(model, x[0], 1, window=4, stride=2), tmp_path / "fig7.png",
                       classes=["a", "b", "c", "d"]),
        plot_feature_maps(feature_maps(model, x[0], [1, 5, 9]), tmp_path / "maps.png"),
        plot_patterns(maximize_activation(model, 5, [0, 1], (1, 14, 14), steps=3)[0], tmp_path / "ascent.png", [0, 1]),
        plot_grad_cam(x[:3], grad_cam(model, x[:3], [0, 1, 2]), tmp_path / "nested" / "cam.png"),
    ]
    labels = np.arange(len(x)) % 4
    table = correspondence(model, x[:4], {"box": (2, 6, 2, 6)}, [1, 5], trials=1)
    paths.append(plot_correspondence(table, tmp_path / "table1.png"))
    paths.append(plot_discriminability(discriminability(model, x, labels, x, labels, [1, 9], epochs=1),
                                       tmp_path / "table7.png"))
    rows = ablation(model, (1, 14, 14), {"no conv 2": {"remove": [4, 5, 6], "resize": {8: 8}}},
                    train=lambda variant: None, test_images=x, test_labels=labels)
    assert "no conv 2" in format_rows(rows) and "box" in format_table(table)
    paths.append(plot_ablation(rows, tmp_path / "table2.png"))
    evolution = FeatureEvolution(x, [1, 5], epochs=[1], max_maps=3)
    evolution.snapshot(model, 1)
    evolution.snapshot(model, 3)
    paths.append(plot_evolution(evolution, tmp_path / "fig4.png"))
    for path in paths:
        assert isinstance(path, str) and is_png(path), path


def test_tour_figures_on_uint8_images(tmp_path):
    model = small_net()
    rng = np.random.default_rng(0)
    data = (rng.integers(0, 256, (40, 14, 14), dtype=np.uint8), rng.integers(0, 4, 40), list("wxyz"))
    figures = tour_figures(model, data, tmp_path / "tour", count=30, occluded=2, window=4, stride=2, maps=3)
    titles = [title for title, _, _ in figures]
    assert titles[:2] == ["Deconvnet: convolution 1", "Deconvnet: convolution 2"]
    assert len(figures) == 4 and titles[2].startswith("Occlusion sensitivity: test image 0 (")
    for _, path, caption in figures:
        assert is_png(path) and len(caption) > 50


def test_tour_figures_takes_the_tours_data_object(tmp_path):
    from types import SimpleNamespace
    model, x = small_net(), images(10)
    data = SimpleNamespace(test_x=x, test_y=np.arange(10) % 4, classes=list("abcd"), test_images=None)
    figures = tour_figures(model, data, tmp_path, count=10, occluded=1, window=7, stride=7, maps=1)
    assert len(figures) == 3 and "(" + "abcd"[0] + ")" in figures[2][0]


def test_tour_figures_with_zfnet_small(tmp_path):
    models = pytest.importorskip("minicnn.models")
    model = models.get_model("zfnet_small")
    data = (np.random.default_rng(1).integers(0, 256, (12, 28, 28), dtype=np.uint8), np.arange(12) % 10)
    figures = tour_figures(model, data, tmp_path, count=9, occluded=1, window=14, stride=7, maps=1)
    assert len(figures) == 5 + 1                   # five convolutions, one occluded image
    assert all(is_png(path) for _, path, _ in figures)


def test_experiments_leave_the_model_as_they_found_it():
    model, x = small_net(), images(6)
    model.train()
    model[10].training = False                     # a mixed state must survive too
    modes = [module.training for _, module in model.named_modules()]
    weights = {name: p.data.copy() for name, p in model.named_parameters()}
    top_k(model, x, 5, 0, k=3)
    occlusion(model, x[0], 0, 4, 3)
    occlusion_attribution(model, x[0], 0, 4, 3)
    grad_cam(model, x[:2], 1)
    maximize_activation(model, 1, [0], (1, 14, 14), steps=2)
    invariance(model, x[:2], [0, 0], "rotate", amounts=[0, 45])
    assert [module.training for _, module in model.named_modules()] == modes
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.data, weights[name])
        assert p.grad is None and p.requires_grad


def test_every_experiment_gives_the_same_numbers_on_every_backend(backend_name, tmp_path):
    """Each experiment on the active backend's device equals its NumPy-backend result, and plots."""
    from minicnn.engine.backend import default_device, to_device, to_numpy
    from minicnn.visualize import filter_report

    def run_all(model, x):
        labels = np.arange(len(x)) % 4
        return {
            "top_k": to_numpy(top_k(model, x, 5, 1, k=3).projections),
            "occlusion": occlusion(model, x[0], 1, 4, 3).prob,
            "attribution": to_numpy(occlusion_attribution(model, x[0], 1, 4, 3)),
            "grad_cam": to_numpy(grad_cam(model, x[:2], [0, 3]).heatmap),
            "ascent": to_numpy(maximize_activation(model, 5, [0], (1, 14, 14), steps=2)[0]),
            "invariance": invariance(model, x[:2], [0, 1], "rotate", amounts=[0, 30]).distances[0],
            "filters": filter_report(model, x).spectrum,
            "correspondence": correspondence(model, x[:4], {"box": (2, 6, 2, 6)}, [5], trials=1).fraction["box"][5],
            "softmax": discriminability(model, x, labels, x, labels, [9], epochs=2)[9],
            "maps": feature_maps(model, x[0], [5])[5],
            "evolution": FeatureEvolution(x, [5], max_maps=2).snapshot(model, 1)[5].projections,
        }

    with mc.using_backend("numpy"):
        model = small_net().to("float64")
        x = images(8).astype(np.float64)
        expected = run_all(model, x)
    model.to(default_device())
    results = run_all(model, to_device(x, default_device()))
    for name, value in expected.items():
        np.testing.assert_allclose(results[name], value, rtol=1e-9, atol=1e-12, err_msg=name)
    x = to_device(x, default_device())
    assert is_png(plot_feature_visualization(feature_visualization(model, x, [1], k=2, max_maps=1), tmp_path / "a.png"))
    assert is_png(plot_grad_cam(x[:2], grad_cam(model, x[:2], 0), tmp_path / "b.png"))
    assert is_png(plot_occlusion(x[0], occlusion(model, x[0], 0, 7, 7), tmp_path / "c.png"))
    assert is_png(plot_patterns(maximize_activation(model, 1, [0], (1, 14, 14), steps=1)[0], tmp_path / "d.png"))
