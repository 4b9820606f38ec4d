"""minicnn's own threads (engine/threads.py), its recycled arrays (engine/buffers.py), the
convolution in chunks of images (kernels/convolution.py) and Sequential's ReLU/max-pool order.

Nothing here times anything: speed is measured in benchmarks/import_order.py.
Each result is compared with the plain computation over the whole range, the
whole product, the whole batch, the layers in their written order.
"""

import contextlib
import threading

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn
from minicnn.engine import backend, buffers, kernels, nn, threads
from minicnn.engine import functional as F
from minicnn.engine.backend import using_backend
from minicnn.engine.functional.conv_pool import conv2d_max_pool2d
from minicnn.engine.kernels import compiled, convolution, routes
from minicnn.engine.shapes import conv_output_size
from minicnn.engine.tensor import tensor

needs_numba = pytest.mark.skipif(backend.numba is None,
                                 reason=f"the numba backend needs numba: {backend.numba_reason}")


@pytest.fixture
def three_threads():
    previous = threads.set_num_threads(3)
    yield
    threads.set_num_threads(previous)


# ----- the pool -------------------------------------------------------------------------------

@given(st.integers(0, 200), st.integers(1, 5), st.integers(1, 6))
@settings(max_examples=40, deadline=None)
def test_parallel_for_covers_every_item_once(total, count, pieces):
    previous = threads.set_num_threads(count)
    try:
        seen = numpy.zeros(total, dtype=numpy.int64)
        lock = threading.Lock()

        def work(first, last):
            assert 0 <= first < last <= total
            with lock:
                seen[first:last] += 1

        threads.parallel_for(total, work, pieces_per_thread=pieces)
        assert numpy.array_equal(seen, numpy.ones(total, dtype=numpy.int64))
    finally:
        threads.set_num_threads(previous)


def test_parallel_for_raises_what_a_piece_raised(three_threads):
    def work(first, last):
        if first <= 5 < last:
            raise ValueError(f"item 5 of {first}..{last}")

    with pytest.raises(ValueError, match="item 5"):
        threads.parallel_for(12, work, pieces_per_thread=4)
    done = []                                          # and the pool still works afterwards
    threads.parallel_for(12, lambda first, last: done.append((first, last)))
    assert sorted(done)[0][0] == 0 and sum(last - first for first, last in done) == 12


def test_work_inside_a_piece_runs_on_that_thread(three_threads):
    inner = []

    def outer(first, last):
        threads.parallel_for(4, lambda a, b: inner.append((threading.get_ident(), a, b)))

    threads.parallel_for(3, outer, pieces_per_thread=1)
    assert len(inner) == 3                                            # one inner call per outer item
    assert all((a, b) == (0, 4) for _, a, b in inner)                 # nested: serial, whole


def test_set_num_threads_refuses_nonsense():
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ValueError, match="set_num_threads: count must be a whole number >= 1"):
            threads.set_num_threads(bad)
    assert minicnn.set_num_threads is threads.set_num_threads


# ----- products ---------------------------------------------------------------------------------

@given(st.integers(1, 70), st.integers(1, 40), st.integers(1, 90), st.sampled_from(["C", "T"]),
       st.sampled_from(["split", "whole"]))
@settings(max_examples=60, deadline=None)
def test_matmul_equals_numpy(rows, inner, columns, layout, way):
    """Split on three threads, or (below SPLIT_FROM_MULTIPLY_ADDS) whole on the calling thread."""
    previous_split = threads.SPLIT_FROM_MULTIPLY_ADDS
    previous = threads.set_num_threads(3)
    try:
        # "split": even these small products are shared out; "whole": none of them is
        threads.SPLIT_FROM_MULTIPLY_ADDS = 0 if way == "split" else rows * inner * columns + 1
        rng = numpy.random.default_rng(rows * 10000 + inner * 100 + columns)
        a = rng.standard_normal((rows, inner))
        b = rng.standard_normal((inner, columns)) if layout == "C" else rng.standard_normal((columns, inner)).T
        # float64 sums of `inner` products: each block is computed by the same BLAS
        # kernels as the whole product, so at most a few roundings apart
        bound = 8 * inner * numpy.finfo(numpy.float64).eps * (numpy.abs(a) @ numpy.abs(b))
        assert numpy.all(numpy.abs(threads.matmul(a, b) - a @ b) <= bound)
    finally:
        threads.SPLIT_FROM_MULTIPLY_ADDS = previous_split
        threads.set_num_threads(previous)


def _blas_threads():
    return threads._blas["library"][1]() if threads.blas_control() else None


def test_blas_thread_count_is_put_back(three_threads):
    """While minicnn shares out a product NumPy's BLAS has one thread; afterwards its own count."""
    if not threads.blas_control():
        pytest.skip("NumPy's BLAS here is not an OpenBLAS minicnn can ask for one thread "
                    "(products then run whole, on the BLAS library's own threads)")
    before = _blas_threads()
    seen = []
    a = numpy.ones((300, 300))

    def work(first, last):
        seen.append(_blas_threads())
        numpy.matmul(a[first:last], a)

    with threads.blas_on_one_thread():
        threads.parallel_for(300, work)
    threads.matmul(a, a)                                   # 27 million multiply-adds: split
    threads.matmul(a[:10], a)                              # 0.9 million: whole, BLAS on one thread
    assert set(seen) == {1}
    assert _blas_threads() == before


# ----- recycled arrays ------------------------------------------------------------------------

def test_buffers_never_hand_out_memory_that_a_live_array_uses():
    buffers.release()
    shape = (buffers.FROM_BYTES // 8 + 3,)
    first = buffers.empty(shape, numpy.float64)
    view = first[5:].reshape(-1)                        # a view keeps its block in use
    del first
    second = buffers.empty(shape, numpy.float64)
    assert not numpy.shares_memory(second, view)
    del view
    third = buffers.empty(shape, numpy.float64)         # now the first block is free again
    assert not numpy.shares_memory(third, second)
    kept = buffers._local.blocks[shape[0] * 8]
    assert len(kept) == 2                               # reused, not a third block
    small = buffers.empty((3,), numpy.float32)          # small arrays: plain numpy.empty
    assert small.base is None and small.flags.c_contiguous
    buffers.release()


def test_buffers_are_per_thread():
    buffers.release()
    shape = (buffers.FROM_BYTES // 4,)
    mine = buffers.empty(shape, numpy.float32)
    del mine
    theirs = []
    thread = threading.Thread(target=lambda: theirs.append(buffers.empty(shape, numpy.float32)))
    thread.start()
    thread.join()
    again = buffers.empty(shape, numpy.float32)
    assert not numpy.shares_memory(again, theirs[0])
    buffers.release()


# ----- the convolution in chunks --------------------------------------------------------------

@st.composite
def convolutions(draw):
    """A convolution with unusual terms: non-square kernels, stride, padding, dilation, odd sizes."""
    batch, channels, filters = draw(st.integers(1, 7)), draw(st.integers(1, 4)), draw(st.integers(1, 5))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    span = (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)
    height = draw(st.integers(max(1, span[0] - 2 * padding[0]), span[0] + 6))
    width = draw(st.integers(max(1, span[1] - 2 * padding[1]), span[1] + 6))
    return (batch, channels, height, width), (filters, channels) + kernel, stride, padding, dilation


@needs_numba
@given(convolutions(), st.integers(0, 2**32 - 1), st.booleans(), st.integers(1, 64))
@settings(max_examples=60, deadline=None)
def test_convolution_in_chunks_matches_the_whole_batch_formulas(geometry, seed, with_bias, chunk_bytes):
    input_shape, weight_shape, stride, padding, dilation = geometry
    out = (conv_output_size(input_shape[2], weight_shape[2], stride[0], padding[0], dilation=dilation[0]),
           conv_output_size(input_shape[3], weight_shape[3], stride[1], padding[1], dilation=dilation[1]))
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal(input_shape)
    weight = rng.standard_normal(weight_shape)
    bias = rng.standard_normal(weight_shape[0]) if with_bias else None
    grad_y = rng.standard_normal((input_shape[0], weight_shape[0]) + out)
    previous_chunk, convolution.CHUNK_BYTES = convolution.CHUNK_BYTES, chunk_bytes * 8  # 1 .. 64 doubles
    previous = threads.set_num_threads(3)
    try:
        with using_backend("numba"):
            y = convolution.conv2d_forward_numba(x, weight, bias, stride, padding, dilation, out)
            grad_x, grad_weight, grad_bias = convolution.conv2d_backward_numba(
                grad_y, x, weight, stride, padding, dilation, True, True, with_bias)
            rows = kernels.images_to_rows(grad_y)
            grad_x_alone = convolution.input_gradient_numba(rows, weight, input_shape, stride,
                                                            padding, dilation, out)
        with using_backend("numpy"):                    # the whole-batch formulas of functional/conv.py
            xt, wt = tensor(x, requires_grad=True), tensor(weight, requires_grad=True)
            bt = tensor(bias, requires_grad=True) if with_bias else None
            expected = F.conv2d(xt, wt, bt, stride, padding, dilation)
            expected.backward(grad_y)
    finally:
        convolution.CHUNK_BYTES = previous_chunk
        threads.set_num_threads(previous)
    eps = numpy.finfo(numpy.float64).eps
    terms = weight_shape[1] * weight_shape[2] * weight_shape[3]
    # float64 sums of `terms` products (forward, dL/dx) or of N*OH*OW products (dL/dW, dL/db),
    # in another grouping: a few roundings of the largest partial sums apart
    assert numpy.allclose(y, expected.data, rtol=0, atol=16 * terms * eps * (1 + numpy.abs(expected.data).max()))
    scale = 16 * grad_y.size * eps
    assert numpy.allclose(grad_x, xt.grad, rtol=0, atol=scale * (1 + numpy.abs(xt.grad).max()))
    assert numpy.allclose(grad_x_alone, xt.grad, rtol=0, atol=scale * (1 + numpy.abs(xt.grad).max()))
    assert numpy.allclose(grad_weight, wt.grad, rtol=0, atol=scale * (1 + numpy.abs(wt.grad).max()))
    if with_bias:
        assert numpy.allclose(grad_bias, bt.grad, rtol=0, atol=scale * (1 + numpy.abs(bt.grad).max()))
    else:
        assert grad_bias is None


@needs_numba
def test_chunked_sums_do_not_depend_on_the_thread_count():
    rng = numpy.random.default_rng(3)
    x = rng.standard_normal((9, 1, 12, 12)).astype(numpy.float32)
    weight = rng.standard_normal((4, 1, 3, 3)).astype(numpy.float32)
    grad_y = rng.standard_normal((9, 4, 10, 10)).astype(numpy.float32)
    results = []
    for count in (1, 2, 3):
        previous = threads.set_num_threads(count)
        try:
            results.append(convolution.conv2d_backward_numba(grad_y, x, weight, (1, 1), (0, 0),
                                                             (1, 1), False, True, True))
        finally:
            threads.set_num_threads(previous)
    for grad_x, grad_weight, grad_bias in results[1:]:
        assert numpy.array_equal(grad_weight, results[0][1])
        assert numpy.array_equal(grad_bias, results[0][2])


@needs_numba
@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_gradients_at_the_switches_do_not_depend_on_the_thread_count(dtype):
    """Chunks of a size the shapes alone decide, added in chunk order: bit for bit the same
    gradients on 1, 2 or 3 threads, with several chunks (CHUNK_BYTES small)."""
    from minicnn.engine.kernels import switch_gradients
    rng = numpy.random.default_rng(4)
    x = rng.standard_normal((7, 8, 9, 8)).astype(dtype)
    weight = rng.standard_normal((5, 8, 3, 3)).astype(dtype)
    pool = ((2, 2), (2, 2), (0, 0), (1, 1), (3, 3))
    previous_chunk, convolution.CHUNK_BYTES = convolution.CHUNK_BYTES, 400
    results = []
    try:
        _, switches, reach = switch_gradients.conv2d_max_pool_forward_in_reach(x, weight, None, (1, 1), (0, 0),
                                                                               (1, 1), (7, 6), pool)
        grad = rng.standard_normal(switches.shape).astype(dtype)
        for count in (1, 2, 3):
            previous = threads.set_num_threads(count)
            try:
                results.append(switch_gradients.conv2d_max_pool_backward_at_switches(
                    grad, switches, x, weight, (1, 1), (0, 0), (1, 1), (7, 6), reach, True, True, True))
            finally:
                threads.set_num_threads(previous)
    finally:
        convolution.CHUNK_BYTES = previous_chunk
    for result in results[1:]:
        for mine, first in zip(result, results[0]):
            assert numpy.array_equal(mine, first)


# ----- Sequential runs max-pool before ReLU ---------------------------------------------------

@pytest.mark.parametrize("name", ["numpy", "numba"])
def test_relu_then_max_pool_gives_the_written_order_numbers(name):
    if name == "numba" and backend.numba is None:
        pytest.skip(f"the numba backend needs numba: {backend.numba_reason}")
    rng = numpy.random.default_rng(0)
    x = rng.integers(-3, 3, (4, 3, 9, 9)).astype(numpy.float32)      # ties, zeros, negative windows
    x[0, 0, 0, 0] = numpy.nan
    x[1, 1, 2:5, 2:5] = -1.0                                           # a window with no positive value
    model = nn.Sequential(nn.ReLU(), nn.MaxPool2d(3, stride=2, ceil_mode=True), nn.ReLU(),
                          nn.MaxPool2d(2))
    grad = rng.standard_normal((4, 3, 2, 2)).astype(numpy.float32)
    with using_backend(name):
        # the NaN enters as an intermediate result (the layers refuse NaN in a leaf input)
        fused_x = tensor(x, requires_grad=True)
        fused = model(fused_x + 0.0)
        fused.backward(grad)
        written_x = tensor(x, requires_grad=True)
        written = written_x + 0.0
        for layer in model:                                              # the written order
            written = layer(written)
        written.backward(grad)
    assert numpy.array_equal(fused.data, written.data, equal_nan=True)
    assert numpy.array_equal(fused_x.grad, written_x.grad, equal_nan=True)


def test_thread_count_default_reads_the_environment(monkeypatch):
    monkeypatch.setitem(threads._settings, "threads", None)
    monkeypatch.setenv("MINICNN_NUM_THREADS", "3")
    monkeypatch.setenv("NUMBA_NUM_THREADS", "5")
    assert threads.get_num_threads() == 3
    monkeypatch.delenv("MINICNN_NUM_THREADS")
    assert threads.get_num_threads() == 5                     # the loops ran on Numba's threads once
    monkeypatch.setenv("NUMBA_NUM_THREADS", "zero")
    assert threads.get_num_threads() == threads._usable_cores()


# ----- a convolution and its max-pool as one op -----------------------------------------------

@contextlib.contextmanager
def bit_exact_routes():
    """The conv+pool routes that promise the reference's numbers bit for bit: the chunks route
    and the pooled product (the direct route and the gradients at the switches add dL/dW in
    another order)."""
    table = routes.ROUTES["conv2d+max_pool2d"]
    routes.ROUTES["conv2d+max_pool2d"] = tuple(
        route for route in table if route.name in ("chunks, pooled in cache", "im2col, pooled from the product"))
    try:
        yield
    finally:
        routes.ROUTES["conv2d+max_pool2d"] = table


@needs_numba
@given(convolutions(), st.integers(0, 2**32 - 1), st.booleans(), st.integers(1, 64),
       st.integers(1, 3), st.integers(1, 2), st.booleans(), st.integers(1, 2))
@settings(max_examples=60, deadline=None)
def test_conv2d_max_pool2d_is_the_two_ops(geometry, seed, with_bias, chunk_bytes, pool_kernel, pool_stride,
                                          ceil_mode, pool_dilation):
    """Bit for bit: output and every gradient, pooling windows with padding, ceil_mode partial
    windows, dilation and ties (small integers) included. The routes that promise that: the
    chunks route and the pooled product (the direct route adds dL/dW in another order and is
    compared with the reference in tests/test_routes.py, as the gradients at the switches)."""
    input_shape, weight_shape, stride, padding, dilation = geometry
    out = [conv_output_size(input_shape[2 + axis], weight_shape[2 + axis], stride[axis], padding[axis],
                            dilation=dilation[axis]) for axis in (0, 1)]
    if min(out) < pool_dilation * (pool_kernel - 1) + 1:
        return                                       # no pooling window fits the convolution's output
    rng = numpy.random.default_rng(seed)
    x = rng.integers(-3, 4, input_shape).astype(numpy.float64)
    weight = rng.integers(-2, 3, weight_shape).astype(numpy.float64)
    bias = rng.integers(-2, 3, weight_shape[0]).astype(numpy.float64) if with_bias else None
    pool = (pool_kernel, pool_stride, pool_kernel // 2, ceil_mode, pool_dilation)
    previous_chunk, convolution.CHUNK_BYTES = convolution.CHUNK_BYTES, chunk_bytes * 8
    previous = threads.set_num_threads(3)
    results, grad = [], None
    try:
        for fused in (False, True):
            with using_backend("numba"), bit_exact_routes():
                xt, wt = tensor(x, requires_grad=True), tensor(weight, requires_grad=True)
                bt = tensor(bias, requires_grad=True) if with_bias else None
                if fused:
                    y = conv2d_max_pool2d(xt, wt, bt, stride, padding, dilation, 1, *pool)
                else:
                    y = F.max_pool2d(F.conv2d(xt, wt, bt, stride, padding, dilation), pool[0], pool[1],
                                     pool[2], pool[3], dilation=pool[4])
                if grad is None:
                    grad = rng.standard_normal(y.shape)
                y.backward(grad)
            results.append((y.data, xt.grad, wt.grad, None if bt is None else bt.grad))
    finally:
        convolution.CHUNK_BYTES = previous_chunk
        threads.set_num_threads(previous)
    for separate, together in zip(*results):
        assert (separate is None and together is None) or numpy.array_equal(separate, together)


@pytest.mark.parametrize("name", ["numpy", "numba"])
def test_sequential_conv_relu_max_pool_gives_the_written_order_numbers(name):
    """Bit for bit, with the routes that promise it (bit_exact_routes); the direct route's
    fused numbers are compared in tests/test_routes.py, up to rounding."""
    if name == "numba" and backend.numba is None:
        pytest.skip(f"the numba backend needs numba: {backend.numba_reason}")
    rng = numpy.random.default_rng(1)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(3, stride=2, ceil_mode=True),
                          nn.Conv2d(4, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
    x = rng.standard_normal((5, 1, 13, 13)).astype(numpy.float32)
    results = []
    for written in (False, True):
        with using_backend(name), bit_exact_routes():
            xt = tensor(x, requires_grad=True)
            for parameter in model.parameters():
                parameter.grad = None
            y = xt
            if written:
                for layer in model:
                    y = layer(y)
            else:
                y = model(xt)
            y.backward(numpy.ones(y.shape, numpy.float32))
        results.append([y.data, xt.grad] + [p.grad.copy() for p in model.parameters()])
    for fused, written in zip(*results):
        assert numpy.array_equal(fused, written)


def test_helpers_follow_the_callers_floating_point_error_handling():
    """numpy.errstate belongs to each thread: a piece computed on a helper must stay quiet
    where the caller said so (minicnn's divergence checks silence overflow warnings), and
    warn where the caller did not."""
    import warnings
    a = numpy.full((512, 512), 1e30, numpy.float32)            # every product overflows
    previous = threads.set_num_threads(2)
    try:
        with warnings.catch_warnings(record=True) as quiet:
            warnings.simplefilter("always")
            with numpy.errstate(over="ignore", invalid="ignore"):
                threads.matmul(a, a)
        with warnings.catch_warnings(record=True) as loud:
            warnings.simplefilter("always")
            threads.matmul(a, a)
    finally:
        threads.set_num_threads(previous)
    assert quiet == []
    assert any("overflow" in str(warning.message) for warning in loud)
