# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 4. Autograd and gradient checking
#
# Training needs the gradient of the loss with respect to every weight.
# minicnn gets it the way every deep-learning library does: each op knows
# its own local derivative (its `backward`), and the chain rule strings
# them together, from the loss back to the inputs. This lesson follows one
# small computation through that machinery, then checks backward passes
# numerically with `mc.gradcheck`, and shows what a wrong one looks like.
#
# Where it lives in minicnn: `minicnn/engine/tensor.py` (Tensor, Function, the
# backward walk), `minicnn/engine/arithmetic.py` (+, *, @, sum, ... each with its
# backward), `minicnn/engine/gradcheck.py`.

# %%
from common import savefig   # first: fast mode, figure folder, BLAS threads

import numpy as np
import matplotlib.pyplot as plt


import minicnn as mc
from minicnn import nn, functional as F
from minicnn.engine.tensor import Function, _reverse_topological_order

mc.manual_seed(0)

# %% [markdown]
# ## One computation, forward and backward
#
# L = (a * b + c)^2 with a = 2, b = -3, c = 10. Forward: a*b = -6,
# plus c = 4, squared = 16. Backward, one op at a time, from L down:
#
# * L = u^2:       dL/du = 2u = 8
# * u = v + c:     dL/dv = dL/du * 1 = 8, dL/dc = 8
# * v = a * b:     dL/da = dL/dv * b = -24, dL/db = dL/dv * a = 16
#
# Each line uses only the op's own local derivative and the gradient that
# arrived from above. minicnn records which Function made each tensor
# (`tensor.creator`) and walks them in reverse.

# %%
a = mc.tensor(np.array(2.0), requires_grad=True)
b = mc.tensor(np.array(-3.0), requires_grad=True)
c = mc.tensor(np.array(10.0), requires_grad=True)
v = a * b
u = v + c
loss = u ** 2
print("forward: v =", v.item(), " u =", u.item(), " L =", loss.item())

print("backward visits, loss first:")
for node in _reverse_topological_order(loss):
    made_by = node.creator.name if node.creator is not None else "a leaf (input)"
    print(f"   value {node.item():>6g}, made by {made_by}")

loss.backward()
print("dL/da =", a.grad, " dL/db =", b.grad, " dL/dc =", c.grad)
assert (a.grad, b.grad, c.grad) == (-24.0, 16.0, 8.0)

# %% [markdown]
# The backward methods are short. Multiplication (from
# `minicnn/engine/arithmetic.py`) keeps its inputs for backward and returns one
# gradient per input, in input order:
#
# ```python
# class Mul(Function):
#     def forward(self, a, b):
#         self.a, self.b = a, b
#         return a * b
#
#     def backward(self, grad_output):
#         return grad_output * self.b, grad_output * self.a   # (plus un-broadcasting)
# ```
#
# ## A value used twice
#
# In y = x * x, x reaches y along two paths; the chain rule says to add
# their contributions: dy/dx = x + x = 2x. The backward walk does that by
# accumulating gradients with `+=` rather than overwriting them.

# %%
x = mc.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
(x * x).sum().backward()
print("d/dx sum(x*x) =", x.grad, " (2x =", 2 * x.numpy(), ")")
assert np.array_equal(x.grad, 2 * x.numpy())

# %% [markdown]
# ## The gradient of softmax cross-entropy
#
# The last op of every classifier in this course. With p = softmax(z) and
# a one-hot target t, the mean cross-entropy over N examples has the
# gradient (p - t) / N with respect to the scores z: the predicted
# probabilities minus the truth. minicnn's backward writes exactly that.

# %%
scores = mc.tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
labels = np.array([0, 2, 1, 2])
F.cross_entropy(scores, labels).backward()
p = F.softmax(scores.detach()).numpy()
expected = (p - np.eye(3)[labels]) / 4
print("autograd:\n", scores.grad.round(4), "\n(p - onehot) / N:\n", expected.round(4))
assert np.allclose(scores.grad, expected)

# %% [markdown]
# ## Checking a backward pass numerically
#
# How do we know a backward method is right? Compare it with the
# definition of a derivative. For each input element, nudge it by a small
# eps up and down and watch the loss:
#
#     dL/dx[i] ~ (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)
#
# (centred differences; the error shrinks like eps^2). `mc.gradcheck(fn,
# *inputs)` does this for every element of every input that requires a
# gradient, reducing a non-scalar output to a scalar with fixed random
# weights, and raises `GradcheckError` when an element disagrees (CS231n's
# relative error, `|a - n| / max(1e-8, |a| + |n|)`). It insists on float64,
# for a reason shown below. Every op in minicnn passes:

# %%
rng = np.random.default_rng(1)


def leaf(*shape):
    return mc.tensor(rng.standard_normal(shape), requires_grad=True)


checks = {
    "conv2d, 2x3 kernel, stride (2, 1), pad 1":
        (lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1), leaf(2, 2, 5, 6), leaf(3, 2, 2, 3), leaf(3)),
    "max_pool2d 3x3 stride 2 (overlapping)":
        (lambda x: F.max_pool2d(x, 3, stride=2), leaf(2, 2, 7, 7)),
    "relu": (lambda x: F.relu(x), leaf(3, 5)),
    "linear": (lambda x, w, b: F.linear(x, w, b), leaf(4, 6), leaf(3, 6), leaf(3)),
    "local_response_norm, n=3, alpha=1": (lambda x: F.local_response_norm(x, 3, alpha=1.0), leaf(2, 5, 3, 3)),
    "cross_entropy": (lambda z: F.cross_entropy(z, np.array([1, 0, 3])), leaf(3, 4)),
}
for name, (function, *inputs) in checks.items():
    assert mc.gradcheck(function, *inputs)
    print(f"gradcheck passed: {name}")

# %% [markdown]
# A whole network is just more ops, so it can be checked the same way:
# a tiny convnet, with the input and all its weights checked at once.

# %%
tiny = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 3)).to("float64")
image = mc.tensor(rng.standard_normal((2, 1, 6, 6)), requires_grad=True)
targets = np.array([2, 0])
weights = tiny.parameters()


def tiny_loss(x, *params):
    return F.cross_entropy(tiny(x), targets)


assert mc.gradcheck(tiny_loss, image, *weights)
print(f"gradcheck passed for a whole convnet: input and {sum(p.size for p in weights)} parameters")

# %% [markdown]
# ## What a wrong backward looks like
#
# Here is a sigmoid, s(x) = 1 / (1 + e^-x). Its derivative is s(1 - s).
# Our "buggy" version forgets the (1 - s): a classic slip. The forward pass
# is right, so a network using it would still run, train badly, and give
# no error. gradcheck catches it immediately and says where.

# %%
class BuggySigmoid(Function):
    name = "buggy_sigmoid"

    def forward(self, x):
        self.s = 1.0 / (1.0 + np.exp(-x))
        return self.s

    def backward(self, grad_output):
        return grad_output * self.s                    # wrong: should be grad_output * s * (1 - s)


class Sigmoid(BuggySigmoid):
    name = "sigmoid"

    def backward(self, grad_output):
        return grad_output * self.s * (1.0 - self.s)


z = mc.tensor(rng.standard_normal((3, 4)), requires_grad=True)
assert mc.gradcheck(lambda t: Sigmoid()(t), z)
print("the correct sigmoid passes")
try:
    mc.gradcheck(lambda t: BuggySigmoid()(t), z)
    raise AssertionError("gradcheck should have caught the buggy sigmoid")
except mc.GradcheckError as error:
    print("GradcheckError:", error)

# %% [markdown]
# Another common bug: a backward that returns a gradient of the wrong
# shape (here it forgets to sum over the batch for a broadcast bias).
# minicnn's backward walk checks every gradient against its input's shape
# and names the op that broke.

# %%
class BuggyAddBias(Function):
    name = "buggy_add_bias"
    input_names = ("x", "bias")

    def forward(self, x, bias):
        return x + bias                                 # bias (K,) broadcast over the N rows

    def backward(self, grad_output):
        return grad_output, grad_output                 # wrong: the bias needs grad_output.sum(axis=0)


features = mc.tensor(rng.standard_normal((5, 3)), requires_grad=True)
bias = mc.tensor(np.zeros(3), requires_grad=True)
try:
    BuggyAddBias()(features, bias).sum().backward()
    raise AssertionError("the shape check should have fired")
except RuntimeError as error:
    print("RuntimeError:", error)
    assert "buggy_add_bias" in str(error)

# %% [markdown]
# ## Why float64
#
# The centred difference has two errors pulling in opposite directions.
# Truncation error shrinks like eps^2 as eps gets smaller; rounding error
# (the loss is only stored to about 7 digits in float32, 16 in float64) is
# divided by 2 eps and so grows. The best eps, and the best attainable
# accuracy, depend on the precision. We measure the relative error of the
# numerical derivative of a small conv loss, against the exact one from
# backward, for a range of eps:

# %%
x64 = rng.standard_normal((1, 2, 5, 5))
w64 = rng.standard_normal((2, 2, 3, 3))
weights_out = 0.3 * rng.standard_normal((1, 2, 3, 3))


def conv_loss(x):
    """sum(exp(conv(x) * r)): curved in every direction, so the truncation error is not zero."""
    out = F.conv2d(x, mc.tensor(w64.astype(x.dtype))) * mc.tensor(weights_out.astype(x.dtype))
    return out.exp().sum()


x_tensor = mc.tensor(x64.copy(), requires_grad=True)
conv_loss(x_tensor).backward()
exact = x_tensor.grad[0, 0, 2, 2]                       # the element we will nudge

epsilons = 10.0 ** np.arange(-12, -0.75, 0.5)                # 1e-12 ... 1e-1
errors = {}
for dtype in (np.float32, np.float64):
    errors[dtype.__name__] = []
    for eps in epsilons:
        plus, minus = x64.copy(), x64.copy()
        plus[0, 0, 2, 2] += eps
        minus[0, 0, 2, 2] -= eps
        loss_plus = conv_loss(mc.tensor(plus.astype(dtype))).item()
        loss_minus = conv_loss(mc.tensor(minus.astype(dtype))).item()
        numeric = (loss_plus - loss_minus) / (2 * eps)
        errors[dtype.__name__].append(abs(numeric - exact) / max(1e-12, abs(numeric) + abs(exact)))
print("eps       float32   float64")
for eps, error32, error64 in list(zip(epsilons, errors["float32"], errors["float64"]))[::4]:
    print(f"{eps:.0e}   {error32:.1e}   {error64:.1e}")
at_default = {name: values[int(np.argmin(abs(epsilons - 1e-6)))] for name, values in errors.items()}
print(f"at gradcheck's eps = 1e-6: float32 {at_default['float32']:.1e}, float64 {at_default['float64']:.1e}")
assert at_default["float64"] < 1e-7 and at_default["float32"] > 1e-3
assert max(errors["float64"][int(np.argmin(abs(epsilons - 1e-8))):int(np.argmin(abs(epsilons - 1e-4))) + 1]) < 1e-7

fig, ax = plt.subplots(figsize=(6.5, 4))
for name, values in errors.items():
    ax.loglog(epsilons, np.maximum(values, 1e-17), "o-", label=name)
ax.axhline(1e-5, color="0.5", ls="--", lw=1)
ax.text(epsilons[0], 1.5e-5, "gradcheck's tolerance (rtol 1e-5)", fontsize=8, color="0.4")
ax.set_xlabel("eps")
ax.set_ylabel("relative error of the centred difference")
ax.set_title("Centred differences: rounding error (left) against truncation error (right)", fontsize=10)
ax.legend()
savefig(fig, "04_eps_float32_vs_float64.png")

# %% [markdown]
# In float32 the error is large for small eps (at eps = 1e-6 the two
# values of the loss differ only in their last few digits) and erratic for
# large ones, where it is small only where truncation and rounding happen
# to cancel, a point that moves from element to element. A correct
# backward would fail a strict check, and a slightly wrong one could pass
# a loose one. In float64 the error stays below 1e-7 for every eps from
# 1e-8 to 1e-4, around gradcheck's default of 1e-6. That is why
# `mc.gradcheck` refuses float32 inputs:

# %%
try:
    mc.gradcheck(lambda t: F.relu(t), mc.tensor(np.ones((2, 2), np.float32), requires_grad=True))
except TypeError as error:
    print("TypeError:", error)
    assert "float64" in str(error)

# %% [markdown]
# ## What to remember
#
# * each op's backward is its local derivative times the incoming
#   gradient; autograd walks the ops in reverse and adds up contributions;
# * check every backward against centred differences, in float64;
# * a wrong backward usually still "runs": only a check catches it.
#
# Next: max pooling, its switches, and the X/O example
# (`05_pooling_switches.py`).
