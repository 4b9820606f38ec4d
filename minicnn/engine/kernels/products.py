"""The matrix product, a @ b, the one kernel that is not a loop of ours.

    matmul(a, b)      a: (M, K), b: (K, N) -> (M, N); NumPy's (or CuPy's) BLAS

Its twin on the "numba" backend, ``matmul_numba``, is ``threads.matmul`` (minicnn/engine/threads.py):
the same product with the output cut into one block of rows or columns per
thread of minicnn's, each block one BLAS call on one thread, so that the BLAS
library's own thread pool is never woken and never polls while minicnn's
compiled loops run (threads.py says why that matters on a 2-core machine).
Each entry is the same sum of K products, so the numbers are the reference's.
"""

from .. import threads


def matmul(a, b):
    """a @ b for 2-D arrays a (M, K) and b (K, N): (M, N), NumPy or CuPy."""
    return a @ b


def matmul_numba(a, b):
    """The twin on the "numba" backend: a @ b split on minicnn's threads (threads.matmul),
    NumPy arrays only; the same (M, N) result."""
    return threads.matmul(a, b)
