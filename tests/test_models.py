"""The model zoo: every summary agrees with the sizes in docs/sources.md.

The ImageNet-size networks are built and summarised, never run forward
(their weights would take 0.25-0.55 GB and seconds to draw: the tests that
only count build them with zero weights).
"""

import gc

import numpy as np
import pytest

import minicnn as mc
from minicnn import nn
from minicnn.models import NAMES, get_model, imagenet, input_shape, normal_init


def table(model, shape):
    rows = model.summary(shape, print_table=False)
    return rows, sum(row["params"] for row in rows)


def shapes_and_params(rows, kind):
    """(output_shape, params) of every layer whose repr starts with ``kind``."""
    return [(row["output_shape"], row["params"]) for row in rows if row["layer"].startswith(kind)]


def test_keras_mnist_cnn_matches_the_notes_table():
    rows, total = table(get_model("keras_mnist_cnn"), (1, 28, 28))
    # docs/sources.md section 2: 26x26x32 320, 13x13x32, 11x11x64 18,496, 5x5x64, 3x3x64 36,928
    assert shapes_and_params(rows, "Conv2d") == [((32, 26, 26), 320), ((64, 11, 11), 18496), ((64, 3, 3), 36928)]
    assert [shape for shape, _ in shapes_and_params(rows, "MaxPool2d")] == [(32, 13, 13), (64, 5, 5)]
    assert shapes_and_params(rows, "Linear") == [((64,), 576 * 64 + 64), ((10,), 650)]
    assert total == 93322


def test_fc_baseline_is_784_512_10():
    rows, total = table(get_model("fc_baseline"), (1, 28, 28))
    assert shapes_and_params(rows, "Linear") == [((512,), 784 * 512 + 512), ((10,), 5130)]
    assert total == 407050


def test_lenet5_is_lecuns_tanh_and_trainable_subsampling_with_about_60k_parameters():
    rows, total = table(get_model("lenet5"), (1, 28, 28))
    assert shapes_and_params(rows, "Conv2d") == [((6, 28, 28), 156), ((16, 10, 10), 2416)]
    assert shapes_and_params(rows, "Subsampling") == [((6, 14, 14), 12), ((16, 5, 5), 32)]
    assert shapes_and_params(rows, "Linear") == [((120,), 48120), ((84,), 10164), ((10,), 850)]
    kinds = [row["layer"].split("(")[0] for row in rows]
    assert kinds.count("Tanh") == 6 and not {"ReLU", "MaxPool2d", "Sigmoid"} & set(kinds)
    # C1, S2, C3, S4, C5 and F6 are each squashed (LeCun et al. 1998, section II.B); the output is not
    followed_by = [kinds[i + 1] for i, kind in enumerate(kinds[:-1]) if kind in ("Conv2d", "Subsampling", "Linear")]
    assert followed_by == ["Tanh"] * 6 and kinds[-1] == "Linear"
    assert total == 61750 and 55_000 < total < 65_000       # the paper's 60,000 + 900 (C3 dense) + 850 (output)


def test_lenet5_modern_is_relu_and_max_pooling():
    rows, total = table(get_model("lenet5", modern=True), (1, 28, 28))
    assert [shape for shape, _ in shapes_and_params(rows, "Conv2d")] == [(6, 28, 28), (16, 10, 10)]
    assert [shape for shape, _ in shapes_and_params(rows, "MaxPool2d")] == [(6, 14, 14), (16, 5, 5)]
    assert [row["layer"] for row in rows].count("ReLU()") == 4
    assert total == 61706


@pytest.mark.parametrize("modern", [False, True])
def test_lenet5_runs_forward_and_backward(modern):
    model = get_model("lenet5", modern=modern)
    x = mc.tensor(np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32))
    y = model(x)
    assert y.shape == (2, 10) and y.dtype == np.float32
    y.sum().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in model.parameters())


def test_zfnet_small_has_zfnet_layout_and_runs():
    model = get_model("zfnet_small")
    rows, total = table(model, (1, 28, 28))
    kinds = [row["layer"].split("(")[0] for row in rows]
    assert kinds.count("Conv2d") == 5 and kinds.count("LocalResponseNorm") == 2
    assert kinds.count("MaxPool2d") == 3 and kinds.count("Linear") == 3
    assert [row["layer"] for row in rows if row["layer"].startswith("Dropout")] == ["Dropout(p=0.5)"] * 2
    convs = [row["layer"] for row in rows if row["layer"].startswith("Conv2d")]
    assert all("kernel_size=3" in layer for layer in convs[2:])   # layers 3-5: 3x3 stride 1
    assert rows[-1]["output_shape"] == (10,) and total == 429194
    x = mc.tensor(np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32))
    assert model(x).shape == (2, 10)


@pytest.fixture(scope="module")
def big_models():
    """Each ImageNet model's summary rows and last-layer output shape for 10 classes.

    Drawing 62M-138M Gaussian weights takes seconds; shapes and counts do not
    depend on the values, so weights are zeros here (untouched zero pages cost
    no memory). test_zfnet_initialisation_is_gaussian_0_01 draws real ones.
    """
    patch = pytest.MonkeyPatch()
    patch.setattr(mc.rng, "normal_array", lambda shape, scale, dtype: np.zeros(shape, dtype))
    summaries = {}
    try:
        for key, name, kwargs in (("alexnet", "alexnet", {}), ("alexnet dense", "alexnet", {"groups": 1}),
                                  ("zfnet", "zfnet", {}), ("vgg16", "vgg16", {})):
            rows = table(get_model(name, **kwargs), (3, 224, 224))
            ten_classes = get_model(name, num_classes=10, **kwargs).output_shape((3, 224, 224))
            summaries[key] = rows + (ten_classes,)
            gc.collect()
    finally:
        patch.undo()
    return summaries


def test_zfnet_sizes_per_layer_match_the_paper(big_models):
    rows, total, ten = big_models["zfnet"]
    # ZFNet figure 3: 110 -> 55 -> 26 -> 13 -> 13 -> 13 -> 13 -> 6, then 4096, 4096, C
    conv = shapes_and_params(rows, "Conv2d")
    assert conv == [((96, 110, 110), 96 * 3 * 49 + 96), ((256, 26, 26), 256 * 96 * 25 + 256),
                    ((384, 13, 13), 885120), ((384, 13, 13), 1327488), ((256, 13, 13), 884992)]
    assert [shape for shape, _ in shapes_and_params(rows, "MaxPool2d")] == [(96, 55, 55), (256, 13, 13), (256, 6, 6)]
    assert [row["output_shape"] for row in rows if row["layer"].startswith("LocalResponseNorm")] == [(96, 55, 55), (256, 13, 13)]
    assert [shape for shape, _ in shapes_and_params(rows, "Linear")] == [(4096,), (4096,), (1000,)]
    assert total == 62_357_608 and ten == (10,)


ALEXNET_CONV_SHAPES = [(96, 55, 55), (256, 27, 27), (384, 13, 13), (384, 13, 13), (256, 13, 13)]


def test_alexnet_is_the_papers_two_gpu_network_with_60965224_parameters(big_models):
    """AlexNet section 3.2: layers 2, 4 and 5 see only their own GPU's half of the maps."""
    rows, total, ten = big_models["alexnet"]
    convs = shapes_and_params(rows, "Conv2d")
    assert [shape for shape, _ in convs] == ALEXNET_CONV_SHAPES
    # F * (C/G * KH*KW + 1): 96*(3*121+1), 256*(48*25+1), 384*(256*9+1), 384*(192*9+1), 256*(192*9+1)
    assert [params for _, params in convs] == [34_944, 307_456, 885_120, 663_936, 442_624]
    layers = [row["layer"] for row in rows if row["layer"].startswith("Conv2d")]
    assert ["groups=2" in layer for layer in layers] == [False, True, False, True, True]
    assert [shape for shape, _ in shapes_and_params(rows, "MaxPool2d")] == [(96, 27, 27), (256, 13, 13), (256, 6, 6)]
    assert total == 60_965_224 and ten == (10,)


def test_alexnet_dense_form_has_62378344_parameters(big_models):
    rows, total, ten = big_models["alexnet dense"]
    convs = shapes_and_params(rows, "Conv2d")
    assert [shape for shape, _ in convs] == ALEXNET_CONV_SHAPES
    assert [params for _, params in convs] == [34_944, 614_656, 885_120, 1_327_488, 884_992]
    assert not any("groups" in row["layer"] for row in rows)
    assert total == 62_378_344 and ten == (10,)
    # the split saves exactly the weights of half of layers 2, 4 and 5
    assert total - big_models["alexnet"][1] == (614_656 - 256) // 2 + (1_327_488 - 384) // 2 + (884_992 - 256) // 2


def test_alexnet_groups_must_be_one_or_two():
    with pytest.raises(ValueError, match="groups must be 2 .* or 1"):
        imagenet.alexnet(groups=4)


def test_zfnet_is_dense_as_its_paper_says(big_models):
    rows = big_models["zfnet"][0]
    assert not any("groups" in row["layer"] for row in rows)
    assert "densely connected" in imagenet.zfnet.__doc__


def test_vgg16_has_138357544_parameters(big_models):
    rows, total, ten = big_models["vgg16"]
    convs = shapes_and_params(rows, "Conv2d")
    assert len(convs) == 13 and len(shapes_and_params(rows, "MaxPool2d")) == 5
    assert [shape[1] for shape, _ in shapes_and_params(rows, "MaxPool2d")] == [112, 56, 28, 14, 7]
    assert total == 138_357_544 and ten == (10,)


def test_normal_init_is_gaussian_0_01_with_zero_biases():
    model = normal_init(get_model("zfnet_small"), std=0.01)
    weights = np.concatenate([p.numpy().ravel() for name, p in model.named_parameters() if name.endswith("weight")])
    assert abs(weights.std() - 0.01) < 0.0005 and abs(weights.mean()) < 0.0005
    assert not any(p.numpy().any() for name, p in model.named_parameters() if name.endswith("bias"))


def test_zfnet_uses_the_papers_initialisation_unless_told(monkeypatch):
    """ZFNet section 3: weights N(0, 0.01^2), biases 0 (drawing 62M numbers is skipped here)."""
    calls = []
    monkeypatch.setattr(mc.rng, "normal_array", lambda shape, scale, dtype: np.zeros(shape, dtype))
    monkeypatch.setattr(imagenet, "normal_init", lambda model, std: calls.append(std) or model)
    imagenet.zfnet(num_classes=10)
    imagenet.zfnet(num_classes=10, init="he")
    assert calls == [0.01]
    with pytest.raises(ValueError, match="unknown init"):
        imagenet.zfnet(num_classes=10, init="ones")


def test_get_model_records_its_config_and_input_shape():
    model = get_model("lenet5", num_classes=7)
    assert model.config == {"name": "lenet5", "kwargs": {"num_classes": 7}}
    assert model.input_shape == (1, 28, 28) == input_shape("lenet5")
    assert get_model("zfnet-small").config["name"] == "zfnet_small"
    assert set(NAMES) == {"keras_mnist_cnn", "fc_baseline", "lenet5", "zfnet_small", "alexnet", "zfnet", "vgg16"}


def test_unknown_model_lists_the_valid_names():
    with pytest.raises(ValueError) as error:
        get_model("resnet50")
    message = str(error.value)
    assert "resnet50" in message and all(name in message for name in NAMES)


def test_a_model_that_does_not_fit_names_the_layer():
    with pytest.raises(mc.ShapeError, match=r"Conv2d layer '3'.*\(2 - 3 \+ 2\*0\)/1 \+ 1"):
        get_model("keras_mnist_cnn").summary((1, 7, 7), print_table=False)
    assert isinstance(get_model("keras_mnist_cnn")[0], nn.Conv2d)
