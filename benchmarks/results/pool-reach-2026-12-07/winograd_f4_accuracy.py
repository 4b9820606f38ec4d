"""How close F(4x4, 3x3) comes to the exact convolution in float32, against F(2x2, 3x3) and the
direct sum (NumPy einsum, the transforms in the same dtype; 7x7 images, padding 1). Measured, not built.

    python benchmarks/results/pool-reach-2026-12-07/winograd_f4_accuracy.py
"""
import numpy
from numpy.lib.stride_tricks import sliding_window_view as swv
BT4 = numpy.array([[4,0,-5,0,1,0],[0,-4,-4,1,1,0],[0,4,-4,-1,1,0],[0,-2,-1,2,1,0],[0,2,-1,-2,1,0],[0,4,0,-5,0,1]], float)
G4 = numpy.array([[1/4,0,0],[-1/6,-1/6,-1/6],[-1/6,1/6,-1/6],[1/24,1/12,1/6],[1/24,-1/12,1/6],[0,0,1]])
AT4 = numpy.array([[1,1,1,1,1,0],[0,1,-1,2,-2,0],[0,1,1,4,4,0],[0,1,-1,8,-8,1]], float)
BT2 = numpy.array([[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]], float)
G2 = numpy.array([[1,0,0],[.5,.5,.5],[.5,-.5,.5],[0,0,1]])
AT2 = numpy.array([[1,1,1,0],[0,1,-1,-1]], float)
def wino(x, w, BT, G, AT, m, dtype):
    r = BT.shape[0]; n, c, h, wd = x.shape; out = h - 2 + 2
    ty = -(-out // m)
    pad = numpy.zeros((n, c, ty*m + 2, ty*m + 2), dtype); pad[:, :, 1:1+h, 1:1+wd] = x
    d = swv(pad, (r, r), axis=(2, 3))[:, :, ::m, ::m]
    BT, G, AT = BT.astype(dtype), G.astype(dtype), AT.astype(dtype)
    u = numpy.einsum("ai,fcij,bj->abfc", G, w.astype(dtype), G)
    v = numpy.einsum("ai,nctsij,bj->abcnts", BT, d, BT)
    mm = numpy.einsum("abfc,abcnts->abfnts", u, v)
    y = numpy.einsum("ia,abfnts,jb->nftisj", AT, mm, AT)
    f = w.shape[0]
    return y.reshape(n, f, ty*m, ty*m)[:, :, :out, :out]
def direct(x, w, dtype):
    n, c, h, wd = x.shape
    pad = numpy.zeros((n, c, h+2, wd+2), dtype); pad[:, :, 1:-1, 1:-1] = x
    cols = swv(pad, (3, 3), axis=(2, 3))  # n c h w 3 3
    return numpy.einsum("nchwij,fcij->nfhw", cols, w.astype(dtype))
rng = numpy.random.default_rng(0)
for C in (4, 32, 96):
    x = rng.standard_normal((4, C, 7, 7)); w = rng.standard_normal((8, C, 3, 3))
    exact = direct(x, w, numpy.float64)
    scale = numpy.abs(exact).max()
    e32 = numpy.abs(direct(x.astype(numpy.float32), w, numpy.float32) - exact).max() / scale
    e2 = numpy.abs(wino(x.astype(numpy.float32), w, BT2, G2, AT2, 2, numpy.float32) - exact).max() / scale
    e4 = numpy.abs(wino(x.astype(numpy.float32), w, BT4, G4, AT4, 4, numpy.float32) - exact).max() / scale
    e4d = numpy.abs(wino(x, w, BT4, G4, AT4, 4, numpy.float64) - exact).max() / scale
    print(f"C={C}: float32 max error / max|y|: direct {e32:.2e}, F(2x2) {e2:.2e}, F(4x4) {e4:.2e}; float64 F(4x4) {e4d:.2e}")
