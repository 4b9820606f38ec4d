"""The autograd engine: chain rule through Tensor arithmetic, accumulation,
deep graphs without recursion, no_grad, and the gradient checker itself."""

import threading

import numpy as np
import pytest

import minicnn as mc
from minicnn.engine.tensor import Function

from conftest import to_tensor

rng = np.random.default_rng(0)


def test_arithmetic_gradients(backend_name):
    a = to_tensor(rng.standard_normal((3, 4)), True)
    b = to_tensor(rng.standard_normal((4,)) + 3.0, True)
    c = to_tensor(rng.standard_normal((4, 2)), True)

    def fn(a, b, c):
        return ((a * b + a / b - 2.0 * a) @ c).exp().sum(axis=1).log() + (a ** 2).mean()

    assert mc.gradcheck(fn, a, b, c)


def test_reshape_transpose_sum_mean_gradients(backend_name):
    a = to_tensor(rng.standard_normal((2, 3, 4)), True)
    assert mc.gradcheck(lambda t: t.reshape(6, 4).T.sum(axis=0, keepdims=True) * 3.0, a)
    assert mc.gradcheck(lambda t: t.mean(axis=(0, 2)), a)
    assert mc.gradcheck(lambda t: 1.0 - t, a)
    assert mc.gradcheck(lambda t: 2.0 / (t * t + 1.0), a)


def test_gradients_accumulate_when_a_tensor_is_used_twice(backend_name):
    x = to_tensor(np.array([3.0]), True)
    (x * x + x).sum().backward()   # d/dx (x^2 + x) = 2x + 1 = 7
    np.testing.assert_allclose(mc.to_numpy(x.grad), [7.0])
    (x * 2.0).sum().backward()     # a second backward adds 2
    np.testing.assert_allclose(mc.to_numpy(x.grad), [9.0])


def test_deep_graph_needs_no_recursion():
    x = mc.tensor(np.array([1.0]), requires_grad=True)
    y = x
    for _ in range(20_000):        # far deeper than Python's recursion limit
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0001 ** 20_000], rtol=1e-9)


def test_diamond_graph_visits_shared_node_once():
    x = mc.tensor(np.array([2.0]), requires_grad=True)
    shared = x * 3.0
    y = shared * shared + shared   # dy/dx = (2 * 6 + 1) * 3 = 39
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [39.0])


def test_no_grad_records_nothing():
    x = mc.tensor(np.ones(3), requires_grad=True)
    with mc.no_grad():
        y = x * 2.0
    assert not y.requires_grad and y.creator is None


def test_no_grad_in_one_thread_leaves_another_threads_switch_on():
    """An explorer request evaluating under no_grad while a training loop takes a step on another thread."""
    inside, done = threading.Event(), threading.Event()

    def evaluate():
        with mc.no_grad():
            inside.set()
            done.wait(10)
    worker = threading.Thread(target=evaluate)
    worker.start()
    try:
        assert inside.wait(10)
        x = mc.tensor(np.ones(3), requires_grad=True)
        (x * 2.0).sum().backward()
        np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])
    finally:
        done.set()
        worker.join(10)


def test_no_grad_blocks_that_end_out_of_order_on_two_threads_leave_every_switch_as_it_was():
    """Thread a enters, b enters, a leaves, b leaves: with one switch for the process, b would restore "off"."""
    steps = {name: (threading.Event(), threading.Event()) for name in "ab"}   # (entered, may leave)
    seen_after = {}

    def block(name):
        entered, may_leave = steps[name]
        with mc.no_grad():
            entered.set()
            may_leave.wait(10)
        seen_after[name] = mc.tensor(np.ones(1), requires_grad=True) * 2.0
    workers = {name: threading.Thread(target=block, args=(name,)) for name in "ab"}
    workers["a"].start()
    assert steps["a"][0].wait(10)
    workers["b"].start()
    assert steps["b"][0].wait(10)
    steps["a"][1].set()
    workers["a"].join(10)
    steps["b"][1].set()
    workers["b"].join(10)
    assert seen_after["a"].requires_grad and seen_after["b"].requires_grad
    assert (mc.tensor(np.ones(1), requires_grad=True) * 2.0).requires_grad   # this thread's, too


def test_backward_without_gradient_needs_a_scalar():
    x = mc.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="one-element tensor"):
        (x * 2.0).backward()


def test_backward_checks_gradient_shapes():
    class Broken(Function):
        name = "broken"

        def forward(self, x):
            return x * 2

        def backward(self, grad_output):
            return grad_output[:1]

    x = mc.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"broken.backward returned a gradient of shape \(1,\) for input 0 of shape \(3,\)"):
        Broken()(x).sum().backward()


def test_gradcheck_catches_a_wrong_backward():
    class WrongSquare(Function):
        name = "wrong_square"

        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, grad_output):
            return grad_output * self.x  # should be 2 x

    x = mc.tensor(rng.standard_normal(5), requires_grad=True)
    with pytest.raises(mc.GradcheckError, match=r"input 0 \(shape \(5,\)\) has 5 of 5 elements wrong; worst at \(\d+,\): analytic"):
        mc.gradcheck(lambda t: WrongSquare()(t), x)


def test_gradcheck_needs_float64():
    x = mc.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="need float64"):
        mc.gradcheck(lambda t: t * 2.0, x)


def test_tensor_defaults():
    assert mc.tensor([1, 2]).dtype == np.float32
    assert mc.tensor(np.zeros(2)).dtype == np.float64
    assert mc.tensor(np.zeros(2, dtype=np.int64)).dtype == np.int64
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients"):
        mc.tensor(np.zeros(2, dtype=np.int64), requires_grad=True)
