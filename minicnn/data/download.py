"""Download a dataset into the user cache, checking every byte.

``fetch(name)`` downloads the four ``.gz`` files of ``name`` from its
official location (``sources.BASE_URLS``) into ``sources.cache_dir(name)``.
Each file is written to a temporary file in the cache directory, its
SHA-256 compared with the published one (``sources.SHA256``), its contents
parsed as IDX, and only then renamed into place with ``os.replace`` (atomic
on one file system). A failure removes the temporary file and raises
``FetchError``: the cache never holds a half-written or unverified file.

Mirrors: pass ``base_url=`` or set ``$MINICNN_DATA_URL``; ``{name}`` in
either is replaced by the dataset name (``http://host/data/{name}/``).
"""

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from . import sources
from .idx import IDXError, load_idx

CHUNK_BYTES = 1 << 20


class FetchError(RuntimeError):
    """A download that failed or did not match its published checksum."""


def sha256_of(path):
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_verified(url, destination, sha256, ndim, timeout=60):
    """Download ``url`` to ``destination`` if its SHA-256 and IDX contents check out.

    ``ndim`` is the number of dimensions the IDX array must have (3 for
    images, 1 for labels). Nothing is left at ``destination`` or in its
    directory unless every check passed.
    """
    destination = Path(destination)
    handle, temporary = tempfile.mkstemp(
        dir=destination.parent, prefix=f".{destination.name}.", suffix=".part"
    )
    try:
        with os.fdopen(handle, "wb") as file:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                    file.write(chunk)
        found = sha256_of(temporary)
        if found != sha256:
            raise FetchError(
                f"{url}: SHA-256 mismatch: expected {sha256}, found {found}; "
                "the download is corrupt or the mirror serves a different file"
            )
        array = load_idx(temporary)
        if array.ndim != ndim:
            raise FetchError(f"{url}: expected a {ndim}-D IDX array, found shape {array.shape}")
        os.replace(temporary, destination)
    except (OSError, urllib.error.URLError, IDXError) as error:
        os.unlink(temporary)
        raise FetchError(
            f"could not download {url}: {error}. Check the network, use a mirror "
            f"($MINICNN_DATA_URL), or copy the file by hand to {destination}"
        ) from error
    except BaseException:
        os.unlink(temporary)
        raise
    return destination


def fetch(name, base_url=None, verbose=True, timeout=60):
    """Download ``name``'s four files into its cache directory; return the directory.

    Files already there with the right SHA-256 are kept. ``base_url``
    (default ``$MINICNN_DATA_URL``, then the official location) is the URL
    of the directory holding the files.
    """
    sources.check_name(name)
    base_url = base_url or os.environ.get("MINICNN_DATA_URL") or sources.BASE_URLS[name]
    base_url = base_url.replace("{name}", name)
    if not base_url.endswith("/"):
        base_url += "/"
    directory = sources.cache_dir(name)
    directory.mkdir(parents=True, exist_ok=True)
    for filename, sha256 in sources.SHA256[name].items():
        destination = directory / filename
        if destination.is_file() and sha256_of(destination) == sha256:
            continue
        ndim = 3 if "images" in filename else 1
        if verbose:
            print(f"minicnn: downloading {base_url}{filename}", file=sys.stderr)
        download_verified(base_url + filename, destination, sha256, ndim, timeout)
    return directory
