"""Hostile and careless use of the ops and layers (issue 12): every bad input a clear error.

Each test hands an op or a layer something a tired learner or an attacker
could: a NaN bias, a float64 bias on float32 weights, integer or float16
arrays, a batch of no images, a kernel of 0, a stride of 2.5 or of
numpy.int64(2), a plain array where Switches belong, Dropout(1.5). Each
asserts a minicnn error type (minicnn/engine/errors.py: ShapeError,
ArgumentError, DTypeError, NonFiniteError) and a message that names the op
or layer, the thing that was wrong, its value, and what was needed; or, for
what is not an error (an empty batch, NumPy integers), the result PyTorch
gives. The ops run on every available backend.

Sections: 1. parameters that are not finite; 2. dtypes; 3. shapes and
empty batches; 4. window settings; 5. unpooling; 6. layer constructors;
7. the module behind F.linear.
"""

import importlib

import numpy as np
import pytest

import minicnn as mc
from minicnn import functional as F
from minicnn import nn
from minicnn.engine.errors import ArgumentError, DTypeError, NonFiniteError, ShapeError

from conftest import to_tensor


def array(*shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def images(*shape, dtype=np.float32):
    return to_tensor(array(*shape, dtype=dtype))


# ------------------------------------------------------------- 1. parameters that are not finite

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("what", ["weight", "bias"])
def test_conv_refuses_a_non_finite_weight_and_bias_alike(backend_name, bad, what):
    weight, bias = array(4, 2, 3, 3), array(4)
    (weight if what == "weight" else bias).flat[1] = bad
    with pytest.raises(NonFiniteError, match=rf"conv2d: {what} of shape \({4 if what == 'bias' else '4, 2, 3, 3'}"
                                             r",?\) holds 1 NaN or infinite values; training has diverged"):
        F.conv2d(images(1, 2, 5, 5), to_tensor(weight), to_tensor(bias))


@pytest.mark.parametrize("what", ["weight", "bias"])
def test_linear_refuses_a_nan_weight_and_bias_alike(backend_name, what):
    weight, bias = array(3, 4), array(3)
    (weight if what == "weight" else bias)[0] = np.nan
    with pytest.raises(NonFiniteError, match=rf"linear: {what} of shape .* holds \d+ NaN or infinite values"):
        F.linear(images(2, 4), to_tensor(weight), to_tensor(bias))


def test_a_layer_names_itself_when_its_bias_is_nan():
    model = nn.Sequential(nn.Conv2d(1, 2, 3))
    model[0].bias.data[1] = np.nan
    with pytest.raises(NonFiniteError, match=r"Conv2d layer '0' .*bias of shape \(2,\) holds 1 NaN"):
        model(images(1, 1, 5, 5))


# ------------------------------------------------------------------------------ 2. dtypes

@pytest.mark.parametrize("weight_dtype, bias_dtype", [
    (np.float32, np.float64), (np.float64, np.float32), (np.float32, np.complex64),
    (np.float32, np.int64), (np.float64, np.float16),
])
def test_conv_and_linear_refuse_a_bias_of_another_dtype_on_every_backend(backend_name, weight_dtype, bias_dtype):
    x4, x2 = images(1, 2, 5, 5, dtype=weight_dtype), images(2, 4, dtype=weight_dtype)
    calls = {
        "conv2d": lambda: F.conv2d(x4, to_tensor(array(3, 2, 3, 3, dtype=weight_dtype)),
                                   to_tensor(np.ones(3, bias_dtype))),
        "linear": lambda: F.linear(x2, to_tensor(array(3, 4, dtype=weight_dtype)), to_tensor(np.ones(3, bias_dtype))),
    }
    wanted = np.dtype(bias_dtype)
    if wanted.kind == "f" and wanted in (np.float32, np.float64):
        message = rf"weight is {np.dtype(weight_dtype)} but bias is {wanted}; use one dtype, e.g. bias.astype"
    else:
        message = rf"bias must be floating point \(float32 or float64\), got {wanted}"
    for op, call in calls.items():
        with pytest.raises(DTypeError, match=rf"{op}: {message}"):
            call()


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.bool_, np.complex128])
def test_a_weight_that_is_not_float_is_blamed_on_the_weight(dtype):
    with pytest.raises(DTypeError, match=rf"conv2d: weight must be floating point \(float32 or float64\), "
                                         rf"got {np.dtype(dtype)}; convert it first, e\.g\. weight\.astype"):
        F.conv2d(images(1, 1, 5, 5), to_tensor(np.ones((1, 1, 3, 3), dtype)))
    with pytest.raises(DTypeError, match=rf"linear: weight must be floating point .*got {np.dtype(dtype)}"):
        F.linear(images(2, 3), to_tensor(np.ones((2, 3), dtype)))


FLOAT16_CALLS = {
    "conv2d": lambda x: F.conv2d(x, to_tensor(np.ones((2, 2, 3, 3), np.float16))),
    "max_pool2d": lambda x: F.max_pool2d(x, 2),
    "avg_pool2d": lambda x: F.avg_pool2d(x, 2),
    "relu": F.relu,
    "sigmoid": F.sigmoid,
    "tanh": F.tanh,
    "dropout": F.dropout,
    "local_response_norm": lambda x: F.local_response_norm(x, 3),
    "linear": lambda x: F.linear(F.flatten(x), to_tensor(np.ones((3, 50), np.float16))),
    "log_softmax": lambda x: F.log_softmax(F.flatten(x)),
    "cross_entropy": lambda x: F.cross_entropy(F.flatten(x), np.zeros(2, np.int64)),
}


@pytest.mark.parametrize("op", FLOAT16_CALLS)
def test_float16_is_refused_up_front_on_every_backend(backend_name, op):
    """numba has no float16 loops (today a bare NotImplementedError from inside them); every
    backend says the same thing before computing anything."""
    x = to_tensor(np.ones((2, 2, 5, 5), np.float16))
    with pytest.raises(DTypeError, match=rf"{op}: input must be floating point \(float32 or float64\), got "
                                         r"float16 \(float16 is not supported: minicnn computes in these two only\)"):
        FLOAT16_CALLS[op](x)


def test_float16_weights_are_refused_naming_the_weight():
    with pytest.raises(DTypeError, match=r"Conv2d layer '0' .*weight must be floating point .*got float16"):
        nn.Sequential(nn.Conv2d(1, 1, 3).to("float16"))(images(1, 1, 5, 5))


# ------------------------------------------------------------------ 3. shapes and empty batches

@pytest.mark.parametrize("weight_shape, words", [
    ((12,), r"weight must be \(out_features, in_features\), got shape \(12,\)"),
    ((3, 4, 1), r"weight must be \(out_features, in_features\), got shape \(3, 4, 1\)"),
])
def test_linear_checks_the_weights_shape(weight_shape, words):
    with pytest.raises(ShapeError, match=rf"linear: {words}"):
        F.linear(images(2, 4), to_tensor(np.ones(weight_shape, np.float32)))


@pytest.mark.parametrize("bias_shape", [(4,), (1, 3), (3, 1), ()])
def test_linear_checks_the_bias_shape(bias_shape):
    with pytest.raises(ShapeError, match=rf"linear: bias must have shape \(3,\) \(one per output feature of the "
                                         rf"weight \(3, 4\)\), got {re_shape(bias_shape)}"):
        F.linear(images(2, 4), images(3, 4), to_tensor(np.ones(bias_shape, np.float32)))


def re_shape(shape):
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


def test_conv_checks_the_bias_shape():
    with pytest.raises(ShapeError, match=r"conv2d: bias must have shape \(3,\) \(one per filter\), got \(2,\)"):
        F.conv2d(images(1, 2, 5, 5), images(3, 2, 3, 3), images(2))


@pytest.mark.parametrize("channels, filters, groups, words", [
    (4, 3, 2, r"the weight's 3 filters \(shape \(3, 2, 3, 3\) = \(F, C/groups, KH, KW\)\) do not split into "
              r"groups=2 equal groups; F must be divisible by groups"),
    (6, 4, 2, r"input has 6 channels \(shape \(1, 6, 5, 5\)\) but the filters need 2\*2 = 4 \(2 per group\)"),
])
def test_grouped_conv_names_the_channels_the_filters_and_the_groups(channels, filters, groups, words):
    with pytest.raises(ShapeError, match=rf"conv2d: {words}"):
        F.conv2d(images(1, channels, 5, 5), images(filters, 2, 3, 3), groups=groups)


EMPTY_BATCH = {   # op: (call on an empty batch x of shape (0, 2, 6, 5), expected output shape)
    "conv2d": (lambda x: F.conv2d(x, images(4, 2, 3, 2), images(4), stride=2, padding=1), (0, 4, 3, 3)),
    "grouped dilated conv2d": (lambda x: F.conv2d(x, images(4, 1, 2, 2), dilation=2, groups=2), (0, 4, 4, 3)),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), (0, 2, 3, 2)),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True), (0, 2, 4, 3)),
    "max_unpool2d": (lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_switches=True)), (0, 2, 6, 5)),
    "relu": (F.relu, (0, 2, 6, 5)),
    "sigmoid": (F.sigmoid, (0, 2, 6, 5)),
    "tanh": (F.tanh, (0, 2, 6, 5)),
    "dropout": (F.dropout, (0, 2, 6, 5)),
    "local_response_norm": (lambda x: F.local_response_norm(x, 5), (0, 2, 6, 5)),
    "linear": (lambda x: F.linear(F.flatten(x), images(7, 60), images(7)), (0, 7)),
    "log_softmax": (lambda x: F.log_softmax(F.flatten(x)), (0, 60)),
    "Flatten, Linear": (lambda x: nn.Sequential(nn.Flatten(), nn.Linear(60, 3))(x), (0, 3)),
}


@pytest.mark.parametrize("op", EMPTY_BATCH)
def test_a_batch_of_no_images_gives_an_empty_result_as_pytorch_does(backend_name, op):
    """Today conv2d fails inside NumPy (a reshape) or divides by zero (numba). An empty
    batch gives the empty output of the right shape, and backward gives zero gradients."""
    call, shape = EMPTY_BATCH[op]
    x = to_tensor(np.zeros((0, 2, 6, 5), np.float32), True)
    y = call(x)
    assert y.shape == shape and y.dtype == np.float32
    y.backward(y.data * 0)
    assert x.grad.shape == x.shape


def test_an_empty_batch_gives_zero_weight_gradients(backend_name):
    layer = nn.Conv2d(2, 4, 3, padding=1, groups=2)
    layer(to_tensor(np.zeros((0, 2, 6, 5), np.float32))).sum().backward()
    assert layer.weight.grad.shape == (4, 1, 3, 3) and not mc.to_numpy(layer.weight.grad).any()
    assert layer.bias.grad.shape == (4,) and not mc.to_numpy(layer.bias.grad).any()


def test_the_loss_of_no_images_is_refused_where_pytorch_gives_nan(backend_name):
    """PyTorch's mean cross-entropy of an empty batch is nan, which poisons every weight it
    reaches; minicnn says the batch is empty instead."""
    with pytest.raises(ShapeError, match=r"cross_entropy: the batch is empty \(logits of shape \(0, 10\)\); the "
                                         r"mean loss of no images is undefined \(PyTorch returns nan for it\)"):
        F.cross_entropy(to_tensor(np.zeros((0, 10), np.float32)), np.zeros(0, np.int64))


def test_logits_of_no_classes_are_refused():
    with pytest.raises(ShapeError, match=r"log_softmax: logits of shape \(3, 0\) hold 0 classes; needs \(N, K\) "
                                         r"with K >= 1"):
        F.log_softmax(to_tensor(np.zeros((3, 0), np.float32)))


# ---------------------------------------------------------------------------- 4. window settings

def test_max_pool_with_a_kernel_of_zero_blames_the_kernel_not_the_stride():
    with pytest.raises(ArgumentError, match=r"max_pool2d: kernel_size must be 1 or more \(a window covers at "
                                            r"least one pixel\), got kernel_size=0"):
        F.max_pool2d(images(1, 1, 4, 4), 0)


@pytest.mark.parametrize("integer", [np.int64(2), np.int32(2), np.uint8(2), np.intp(2)])
def test_numpy_integers_are_whole_numbers_like_any_other(backend_name, integer):
    x = images(1, 2, 7, 6)
    weight = images(4, 1, 2, 2)
    expected = F.conv2d(x, weight, stride=2, padding=1, dilation=2, groups=2).numpy()
    got = F.conv2d(x, weight, stride=integer, padding=(integer - 1, 1), dilation=integer, groups=integer).numpy()
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(F.max_pool2d(x, integer, integer, dilation=integer).numpy(),
                                  F.max_pool2d(x, 2, 2, dilation=2).numpy())
    layer = nn.Conv2d(integer, integer * 2, integer, stride=integer, groups=integer)
    assert (layer.in_channels, layer.kernel_size, layer.stride, layer.groups) == (2, (2, 2), (2, 2), 2)
    assert all(type(v) is int for v in layer.kernel_size + layer.stride + (layer.in_channels, layer.groups))


@pytest.mark.parametrize("name, value, words", [
    ("stride", 2.5, r"stride must be a whole number or an \(h, w\) pair of them, got 2\.5 \(float\)"),
    ("stride", 2.0, r"stride must be a whole number .*got 2\.0 \(float\)"),
    ("stride", True, r"stride must be a whole number .*got True \(bool\)"),
    ("stride", (1, 2, 3), r"stride must be an int or an \(h, w\) pair, got \(1, 2, 3\)"),
    ("stride", "2", r"stride must be a whole number .*got '2' \(str\)"),
    ("stride", 0, r"stride must be 1 or more \(a window moves at least one pixel at a time\), got stride=0"),
    ("stride", (1, -2), r"stride must be 1 or more .*got stride=\(1, -2\)"),
    ("padding", -1, r"padding must be 0 or more \(padding adds zeros, it cannot remove pixels\), got padding=-1"),
    ("padding", np.float64(1.0), r"padding must be a whole number .*\(float64\)"),
    ("dilation", 0, r"dilation must be 1 or more \(a window's taps are at least one pixel apart\), got dilation=0"),
    ("dilation", np.bool_(True), r"dilation must be a whole number .*\(bool_?\)"),
    ("groups", 0, r"groups must be 1 or more, got groups=0"),
    ("groups", 1.5, r"groups must be a whole number, got 1\.5 \(float\)"),
])
def test_conv_window_settings_are_checked_naming_the_setting(name, value, words):
    with pytest.raises(ArgumentError, match=rf"conv2d: {words}"):
        F.conv2d(images(1, 2, 6, 6), images(2, 2, 2, 2), **{name: value})


@pytest.mark.parametrize("arguments, words", [
    ({"kernel_size": 2.5}, r"kernel_size must be a whole number .*got 2\.5"),
    ({"kernel_size": 2, "stride": 0}, r"stride must be 1 or more"),
    ({"kernel_size": 3, "padding": 2}, r"padding 2 is more than half the 3-wide window along the height; needs "
                                       r"P <= F // 2"),
    ({"kernel_size": 2, "dilation": -1}, r"dilation must be 1 or more .*got dilation=-1"),
])
def test_pool_window_settings_are_checked_naming_the_setting(arguments, words):
    for op in (F.max_pool2d, F.avg_pool2d):
        if "dilation" in arguments and op is F.avg_pool2d:
            continue                        # average pooling has no dilation, as in PyTorch
        with pytest.raises((ArgumentError, ShapeError), match=rf"{op.__name__}: {words}"):
            op(images(1, 1, 6, 6), **arguments)


# ----------------------------------------------------------------------------------- 5. unpooling

@pytest.mark.parametrize("switches", [
    np.zeros((1, 1, 2, 2), np.int64), [[0, 1], [4, 5]], None, (np.zeros((1, 1, 2, 2), np.int64), (1, 1, 4, 4)),
])
def test_unpooling_with_anything_but_switches_says_what_it_needs(switches):
    with pytest.raises(ArgumentError, match=r"max_unpool2d: switches must be the Switches that "
                                            r"max_pool2d\(\.\.\., return_switches=True\) returned, got a "
                                            r".*; a plain array of indices does not say the shape of the pooled input"):
        F.max_unpool2d(images(1, 1, 2, 2), switches)


def test_unpooling_integers_is_refused_naming_the_input():
    _, switches = F.max_pool2d(images(1, 1, 4, 4), 2, return_switches=True)
    with pytest.raises(DTypeError, match=r"max_unpool2d: input must be floating point .*got int64"):
        F.max_unpool2d(to_tensor(np.ones((1, 1, 2, 2), np.int64)), switches)


# ---------------------------------------------------------------------------- 6. layer constructors

@pytest.mark.parametrize("build, words", [
    (lambda: nn.Conv2d(3, 4, 0), r"Conv2d: kernel_size must be 1 or more \(a window covers at least one pixel\), "
                                 r"got kernel_size=0"),
    (lambda: nn.Conv2d(3, 4, (3, -1)), r"Conv2d: kernel_size must be 1 or more .*got kernel_size=\(3, -1\)"),
    (lambda: nn.Conv2d(0, 4, 3), r"Conv2d: in_channels must be 1 or more, got in_channels=0"),
    (lambda: nn.Conv2d(3, -4, 3), r"Conv2d: out_channels must be 1 or more, got out_channels=-4"),
    (lambda: nn.Conv2d(3.0, 4, 3), r"Conv2d: in_channels must be a whole number, got 3\.0 \(float\)"),
    (lambda: nn.Conv2d(3, 4, 3, stride=0), r"Conv2d: stride must be 1 or more"),
    (lambda: nn.Conv2d(3, 4, 3, padding=-1), r"Conv2d: padding must be 0 or more"),
    (lambda: nn.Conv2d(3, 4, 3, dilation=0), r"Conv2d: dilation must be 1 or more"),
    (lambda: nn.Conv2d(3, 4, 3, groups=0), r"Conv2d: groups must be 1 or more, got groups=0"),
    (lambda: nn.Conv2d(3, 4, 3, groups=2), r"Conv2d: groups=2 must divide in_channels=3 and out_channels=4; "
                                           r"in_channels 3 / 2 groups = 1\.5 channels per group"),
    (lambda: nn.Conv2d(4, 6, 3, groups=4), r"Conv2d: groups=4 must divide in_channels=4 and out_channels=6; "
                                           r"out_channels 6 / 4 groups = 1\.5 channels per group"),
    (lambda: nn.Conv2d(3, 4, 3, bias="no"), r"Conv2d: bias must be True or False, got 'no'"),
    (lambda: nn.Linear(-1, 3), r"Linear: in_features must be 1 or more, got in_features=-1"),
    (lambda: nn.Linear(3, 0), r"Linear: out_features must be 1 or more, got out_features=0"),
    (lambda: nn.Linear(2.5, 3), r"Linear: in_features must be a whole number, got 2\.5 \(float\)"),
    (lambda: nn.MaxPool2d(0), r"MaxPool2d: kernel_size must be 1 or more"),
    (lambda: nn.MaxPool2d(2, stride=0), r"MaxPool2d: stride must be 1 or more"),
    (lambda: nn.MaxPool2d(2, padding=-1), r"MaxPool2d: padding must be 0 or more"),
    (lambda: nn.MaxPool2d(2, dilation=0), r"MaxPool2d: dilation must be 1 or more"),
    (lambda: nn.MaxPool2d(2, ceil_mode="yes"), r"MaxPool2d: ceil_mode must be True or False, got 'yes'"),
    (lambda: nn.AvgPool2d((2, 0)), r"AvgPool2d: kernel_size must be 1 or more"),
    (lambda: nn.AvgPool2d(2, count_include_pad=None), r"AvgPool2d: count_include_pad must be True or False"),
    (lambda: nn.Subsampling(0), r"Subsampling: channels must be 1 or more, got channels=0"),
    (lambda: nn.Dropout(1.5), r"Dropout: p is the probability of dropping a value and must be in \[0, 1\), "
                              r"got p=1\.5"),
    (lambda: nn.Dropout(1), r"Dropout: .*must be in \[0, 1\), got p=1; p = 1 would drop everything"),
    (lambda: nn.Dropout(-0.1), r"Dropout: .*got p=-0\.1"),
    (lambda: nn.Dropout(float("nan")), r"Dropout: p is the probability of dropping a value, a number in \[0, 1\); "
                                       r"got nan"),
    (lambda: nn.Dropout("0.5"), r"Dropout: .*a number in \[0, 1\); got '0\.5' \(str\)"),
    (lambda: nn.Dropout(True), r"Dropout: .*got True \(bool\)"),
    (lambda: nn.LocalResponseNorm(0), r"LocalResponseNorm: size must be 1 or more \(a local response norm spans "
                                      r"at least one channel\), got size=0"),
    (lambda: nn.LocalResponseNorm(2.5), r"LocalResponseNorm: size must be a whole number, got 2\.5"),
    (lambda: nn.LocalResponseNorm(5, k=0), r"LocalResponseNorm: k must be > 0 \(the divisor k \+ alpha/n \* sum "
                                           r"must stay positive\), got k=0"),
    (lambda: nn.LocalResponseNorm(5, alpha=-1e-4), r"LocalResponseNorm: alpha must be >= 0, got alpha=-0\.0001"),
    (lambda: nn.LocalResponseNorm(5, beta=float("inf")), r"LocalResponseNorm: beta must be a finite number, got inf"),
])
def test_layer_constructors_name_the_argument_and_its_range(build, words):
    with pytest.raises(ArgumentError, match=words):
        build()


def test_pool_padding_over_half_the_window_is_refused_when_the_layer_is_built():
    with pytest.raises(ShapeError, match=r"MaxPool2d: padding 2 is more than half the 3-wide window"):
        nn.MaxPool2d(3, padding=2)


@pytest.mark.parametrize("call, words", [
    (lambda x: F.dropout(x, 1.5), r"dropout: p is the probability of dropping a value and must be in \[0, 1\)"),
    (lambda x: F.local_response_norm(x, 0), r"local_response_norm: size must be 1 or more"),
    (lambda x: F.local_response_norm(x, 5, k=-1.0), r"local_response_norm: k must be > 0"),
])
def test_the_ops_check_their_settings_as_the_layers_do(call, words):
    with pytest.raises(ArgumentError, match=words):
        call(images(1, 3, 4, 4))


def test_numpy_bools_are_flags_like_pythons():
    assert nn.Conv2d(1, 2, 3, bias=np.False_).bias is None
    assert nn.MaxPool2d(2, ceil_mode=np.True_).ceil_mode is True


def test_argument_errors_are_value_and_type_errors():
    """Code that catches ValueError (a kernel of 0) or TypeError (a stride of 2.5) keeps working."""
    with pytest.raises(ValueError):
        nn.Conv2d(3, 4, 0)
    with pytest.raises(TypeError):
        nn.Conv2d(3, 4, 3, stride=2.5)


# ------------------------------------------------------------------- 7. the module behind F.linear

def test_functional_linear_is_the_function_and_its_module_is_fully_connected():
    """functional/__init__ imports ``linear`` from its module, so a module named linear.py
    was hidden behind the function: ``functional.linear`` could never name the module."""
    from minicnn.engine.functional import fully_connected
    assert F.linear is fully_connected.linear and callable(mc.engine.functional.linear)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("minicnn.engine.functional.linear")
