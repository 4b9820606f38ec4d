"""Download a dataset into the user cache, checking every byte.

``fetch(name)`` downloads the four ``.gz`` files of ``name`` from its
official location (``sources.BASE_URLS``) into ``sources.cache_dir(name)``.
Each file is written to a temporary ``.part`` file in the cache directory,
its SHA-256 compared with the published one (``sources.SHA256``), its
contents parsed as IDX, and only then renamed into place with
``os.replace`` (atomic on one file system). A server may send at most the
published size (``sources.SIZES``), and a body shorter than the server's
own ``Content-Length`` is an error, not a file to check.

Whatever goes wrong (no connection, an HTTP error status, a reply that is
not HTTP, a connection reset or cut short, a wrong checksum, a full disk)
removes the temporary file and raises ``FetchError`` naming the URL and the
reason; Ctrl-C removes it too and raises ``FetchInterrupted``, a
``KeyboardInterrupt``. The cache never holds a half-written or unverified
file, and a file already there is replaced only by a verified one.

Mirrors: pass ``base_url=`` or set ``$MINICNN_DATA_URL`` (http://, https://
or file://); ``{name}`` in either is replaced by the dataset name
(``http://host/data/{name}/``).
"""

import contextlib
import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from . import sources
from .idx import IDXError, load_idx

CHUNK_BYTES = 1 << 20
SCHEMES = ("http", "https", "file")


class FetchError(RuntimeError):
    """A download that failed or did not match its published checksum; the
    message names the URL and the reason."""


class FetchInterrupted(KeyboardInterrupt):
    """Ctrl-C during a download. The partial file is already removed; the
    message names the download. A ``KeyboardInterrupt``, so it still stops
    whatever was running."""


def sha256_of(path):
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_base_url(base_url, setting):
    """Refuse a download location that urllib cannot fetch or that is not a place."""
    scheme = urllib.parse.urlsplit(base_url).scheme
    if scheme not in SCHEMES:
        raise FetchError(
            f"{setting} is {base_url!r}: a download location must start with http:// or "
            "https:// (or file:// for a mirror on this machine), as in "
            "http://host/data/{name}/"
        )


def receive(url, file, timeout, size=None):
    """Copy the body of ``url`` into ``file``; return its length in bytes.

    ``size``, when known, is the most the body may have. Every way the
    transfer can fail becomes a ``FetchError`` whose message says which.
    """
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            announced = getattr(response, "length", None)  # Content-Length, None when chunked
            if size is not None and announced is not None and announced > size:
                raise FetchError(f"{url}: the server announces {announced} bytes, but the "
                                 f"published file has {size}; this is not the file")
            while chunk := response.read(CHUNK_BYTES):
                received += len(chunk)
                if size is not None and received > size:
                    raise FetchError(f"{url}: the server sent more than the {size} bytes of "
                                     "the published file; stopped there")
                try:
                    file.write(chunk)
                except OSError as error:
                    raise FetchError(f"{url}: could not save it to {file.name} "
                                     f"({error.strerror or error}); is the disk full?") from error
        if announced is not None and received < announced:
            raise FetchError(f"{url}: the server closed the connection after {received} of "
                             f"the {announced} bytes it announced (Content-Length)")
    except urllib.error.HTTPError as error:
        raise FetchError(f"{url}: the server answered HTTP {error.code} {error.reason}") from error
    except urllib.error.URLError as error:
        raise FetchError(f"{url}: could not reach it ({error.reason})") from error
    except http.client.IncompleteRead as error:
        raise FetchError(f"{url}: the connection closed in the middle of the file; "
                         "the reply was cut short") from error
    except http.client.RemoteDisconnected as error:
        raise FetchError(f"{url}: the server closed the connection without replying") from error
    except http.client.BadStatusLine as error:
        raise FetchError(f"{url}: the reply is not HTTP; it starts "
                         f"{str(error)[:60]!r}") from error
    except http.client.HTTPException as error:
        raise FetchError(f"{url}: the reply breaks the HTTP protocol "
                         f"({type(error).__name__}: {error})") from error
    except TimeoutError as error:
        raise FetchError(f"{url}: the server sent nothing for {timeout} s (timed out) "
                         f"after {received} bytes") from error
    except ConnectionError as error:
        raise FetchError(f"{url}: the connection was reset or broken after {received} "
                         f"bytes ({error.strerror or error})") from error
    except OSError as error:
        raise FetchError(f"{url}: the transfer failed after {received} bytes "
                         f"({error.strerror or error})") from error
    return received


def remove(path):
    """Delete ``path`` if it is still there."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def download_verified(url, destination, sha256, ndim, timeout=60, size=None):
    """Download ``url`` to ``destination`` if its SHA-256 and IDX contents check out.

    ``ndim`` is the number of dimensions the IDX array must have (3 for
    images, 1 for labels); ``size``, when known, the file's size in bytes.
    Nothing is left at ``destination`` or in its directory unless every
    check passed; a file already at ``destination`` is untouched until then.
    """
    destination = Path(destination)
    advice = (f"Check the network and try again, use a mirror ($MINICNN_DATA_URL), or "
              f"copy the file by hand to {destination}")
    try:
        # like open() (0666 less the umask, not mkstemp's 0600), and O_EXCL: never someone else's file
        temporary = str(destination.parent / f".{destination.name}.{os.urandom(8).hex()}.part")
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as error:
        raise FetchError(f"could not download {url}: cannot write into {destination.parent} "
                         f"({error.strerror or error}); set $XDG_CACHE_HOME to a writable "
                         "directory") from error
    try:
        with os.fdopen(handle, "wb") as file:
            receive(url, file, timeout, size)
        found = sha256_of(temporary)
        if found != sha256:
            raise FetchError(
                f"{url}: SHA-256 mismatch: expected {sha256}, found {found}; "
                "the download is corrupt or the mirror serves a different file"
            )
        try:
            array = load_idx(temporary)
        except IDXError as error:
            raise FetchError(f"{url}: not a valid IDX file: {error}") from error
        if array.ndim != ndim:
            raise FetchError(f"{url}: expected a {ndim}-D IDX array, found shape {array.shape}")
        try:
            os.replace(temporary, destination)
        except OSError as error:
            raise FetchError(f"{url}: downloaded and verified, but could not save it as "
                             f"{destination} ({error.strerror or error})") from error
    except FetchError as error:
        remove(temporary)
        raise FetchError(f"could not download {error}. {advice}") from error.__cause__
    except KeyboardInterrupt as interrupt:
        remove(temporary)
        raise FetchInterrupted(f"download of {url} interrupted; the partial file was "
                               f"removed, nothing was saved in {destination.parent}") from interrupt
    except BaseException:
        remove(temporary)
        raise
    return destination


def fetch(name, base_url=None, verbose=True, timeout=60):
    """Download ``name``'s four files into its cache directory; return the directory.

    Files already there with the right SHA-256 are kept. ``base_url``
    (default ``$MINICNN_DATA_URL``, then the official location) is the URL
    of the directory holding the files. Raises ``FetchError`` naming the
    URL and the reason, or ``FetchInterrupted`` on Ctrl-C; either way no
    partial file stays behind.
    """
    sources.check_name(name)
    if base_url:
        setting = "base_url"
    elif os.environ.get("MINICNN_DATA_URL"):
        base_url, setting = os.environ["MINICNN_DATA_URL"], "$MINICNN_DATA_URL"
    else:
        base_url, setting = sources.BASE_URLS[name], "the official location"
    base_url = base_url.replace("{name}", name)
    check_base_url(base_url, setting)
    if not base_url.endswith("/"):
        base_url += "/"
    directory = sources.cache_dir(name)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FetchError(f"cannot create the cache directory {directory} "
                         f"({error.strerror or error}); set $XDG_CACHE_HOME to a writable "
                         "directory") from error
    sizes = sources.SIZES.get(name, {})
    for filename, sha256 in sources.SHA256[name].items():
        destination = directory / filename
        if destination.is_file() and sha256_of(destination) == sha256:
            continue
        ndim = 3 if "images" in filename else 1
        if verbose:
            print(f"minicnn: downloading {base_url}{filename}", file=sys.stderr)
        download_verified(base_url + filename, destination, sha256, ndim, timeout,
                          sizes.get(filename))
    return directory
