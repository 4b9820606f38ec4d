"""ZFNet's experiments and the lecture notes' visualizations, on small nets built here.

Invariance (Fig. 5), architecture selection (Fig. 6), correspondence
(Table 1), discriminability (Table 7), ablation (Tables 2-3), feature
evolution (Fig. 4) with minicnn.training.loop.fit, feature maps, gradient ascent,
Grad-CAM, and that no experiment disturbs the model.
"""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minicnn as mc
from minicnn import nn
from minicnn.engine.shapes import ShapeError
from minicnn.engine.tensor import no_grad
from minicnn.visualize import (
    Deconvnet, FeatureEvolution, ablation, compare_first_layers, correspondence, discriminability, extract_features,
    feature_maps,
    filter_report, grad_cam, invariance, mask_regions, maximize_activation, rebuild, resize_bilinear,
    sign_disagreements, top_errors, train_softmax,
)
from minicnn.visualize.correspondence_table import delta
from oracles import import_oracle


def small_net(classes=3):
    mc.manual_seed(11)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(3, 2), nn.LocalResponseNorm(3),   # 12 -> 10 -> 4
        nn.Conv2d(4, 5, 3, padding=1), nn.ReLU(),                                      # 4
        nn.Flatten(), nn.Linear(5 * 4 * 4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, classes),
    )


def images(count=6, seed=0, size=12):
    return np.random.default_rng(seed).standard_normal((count, 1, size, size)).astype(np.float32)


def probabilities(model, x):
    model.eval()
    with no_grad():
        logits = model(mc.tensor(x)).numpy().astype(np.float64)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ------------------------------------------------------------ invariance (Fig. 5)

def test_invariance_is_zero_at_the_identity_and_shapes_are_right():
    model, x = small_net(), images(3)
    labels = np.array([0, 1, 2])
    curves = invariance(model, x, labels, "translate", amounts=[-2, 0, 3])
    assert curves.layers == [0, 8]               # first conv; what feeds the last Linear (dropout skipped)
    for layer in curves.layers:
        assert curves.distances[layer].shape == (3, 3)
        np.testing.assert_array_equal(curves.distances[layer][:, 1], 0.0)
        assert (curves.distances[layer][:, [0, 2]] > 0).all()
    probs = probabilities(model, x)
    np.testing.assert_allclose(curves.probability[:, 1], probs[np.arange(3), labels], rtol=1e-5)
    rotated = invariance(model, x, labels, "rotate", amounts=[0, 360], layers=[4])
    np.testing.assert_allclose(rotated.distances[4], 0.0, atol=1e-6)


def test_invariance_takes_any_transform_function():
    model, x = small_net(), images(2)

    def brighten(batch, amount):
        return batch + np.float32(amount)

    curves = invariance(model, x, [0, 0], brighten, amounts=[0.0, 1.0], layers=[0])
    expected = np.sqrt(((Deconvnet(model).up(x + 1, 0).activations - Deconvnet(model).up(x, 0).activations) ** 2)
                       .reshape(2, -1).sum(axis=1))
    np.testing.assert_allclose(curves.distances[0][:, 1], expected, rtol=1e-5)
    with pytest.raises(ValueError, match="unknown transform 'shear'"):
        invariance(model, x, [0, 0], "shear")


# ------------------------------------------------------------ architecture selection (Fig. 6)

def test_filter_report_counts_dead_filters_and_renormalizes():
    model = small_net()
    weight = model[0].weight.data
    weight[1] = 1e-4                                  # faded away
    weight[2] = -np.abs(weight[2]) - 1.0              # negative filter on positive images: never fires
    model[0].bias.data[2] = 0.0
    weight[3] *= 50                                   # dominates, RMS far above 0.1
    report = filter_report(model, np.abs(images(4)))
    assert report.dead_by_weight.tolist() == [False, True, False, False]
    assert report.dead_by_activation[2] and not report.dead_by_activation[3]
    rms = np.sqrt((report.renormalized ** 2).mean(axis=(1, 2, 3)))
    assert rms.max() <= 0.1 + 1e-9
    np.testing.assert_allclose(rms[3], 0.1)
    np.testing.assert_array_equal(report.weights[1], weight[1])                    # the model is untouched
    assert report.spectrum.shape == (4, 32, 32) and report.frequencies.shape == (32,)
    assert report.dead_count >= 2


def test_spectrum_separates_smooth_from_checkerboard_filters():
    smooth = nn.Sequential(nn.Conv2d(1, 1, 7, stride=1))
    rough = nn.Sequential(nn.Conv2d(1, 1, 7, stride=2))
    r = np.arange(7) - 3
    smooth[0].weight.data[:] = np.exp(-np.add.outer(r ** 2, r ** 2) / (2 * 1.5 ** 2))
    rough[0].weight.data[:] = np.where(np.add.outer(np.arange(7), np.arange(7)) % 2 == 0, 1.0, -1.0)
    low, high = compare_first_layers(smooth, rough)
    assert low.high_share[0] < 0.05 < 0.9 < high.high_share[0]
    assert low.spectrum[0].argmax() == np.ravel_multi_index((16, 16), (32, 32))       # DC in the centre
    assert high.stride == (2, 2) and low.name.startswith("7x7")


# ------------------------------------------------------------ correspondence (Table 1)

@given(hnp.arrays(np.int8, st.tuples(st.integers(2, 6), st.integers(1, 12)), elements=st.integers(-1, 1)))
def test_sign_disagreements_equal_the_sum_of_pairwise_hamming_distances(signs):
    brute = sum(int((a != b).sum()) for a, b in itertools.combinations(signs, 2))
    assert sign_disagreements(signs) == brute


def test_mask_regions_per_image_and_shared():
    x = np.zeros((2, 1, 4, 5), np.float32)
    shared = mask_regions(x, (1, 3, 0, 2), fill=7)
    assert shared[:, 0, 1:3, 0:2].tolist() == [[[7, 7], [7, 7]]] * 2 and shared.sum() == 2 * 4 * 7
    per_image = mask_regions(x, [(0, 1, 0, 1), (3, 4, 4, 5)], fill=1)
    assert per_image[0, 0, 0, 0] == 1 and per_image[1, 0, 3, 4] == 1 and per_image.sum() == 2


def test_correspondence_is_zero_for_identical_images_masked_alike():
    model = small_net()
    same = np.repeat(images(1), 4, axis=0)
    table = correspondence(model, same, {"corner": (0, 4, 0, 4)}, layers=[1, 8], trials=2)
    assert table.delta["corner"] == {1: 0, 8: 0}
    assert set(table.delta) == {"corner", "random"}
    assert table.delta["random"][1] > 0                 # random places break the correspondence
    x = images(4, seed=3)
    masked = mask_regions(x, (2, 6, 2, 6))
    direct = delta(model, x, masked, [1])[1]
    eps = (Deconvnet(model).up(x, 1).activations - Deconvnet(model).up(masked, 1).activations).reshape(4, -1)
    assert direct == sign_disagreements(np.sign(eps).astype(np.int8))
    features = 4 * 10 * 10
    table = correspondence(model, x, {"box": (2, 6, 2, 6)}, layers=[1], trials=1)
    assert table.fraction["box"][1] == pytest.approx(direct / (6 * features))


# ------------------------------------------------------------ discriminability (Table 7)

def test_softmax_on_separable_features_is_perfect():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 90)
    features = rng.standard_normal((90, 5)) * 0.1
    features[np.arange(90), labels] += 3.0
    classifier = train_softmax(features, labels, 3, epochs=20)
    assert classifier.accuracy(features, labels) == 1.0


def test_discriminability_is_a_softmax_on_each_layers_frozen_features():
    model = small_net()
    x, labels = images(24, seed=1), np.arange(24) % 3
    test_x, test_labels = images(12, seed=2), np.arange(12) % 3
    result = discriminability(model, x, labels, test_x, test_labels, layers=[1, -3], epochs=5)
    assert set(result) == {1, 8}
    for layer, accuracy in result.items():
        train_features = extract_features(model, x, layer)
        assert train_features.shape == (24, {1: 4 * 10 * 10, 8: 8}[layer])
        classifier = train_softmax(train_features, labels, 3, epochs=5)
        assert accuracy == classifier.accuracy(extract_features(model, test_x, layer), test_labels)
    # 400 features for 24 images: layer 1 can tell every training image apart
    assert discriminability(model, x, labels, x, labels, layers=[1], epochs=15)[1] == 1.0


# ------------------------------------------------------------ ablation (Tables 2-3)

def test_rebuild_removes_and_resizes_layers_and_rederives_shapes():
    model = small_net()
    variant = rebuild(model, (1, 12, 12), remove=[4, 5], resize={7: 16})
    kinds = [type(m).__name__ for m in variant]
    assert kinds == ["Conv2d", "ReLU", "MaxPool2d", "LocalResponseNorm", "Flatten", "Linear", "ReLU",
                     "Dropout", "Linear"]
    assert variant[5].weight.shape == (16, 4 * 4 * 4) and variant[8].weight.shape == (3, 16)
    wider = rebuild(model, (1, 12, 12), resize={0: 6})
    assert wider[0].weight.shape == (6, 1, 3, 3) and wider[4].weight.shape == (5, 6, 3, 3)
    assert variant.output_shape((1, 12, 12)) == (3,)
    with pytest.raises(ValueError, match="number of classes"):
        rebuild(model, (1, 12, 12), resize={10: 4})
    with pytest.raises(ShapeError, match="no longer fits"):
        rebuild(nn.Sequential(nn.MaxPool2d(4), nn.Conv2d(1, 1, 5)), (1, 8, 8), remove=[])
    with pytest.raises(ValueError, match="only Conv2d and Linear"):
        rebuild(model, (1, 12, 12), resize={1: 3})


def test_ablation_trains_every_variant_and_reports_errors():
    model, trained = small_net(), []
    x, labels = images(10, seed=2), np.arange(10) % 3
    rows = ablation(model, (1, 12, 12), {"no conv 2": {"remove": [4, 5]}, "narrow fc": {"resize": {7: 2}}},
                    train=trained.append, test_images=x, test_labels=labels)
    assert [row.name for row in rows] == ["full model", "no conv 2", "narrow fc"]
    assert len(trained) == 3 and trained[0] is not model
    for row, variant in zip(rows, trained):
        assert (row.top1_error, row.top5_error) == top_errors(variant, x, labels)
        assert row.params == sum(p.size for p in variant.parameters())
        assert row.top5_error == 0.0                    # 3 classes: the true one is always in the top 5
    predictions = probabilities(trained[1], x).argmax(axis=1)
    assert rows[1].top1_error == pytest.approx((predictions != labels).mean())


# ------------------------------------------------------------ lecture-note visualizations

def test_feature_maps_are_the_layer_outputs():
    model, x = small_net(), images(1)
    maps = feature_maps(model, x[0], [1, 8])
    np.testing.assert_array_equal(maps[1], Deconvnet(model).up(x, 1).activations[0])
    assert maps[8].shape == (8, 1, 1)


def test_gradient_ascent_raises_the_maps_mean_and_leaves_the_model_alone():
    model = small_net().to("float64")
    before = {name: p.data.copy() for name, p in model.named_parameters()}
    patterns, history = maximize_activation(model, 4, [0, 3], (1, 12, 12), steps=15, lr=0.1)
    assert patterns.shape == (2, 1, 12, 12) and history.shape == (15, 2)
    assert (history[-1] > history[0]).all()
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.data, before[name])
        assert p.grad is None and p.requires_grad


def test_grad_cam_matches_the_formula_on_a_conv_linear_net():
    mc.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2)).to("float64")
    x = np.random.default_rng(0).standard_normal((2, 1, 6, 6))
    cams = grad_cam(model, x, [1, 0], layer=1)
    maps = Deconvnet(model).up(x, 1).activations                        # A: (2, 3, 4, 4)
    weight = model[3].weight.data.reshape(2, 3, 4, 4)                   # d logit_c / d A = W[c]
    for n, c in enumerate([1, 0]):
        alpha = weight[c].mean(axis=(1, 2))
        expected = np.maximum((alpha[:, None, None] * maps[n]).sum(axis=0), 0)
        np.testing.assert_allclose(cams.coarse[n], expected, atol=1e-12)
        np.testing.assert_allclose(cams.weights[n], alpha, atol=1e-12)
    assert cams.heatmap.shape == (2, 6, 6) and cams.heatmap.max() <= 1.0 + 1e-12
    assert grad_cam(model, x, 0).layer == 1                              # the last layer with maps


def test_resize_bilinear_matches_pixel_centre_interpolation():
    np.testing.assert_allclose(resize_bilinear(np.array([[0.0, 1.0]]), (1, 4)), [[0, 0.25, 0.75, 1]])
    a = np.random.default_rng(0).standard_normal((2, 3, 5))
    np.testing.assert_array_equal(resize_bilinear(a, (3, 5)), a)
    np.testing.assert_allclose(resize_bilinear(np.full((2, 2), 3.0), (7, 9)), 3.0)
    torch = import_oracle("torch")
    expected = torch.nn.functional.interpolate(torch.tensor(a[None]), size=(7, 11), mode="bilinear",
                                               align_corners=False)[0].numpy()
    np.testing.assert_allclose(resize_bilinear(a, (7, 11)), expected, atol=1e-12)


# ------------------------------------------------------------ feature evolution (Fig. 4)

def test_feature_evolution_snapshots_during_fit():
    from minicnn.training.loop import fit
    model = small_net()
    x, labels = images(16, seed=5), np.arange(16) % 3
    evolution = FeatureEvolution(x[:6], layers=[1, 5], epochs=[1, 2], max_maps=3)
    fit(model, (x, labels), epochs=2, batch_size=8, lr=0.01, callbacks=[evolution], progress=False)
    assert sorted(evolution.snapshots) == [1, 2]
    last = evolution.snapshots[2][5]
    assert last.projections.shape == (3, 1, 12, 12) and last.channels.tolist() == [0, 1, 2]
    for m in range(3):                     # the epoch-2 snapshot is the trained model's projection
        expected = Deconvnet(model).project(x[last.indices[m]:last.indices[m] + 1], 5, m)[0]
        np.testing.assert_allclose(last.projections[m], expected, rtol=1e-6)
    assert not np.array_equal(evolution.snapshots[1][1].projections, evolution.snapshots[2][1].projections)
    assert model.training                   # fit's mode survives the snapshots
