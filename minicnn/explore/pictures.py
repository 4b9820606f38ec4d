"""Arrays to PNG pictures and uploaded files to pixels, with Pillow.

Every picture the explorer sends is a small PNG made here from a NumPy
array; the page shows it scaled up with square pixels. The brightness
conventions are the ones of ZFNet's figures (and of minicnn.visualize's plots):

    signed(p)  = 0.5 + 0.5 * p / max|p|    projections: grey is zero, light pushes
                                            the unit up, dark pushes it down
    ranged(x)  = (x - min) / (max - min)    maps, patches, filters

An upload is decoded here and nowhere else, and only as an image: Pillow
opens it as PNG or JPEG (no other format is tried), reading only its
header; the result is turned grey and fitted into the model's input
(aspect kept, padded with black), with a note saying what was done.

How many pixels are decoded at most, and why. The picture ends up as the
model's input (28x28 for most models here), so a large picture is decoded
only to be thrown away: a PNG of a few kilobytes can declare 4096x4096
RGBA pixels, 64 MiB once decoded, and a dozen of them at once took more
than a gigabyte. So a picture is decoded only if both its sides are at
most ``decode_limit(size)`` = max(MIN_SIDE, SIDES_PER_INPUT x the input's
longer side) pixels: 1024 for a 28x28 model (room for a photo of a
drawing, 4 MiB as RGBA), 1792 for a 224x224 one. The size is read from the
header (``Image.open`` is lazy) and checked before any pixel is decoded.
A JPEG is first told to decode at a reduced scale (``draft``: 1/2, 1/4 or
1/8, by the JPEG's own DCT, still at least 4x the input), and its reduced
size is what is checked; so a phone's 4000x3000 photo decodes at 500x375
and is accepted. A PNG has no reduced decode: it is refused above the
limit, with the limit in the message. Pillow's own guard
(``Image.MAX_IMAGE_PIXELS``, a decompression bomb warning turned into an
error here) stays as a second line for sizes far beyond it. How many
uploads decode at once is limited by the server (minicnn/explore/server.py).
"""

import base64
import io
import warnings

import numpy
from PIL import Image, ImageOps

MIN_SIDE = 1024                      # a picture's side decoded at most is max(MIN_SIDE, ...
SIDES_PER_INPUT = 8                  # ... SIDES_PER_INPUT x the input's longer side): decode_limit
FORMATS = ("PNG", "JPEG")
GAP_COLOUR = (40, 52, 70)            # between the maps of a grid


class UploadError(ValueError):
    """An upload that is not a PNG or JPEG picture minicnn can use; the message says why."""


# ----- arrays to pictures ---------------------------------------------------------------
def signed(values):
    """Map values to [0, 1] with zero at 0.5: 0.5 + 0.5 * v / max|v| (all zeros -> 0.5)."""
    values = numpy.asarray(values, dtype=numpy.float64)
    scale = numpy.abs(values).max() if values.size else 0.0
    return 0.5 + 0.5 * values / (scale if scale > 0 else 1.0)


def ranged(values, low=None, high=None):
    """Map values to [0, 1] by (v - low) / (high - low); low, high default to min and max."""
    values = numpy.asarray(values, dtype=numpy.float64)
    low = values.min() if low is None else low
    high = values.max() if high is None else high
    if high <= low:
        return numpy.full(values.shape, 0.5 if high == low and high != 0 else 0.0)
    return numpy.clip((values - low) / (high - low), 0.0, 1.0)


def to_bytes(unit_values):
    """[0, 1] floats -> uint8 0..255 (rounded)."""
    return numpy.round(numpy.clip(unit_values, 0.0, 1.0) * 255).astype(numpy.uint8)


def png(picture):
    """A (H, W) grey or (H, W, 3) colour picture, floats in [0, 1] or uint8 -> PNG bytes."""
    picture = numpy.asarray(picture)
    if picture.dtype != numpy.uint8:
        picture = to_bytes(picture)
    if picture.ndim == 3 and picture.shape[0] in (1, 3) and picture.shape[2] not in (1, 3):
        picture = picture.transpose(1, 2, 0)             # (C, H, W) -> (H, W, C)
    if picture.ndim == 3 and picture.shape[2] == 1:
        picture = picture[:, :, 0]
    buffer = io.BytesIO()
    Image.fromarray(numpy.ascontiguousarray(picture)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def data_url(picture):
    """The picture as a ``data:image/png;base64,...`` URL for an <img> element."""
    return "data:image/png;base64," + base64.b64encode(png(picture)).decode("ascii")


def grid(maps, columns, gap=1):
    """Tile K pictures (K, h, w) grey or (K, h, w, 3) colour, in [0, 1], on a grid ``columns`` wide.

    Returns (H, W, 3) uint8.

    Picture k sits at row k // columns, column k % columns; its top-left
    pixel is at (gap + row * (h + gap), gap + column * (w + gap)). The page
    uses the same formula to turn a click into a map number.
    """
    maps = to_bytes(maps)
    count, height, width = maps.shape[:3]
    rows = max(1, -(-count // columns))
    canvas = numpy.empty((rows * (height + gap) + gap, columns * (width + gap) + gap, 3), numpy.uint8)
    canvas[:] = GAP_COLOUR
    for index in range(count):
        row, column = divmod(index, columns)
        top, left = gap + row * (height + gap), gap + column * (width + gap)
        canvas[top:top + height, left:left + width] = maps[index][:, :, None] if maps.ndim == 3 else maps[index]
    return canvas


def grid_columns(count):
    """Columns of a map grid: one row for up to 16 maps, else about square."""
    return count if count <= 16 else int(numpy.ceil(numpy.sqrt(count)))


def picture_of(image):
    """A model input or projection (C, H, W) -> (H, W) grey or (H, W, 3) colour (other C: mean)."""
    image = numpy.asarray(image)
    if image.shape[0] == 1:
        return image[0]
    if image.shape[0] == 3:
        return image.transpose(1, 2, 0)
    return image.mean(axis=0)


# ----- uploads to pixels ----------------------------------------------------------------
def decode_limit(size):
    """The longest side, in pixels, of a picture decoded for a model whose input is ``size`` (H, W)."""
    return max(MIN_SIDE, SIDES_PER_INPUT * max(size))


def decode_upload(data, size, channels=1, invert=False):
    """Decode PNG or JPEG bytes into the model's pixels.

    size: (H, W) of the model's input; channels: 1 (grey) or 3 (RGB).
    The picture is fitted inside H x W with its aspect ratio kept and the
    rest padded with black; invert=True turns dark-on-light drawings into
    light-on-dark ones, as in MNIST and Fashion-MNIST.
    Returns (pixels, note): pixels (H, W) or (H, W, 3) uint8, note a sentence
    for the page. Raises UploadError for anything else, among them a
    picture with a side longer than ``decode_limit(size)`` (module docstring),
    found from its header before any pixel is decoded.
    """
    if not data:
        raise UploadError("the upload is empty; send the bytes of a PNG or JPEG picture")
    limit = decode_limit(size)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as picture:
                width, height = picture.size                    # from the header: nothing decoded yet
                kind = picture.format
                mode = "L" if channels == 1 else "RGB"
                picture.draft(mode, (size[1] * 4, size[0] * 4))   # JPEG: decode at a reduced scale
                if max(picture.size) > limit:
                    reduced = "" if picture.size == (width, height) else (
                        f" (still {picture.size[0]}x{picture.size[1]} at the JPEG's smallest decoding scale)")
                    raise UploadError(f"the picture is {width}x{height} pixels{reduced}; the explorer decodes at "
                                      f"most {limit}x{limit} for this model's {size[1]}x{size[0]} input; "
                                      f"scale it down first")
                picture = ImageOps.exif_transpose(picture).convert(mode)
                picture.load()
    except UploadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:   # Pillow's own limit
        raise UploadError(f"the picture claims more pixels than the explorer decodes at most ({limit}x{limit} "
                          f"for this model): {error}") from error
    except Image.UnidentifiedImageError:
        start = bytes(data[:64])
        form = start.startswith(b"--") or b"Content-Disposition" in start      # multipart/form-data
        hint = ("; this is a form (multipart/form-data): send the file's bytes as the body "
                "(curl --data-binary @picture.png)" if form else "")
        raise UploadError(f"not a PNG or JPEG picture the explorer can read (the body starts with "
                          f"{start[:16]!r}){hint}") from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as error:   # truncated or corrupt files
        raise UploadError(f"the picture could not be decoded ({error})") from error
    if invert:
        picture = ImageOps.invert(picture)
    fitted = ImageOps.pad(picture, (size[1], size[0]), method=Image.Resampling.LANCZOS,
                          color=0 if channels == 1 else (0, 0, 0))
    pixels = numpy.asarray(fitted, dtype=numpy.uint8)
    shown = "grey" if channels == 1 else "RGB"
    note = f"{kind} of {width}x{height} pixels"
    if (width, height) != (size[1], size[0]):
        note += f", resized to {size[1]}x{size[0]} {shown} (aspect ratio kept, padded with black)"
    else:
        note += f", used as it is ({shown})"
    if invert:
        note += ", inverted (light on dark, like the training images)"
    return pixels, note
