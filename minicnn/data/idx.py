"""The IDX file format of MNIST and Fashion-MNIST: read it, write it, check it.

An IDX file is a header followed by the array's values, big-endian, in
row-major (C) order (LeCun et al., http://yann.lecun.com/exdb/mnist/):

    bytes 0-1      0x00 0x00
    byte  2        type code: 0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int,
                   0x0D float, 0x0E double
    byte  3        number of dimensions, ndim
    4 * ndim bytes each dimension's size, a big-endian unsigned 32-bit int
    the rest       prod(dims) * itemsize bytes of values

Labels files are 1-D, ``(N,)``; images files are 3-D, ``(N, rows, cols)``.
The files are usually distributed gzipped (``*.gz``); ``load_idx`` looks at
the first two bytes (0x1f 0x8b is gzip's magic number), not at the name.
"""

import gzip
import math
import zlib
from pathlib import Path

import numpy

# IDX type code -> big-endian NumPy dtype.
TYPE_CODES = {
    0x08: numpy.dtype(">u1"),
    0x09: numpy.dtype(">i1"),
    0x0B: numpy.dtype(">i2"),
    0x0C: numpy.dtype(">i4"),
    0x0D: numpy.dtype(">f4"),
    0x0E: numpy.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"


class IDXError(ValueError):
    """A file that is not a valid IDX file; the message names the file and the fault."""


def read_bytes(path):
    """The file's bytes, decompressed when they start with gzip's magic number."""
    path = Path(path)
    data = path.read_bytes()
    if data[:2] != GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as error:
        raise IDXError(f"{path}: gzip data is truncated or corrupt ({error})") from error


def parse_idx(data, name="<bytes>"):
    """Decode the bytes of an (uncompressed) IDX file into an array.

    Returns a native-byte-order array of shape ``dims``; ``name`` is used in
    error messages. Raises ``IDXError`` for a bad header or a payload whose
    size is not ``prod(dims) * itemsize``.
    """
    if len(data) < 4:
        raise IDXError(f"{name}: expected a 4-byte IDX header, found only {len(data)} bytes")
    zero0, zero1, type_code, ndim = data[0], data[1], data[2], data[3]
    if (zero0, zero1) != (0, 0):
        raise IDXError(
            f"{name}: bad magic number: expected bytes 00 00 <type> <ndim>, "
            f"found {data[:4].hex(' ')} (is this an IDX file?)"
        )
    if type_code not in TYPE_CODES:
        known = ", ".join(f"0x{code:02X} ({TYPE_CODES[code].name})" for code in TYPE_CODES)
        raise IDXError(f"{name}: unknown type code 0x{type_code:02X}; expected one of {known}")
    if ndim == 0:
        raise IDXError(f"{name}: header says 0 dimensions; an IDX array needs at least 1")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise IDXError(
            f"{name}: header with {ndim} dimensions needs {header_size} bytes, "
            f"found only {len(data)}"
        )
    dims = tuple(int(d) for d in numpy.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    if any(d == 0 for d in dims):
        raise IDXError(f"{name}: dimensions must be positive, found {dims}")
    dtype = TYPE_CODES[type_code]
    expected = math.prod(dims) * dtype.itemsize
    found = len(data) - header_size
    if found != expected:
        raise IDXError(
            f"{name}: dims {dims} of {dtype.name} need {expected} bytes of values "
            f"(prod(dims) * {dtype.itemsize}), found {found}: the file is "
            f"{'truncated' if found < expected else 'longer than its header says'}"
        )
    values = numpy.frombuffer(data, dtype=dtype, offset=header_size).reshape(dims)
    return values.astype(dtype.newbyteorder("="))  # a writable, native-order copy


def load_idx(path):
    """Read an IDX file, gzipped or not, into a NumPy array of shape ``dims``.

    Labels files give ``(N,)``, images files ``(N, rows, cols)``; ubyte
    files give ``uint8``. Raises ``IDXError`` naming the file for a corrupt,
    truncated or non-IDX file.
    """
    return parse_idx(read_bytes(path), name=str(path))


def idx_bytes(array):
    """The IDX encoding (header + big-endian values) of ``array``."""
    array = numpy.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in TYPE_CODES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        names = ", ".join(dtype.name for dtype in TYPE_CODES.values())
        raise IDXError(f"cannot write dtype {array.dtype} to IDX; supported: {names}")
    if not 1 <= array.ndim <= 255 or array.size == 0:
        raise IDXError(f"IDX needs 1 to 255 dimensions, all positive; got shape {array.shape}")
    header = bytes([0, 0, codes[native], array.ndim])
    header += numpy.asarray(array.shape, dtype=">u4").tobytes()
    big_endian = array.astype(array.dtype.newbyteorder(">"))
    return header + big_endian.tobytes(order="C")


def save_idx(path, array, compress=None):
    """Write ``array`` to ``path`` as IDX, gzipped when ``compress`` is true.

    ``compress=None`` gzips when the name ends in ``.gz``. The gzip header
    stores no name and no time, so the same array always gives the same bytes.
    """
    path = Path(path)
    data = idx_bytes(array)
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        data = gzip.compress(data, compresslevel=9, mtime=0)
    path.write_bytes(data)
    return path
