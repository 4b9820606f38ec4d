"""The engine: everything a convnet needs to compute, and nothing else.

Read it bottom-up; each module imports only those above it in this list:

    backend.py      which array library holds the data (NumPy or CuPy) and
                    which kernels run (numpy, numba, cupy); the bottom layer
    threads.py      one pool of threads for the compiled loops and matrix
                    products (set_num_threads); imports nothing of minicnn
    buffers.py      large arrays recycled from step to step once no array uses
                    them (no page faults for fresh memory); imports nothing of minicnn
    kernels/        the hot loops, one file per family: the plain-array
                    reference first, its Numba and CUDA twins after it;
                    convolution.py: conv2d a few images at a time (numba)
    tensor.py       Tensor, Function and the iterative backward pass
    arithmetic.py   +, -, *, /, @, sum, mean, reshape ... with their gradients
    rng.py          one seed for dropout and initialisation
    errors.py       ShapeError, ArgumentError, DTypeError, NonFiniteError: what
                    went wrong, in types a learner can catch
    shapes.py       (N - F + 2P)/S + 1 (and its dilated form), receptive fields,
                    the checks of window settings
    functional/     the ops: conv (grouped, dilated), pooling, ReLU, LRN, dropout,
                    linear, loss
    nn/             layers (Module, Conv2d, ...), summary(), state_dict()
    optim.py        SGD with momentum, ZFNet's filter renormalization
    gradcheck.py    centred-difference gradient checks
    process.py      tune(): optional process-wide settings (idle threads,
                    freed memory), applied only when a user calls it

The engine imports NumPy, and Numba or CuPy only inside kernels/ and the
probes in backend.py; never matplotlib, tqdm, or the rest of minicnn.
"""
