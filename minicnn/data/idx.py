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

import contextlib
import gzip
import io
import math
import os
import secrets
import stat
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
# Deflate (RFC 1951) codes its longest repeat, 258 bytes, in 2 bits at best, so
# no gzip file inflates to more than about 1032 times its own size. A header
# that promises more than that is lying, whatever the file says afterwards.
MAX_DEFLATE_RATIO = 1032
CHUNK_BYTES = 1 << 20


class DataError(ValueError):
    """Data minicnn cannot use; the message names the file or setting, what it
    found, what it needed and why."""


class IDXError(DataError):
    """A file that is not a valid IDX file; the message names the file and the fault."""


def size_text(count):
    """A byte count for people: ``7840 bytes``, ``47040000 bytes (47.0 MB)``, ``about 10^28 bytes``."""
    if count < 10_000:
        return f"{count} bytes"
    for unit, scale in (("kB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12)):
        if count < 1000 * scale:
            return f"{count} bytes ({count / scale:.1f} {unit})"
    return f"about 10^{int(math.log10(count))} bytes"


def regular_file_size(path):
    """The size of ``path`` in bytes; an ``IDXError`` unless it is a regular file.

    A directory, a pipe or a device (``/dev/zero`` never ends) is refused
    before it is opened. A missing file raises ``FileNotFoundError``.
    """
    status = os.stat(path)  # follows symbolic links to what they point at
    if stat.S_ISREG(status.st_mode):
        return status.st_size
    what = "a directory" if stat.S_ISDIR(status.st_mode) else "not a regular file (a pipe, socket or device)"
    raise IDXError(f"{path} is {what}; an IDX file is an ordinary file of bytes")


def read_bytes(path):
    """The whole file's bytes, decompressed when they start with gzip's magic number.

    This inflates without a limit: use it on files you trust (``load_idx``
    reads only as much as the IDX header promises).
    """
    path = Path(path)
    data = path.read_bytes()
    if data[:2] != GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as error:
        raise IDXError(f"{path}: gzip data is truncated or corrupt ({error})") from error


def read_exactly(stream, count):
    """Up to ``count`` bytes of ``stream``; fewer only where the stream ends."""
    parts, remaining = [], count
    while remaining:
        part = stream.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def read_header(stream, name):
    """``(dtype, dims, header_size)`` from the header at the start of ``stream``."""
    start = read_exactly(stream, 4)
    if len(start) < 4:
        empty = " (the file is empty)" if not start else ""
        raise IDXError(f"{name}: expected a 4-byte IDX header, found only {len(start)} bytes{empty}")
    zero0, zero1, type_code, ndim = start
    if (zero0, zero1) != (0, 0):
        raise IDXError(
            f"{name}: bad magic number: expected bytes 00 00 <type> <ndim>, "
            f"found {start.hex(' ')} (is this an IDX file?)"
        )
    if type_code not in TYPE_CODES:
        known = ", ".join(f"0x{code:02X} ({TYPE_CODES[code].name})" for code in TYPE_CODES)
        raise IDXError(f"{name}: unknown type code 0x{type_code:02X}; expected one of {known}")
    if ndim == 0:
        raise IDXError(f"{name}: header says 0 dimensions; an IDX array needs at least 1")
    header_size = 4 + 4 * ndim
    sizes = read_exactly(stream, 4 * ndim)
    if len(sizes) < 4 * ndim:
        raise IDXError(
            f"{name}: header with {ndim} dimensions needs {header_size} bytes, "
            f"found only {4 + len(sizes)}"
        )
    dims = tuple(int(d) for d in numpy.frombuffer(sizes, dtype=">u4"))
    if any(d == 0 for d in dims):
        raise IDXError(
            f"{name}: dimensions must be positive, found {dims}: a file of 0 "
            "images (or of images 0 pixels wide) holds nothing to learn from"
        )
    return TYPE_CODES[type_code], dims, header_size


def size_fault(name, dims, dtype, expected, found, more=False):
    """The IDXError for a body of ``found`` bytes where the header promised ``expected``."""
    if more:
        found_text = f"more than {found} (reading stopped there)"
    else:
        found_text = str(found)
    return IDXError(
        f"{name}: dims {dims} of {dtype.name} need {size_text(expected)} of values "
        f"(prod(dims) * {dtype.itemsize}), found {found_text}: the file is "
        f"{'truncated' if found < expected else 'longer than its header says'}"
    )


def read_idx(stream, name, file_size=None, inflate_limit=None):
    """Decode the (uncompressed) IDX bytes of ``stream`` into an array ``dims``.

    Reads exactly the ``prod(dims) * itemsize`` bytes the header promises and
    then tries one byte more, so a body longer than promised (a gzip bomb
    inflates to gigabytes) is detected without reading it. Before anything
    is allocated the promise is checked against what the file can hold:
    ``file_size`` (an uncompressed file's size) or ``inflate_limit`` (the
    most a gzip file can inflate to).
    """
    dtype, dims, header_size = read_header(stream, name)
    expected = math.prod(dims) * dtype.itemsize
    if file_size is not None and file_size - header_size != expected:
        raise size_fault(name, dims, dtype, expected, file_size - header_size)
    if inflate_limit is not None and header_size + expected > inflate_limit:
        raise IDXError(
            f"{name}: dims {dims} of {dtype.name} need {size_text(expected)} of values, "
            f"but this gzip file can inflate to at most {size_text(inflate_limit)} "
            f"({MAX_DEFLATE_RATIO} times its size, the limit of deflate): "
            "the header is corrupt or the file truncated"
        )
    try:
        body = numpy.empty(expected, dtype=numpy.uint8)  # exactly the promise, no more
    except MemoryError as error:
        raise IDXError(f"{name}: dims {dims} of {dtype.name} need {size_text(expected)}, "
                       "more memory than this machine can give") from error
    view, filled = memoryview(body), 0
    while filled < expected:
        count = stream.readinto(view[filled:filled + CHUNK_BYTES])
        if not count:
            raise size_fault(name, dims, dtype, expected, filled)
        filled += count
    if stream.read(1):  # one byte past the promise is enough to know
        raise size_fault(name, dims, dtype, expected, expected, more=True)
    values = body.view(dtype).reshape(dims)
    return values.astype(dtype.newbyteorder("="), copy=False)  # native order, writable


def parse_idx(data, name="<bytes>"):
    """Decode the bytes of an (uncompressed) IDX file into an array.

    Returns a native-byte-order array of shape ``dims``; ``name`` is used in
    error messages. Raises ``IDXError`` for a bad header or a payload whose
    size is not ``prod(dims) * itemsize``.
    """
    return read_idx(io.BytesIO(data), name, file_size=len(data))


def load_idx(path):
    """Read an IDX file, gzipped or not, into a NumPy array of shape ``dims``.

    Labels files give ``(N,)``, images files ``(N, rows, cols)``; ubyte
    files give ``uint8``. Raises ``IDXError`` naming the file for a corrupt,
    truncated, oversized or non-IDX file, or for a path that is not a
    regular file. Memory stays within what the header promises, and that
    promise is checked against the file's size first.
    """
    path = Path(path)
    size = regular_file_size(path)
    with open(path, "rb") as file:
        if file.read(2) != GZIP_MAGIC:
            file.seek(0)
            return read_idx(file, str(path), file_size=size)
        file.seek(0)
        try:
            with gzip.GzipFile(fileobj=file, mode="rb") as stream:
                return read_idx(stream, str(path), inflate_limit=MAX_DEFLATE_RATIO * size)
        except (EOFError, OSError, zlib.error) as error:
            raise IDXError(f"{path}: gzip data is truncated or corrupt ({error})") from error


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
    if max(array.shape) > 2**32 - 1:
        raise IDXError(f"IDX stores each dimension in 32 bits, at most {2**32 - 1}; "
                       f"got shape {array.shape}")
    header = bytes([0, 0, codes[native], array.ndim])
    header += numpy.asarray(array.shape, dtype=">u4").tobytes()
    big_endian = array.astype(array.dtype.newbyteorder(">"))
    return header + big_endian.tobytes(order="C")


def save_idx(path, array, compress=None):
    """Write ``array`` to ``path`` as IDX, gzipped when ``compress`` is true.

    ``compress=None`` gzips when the name ends in ``.gz``. The gzip header
    stores no name and no time, so the same array always gives the same bytes.
    The bytes go to a temporary file renamed over ``path`` at the end, so an
    error or Ctrl-C never leaves a half-written file in place of the old one.
    """
    path = Path(path)
    data = idx_bytes(array)
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        data = gzip.compress(data, compresslevel=9, mtime=0)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    try:
        file = open(temporary, "xb")  # x: a new file, never someone else's
    except OSError as error:  # name the file the caller asked for, not the temporary one
        raise type(error)(error.errno, error.strerror, str(path)) from error
    try:
        with file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return path
