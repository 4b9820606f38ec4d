"""The explorer's web server: a small WSGI application on Werkzeug.

    GET  /                the page (static/index.html; its script and style from /static/)
    GET  /api/model       model, data set, layers, classes, state of the top-9 pass
    GET  /api/status      progress of the top-9 pass (the page polls it)
    GET  /api/images      which=all|misclassified, label=K, offset, limit: test images with thumbnails
    POST /api/upload      body: a PNG or JPEG file; invert=0|1 -> {"image": "upload:<id>", "note"}
    GET  /api/predict     image: class probabilities
    GET  /api/layers      image: every layer's maps as grids
    GET  /api/unit        image, layer, channel[, row, col]: the map and a unit's deconvnet projection
    GET  /api/top9        layer, channel: the map's top-9 over the test set, projected, with patches
    POST /api/occlusion   image, window, stride[, layer]: queues Fig. 7 -> {"job": id} (jobs.py)
    GET  /api/job         id: a job's place in the queue or progress, then its result
    GET  /api/history     training curves, first-layer filters, feature evolution

An image is ``test:<index>`` or ``upload:<id>``. Every answer is JSON (the
page and its two files aside). Every parameter is checked: an unknown,
repeated, missing or malformed one, or a value out of range, is answered
with status 400 (404 for a thing that does not exist) and
``{"error": "<what to change>"}``, as is a request refused by the limits
below (403 cross-site, 413 too large, 429 too many jobs, 503 too many
uploads at once; the last two with Retry-After); never with a traceback,
which goes to the terminal (status 500, "internal error"). Nothing from a request
reaches a file path or a shell: the page's files are read once at start
from the package, uploads live in memory, the cache path is the
checkpoint's.

Safe by default, for one user on one machine. What it defends against:

- other machines: it listens on 127.0.0.1 (``--host`` to change it; a
  warning says when that reaches other machines);
- DNS rebinding: a request whose Host header names another host is
  refused (400), so a page elsewhere whose name resolves to 127.0.0.1
  still cannot use it;
- cross-site requests: any page the learner visits can send requests to
  127.0.0.1. Every /api/ request and every POST whose ``Origin`` (or,
  without one, ``Referer``) is not the explorer's own origin is refused
  with 403, naming the origin received and the one expected (``own_origins``:
  http:// + a host name the Host check accepts + the port it listens on).
  Browsers send Origin with every cross-site POST and fetch; a request
  with neither header comes from a program (curl, a test, the benchmark)
  and is served, unless the browser's ``Sec-Fetch-Site`` says it is
  cross-site (an <img> pointed at the API by another page);
- large bodies: an upload is read up to MAX_UPLOAD + 1 bytes, whether or
  not Content-Length says how long it is (a chunked upload is not cut
  short and used, it is refused), and refused with 413 naming the limit;
- many uploads at once: at most BODIES_AT_ONCE are received at a time
  (each waits up to BODY_WAIT seconds for its turn, then 503 with
  Retry-After), and the Explorer decodes at most DECODES_AT_ONCE at a time,
  each at most pictures.decode_limit pixels a side, refused from its header;
- a queue of slow work: occlusion jobs (jobs.py) run one at a time, one
  waiting per client (a new one replaces it), at most jobs.WAITING in all
  (then 429 with Retry-After), and clicks go before them (priority.py);
- files beside the checkpoint: read as untrusted input (session.py).

What it does not do: it has no authentication and no TLS. Anyone who can
reach its port can use the model and upload pictures; it is not meant to
be reachable beyond 127.0.0.1. Responses forbid other origins' scripts
(Content-Security-Policy) and the browser's reading of them across sites
(no CORS headers are ever sent).

Why Werkzeug: it is the Pallets project's maintained WSGI toolkit (Flask is
built on it), it parses HTTP, query strings and bodies (with a size limit)
and routes URLs, its test Client calls the application without a socket,
and its threaded server is enough for one user on one machine. Flask would
add templates and global request objects the explorer does not need; the
standard library's http.server leaves parsing and size limits to us.
"""

import errno
import importlib.resources
import ipaddress
import json
import re
import socket
import sys
import threading
import traceback
import webbrowser
from urllib.parse import urlsplit

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from .jobs import Jobs
from .session import RequestError

MAX_UPLOAD = 4 * 1024 * 1024        # bytes of one upload (a photo is a few MB; the model sees 28x28)
BODIES_AT_ONCE = 8                  # uploads received at the same time: at most 8 x 4 MiB held
BODY_WAIT = 2.0                     # seconds an upload waits for its turn to be received, then 503
STATIC = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "app.css": "text/css; charset=utf-8"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                               "script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class ExploreRequest(Request):
    # one byte more than an upload may have: read_body reads it to tell "too large" from "just fits"
    max_content_length = MAX_UPLOAD + 1


class ListenError(Exception):
    """The server cannot listen where it was asked to; the message names the flag (--host, --port) and value."""


# ----- reading parameters --------------------------------------------------------------------
def parameters(request, allowed, required=()):
    """The query parameters as {name: text}; RequestError for unknown, repeated or missing ones."""
    given = {}
    for name in request.args:
        if name not in allowed:
            takes = ", ".join(allowed) if allowed else "no parameters"
            raise RequestError(f"unknown parameter {name[:40]!r}; {request.path} takes {takes}")
        values = request.args.getlist(name)
        if len(values) > 1:
            raise RequestError(f"{name}: given {len(values)} times; give it once")
        given[name] = values[0]
    for name in required:
        if name not in given:
            raise RequestError(f"{name}: missing; {request.path} needs {', '.join(required)}")
    return given


def integer(given, name, low, high, default=None):
    """``given[name]`` as an int in [low, high]; ``default`` when absent."""
    if name not in given:
        return default
    text = given[name]
    if not re.fullmatch(r"-?[0-9]{1,9}", text):
        raise RequestError(f"{name}: {text[:40]!r} is not a whole number")
    value = int(text)
    if not low <= value <= high:
        raise RequestError(f"{name}: {value} is out of range; give {low}..{high}")
    return value


def choice(given, name, choices, default):
    value = given.get(name, default)
    if value not in choices:
        raise RequestError(f"{name}: {value[:40]!r} is not one of {', '.join(choices)}")
    return value


def json_response(data, status=200):
    return Response(json.dumps(data, allow_nan=False), status=status, mimetype="application/json",
                    headers=SECURITY_HEADERS)


def json_error(message, status, retry_after=None):
    response = json_response({"error": message}, status)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def read_body(request, limit=MAX_UPLOAD):
    """The request's body, at most ``limit`` bytes; RequestError 413 if it is longer.

    Never more than limit + 1 bytes are read, whether the length is given
    (Content-Length, checked first) or not (a chunked upload): a body cut
    at the limit and used as if whole would be worse than a refusal.
    """
    too_large = f"upload: larger than the explorer takes ({limit:,} bytes, {limit / 2 ** 20:g} MiB)"
    if request.content_length is not None and request.content_length > limit:
        raise RequestError(f"{too_large}: Content-Length says {request.content_length:,} bytes", status=413)
    stream, parts, size = request.stream, [], 0
    while size <= limit:
        block = stream.read(min(1 << 16, limit + 1 - size))
        if not block:
            break
        parts.append(block)
        size += len(block)
    if size > limit:
        raise RequestError(f"{too_large}: more than that was sent", status=413)
    return b"".join(parts)


# ----- where a request comes from ----------------------------------------------------------------
def origin_text(host, port):
    """``http://host:port`` as a browser writes an origin (IPv6 in brackets, no :80)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}" if port == 80 else f"http://{shown}:{port}"


def own_origins(request, hosts, port):
    """The origins the explorer's own page has: each host name the Host check accepts at the port it
    listens on, and the origin the request's own Host header names (the page's, as the browser sees it)."""
    origins = {f"http://{request.host}"}
    if hosts is not None and port is not None:
        origins |= {origin_text(host, port) for host in hosts}
    return origins


def cross_site_problem(request, expected):
    """Why a request is not from the explorer's own page, or None if it may be.

    Origin decides; without it, Referer (its scheme, host and port); without
    either, the request came from a program, not a page, and is served, unless
    Sec-Fetch-Site (sent by browsers) says another site sent it.
    """
    listed = " or ".join(sorted(expected))
    origin = request.headers.get("Origin")
    if origin is not None:
        if origin in expected:
            return None
        return f"Origin {origin[:100]!r} is not the explorer's own ({listed})"
    referer = request.headers.get("Referer")
    if referer is not None:
        try:
            parts = urlsplit(referer)
            source = f"{parts.scheme}://{parts.netloc}"
        except ValueError:
            source = None
        if source in expected:
            return None
        return f"no Origin, and Referer {referer[:100]!r} is not from the explorer's own origin ({listed})"
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return f"no Origin or Referer, and Sec-Fetch-Site says {site[:40]!r}; the explorer's own origin is {listed}"
    return None


# ----- the application ------------------------------------------------------------------------
class ExploreApp:
    """The WSGI application around one Explorer (minicnn/explore/session.py).

    hosts: the host names the Host header may carry (None: any, for a
    server that listens on every interface); port: the port the server
    listens on (make_explore_server sets it), for the own origins.
    """

    def __init__(self, explorer, hosts=("127.0.0.1", "localhost"), port=None):
        self.explorer = explorer
        self.hosts = None if hosts is None else list(hosts)
        self.port = port
        self.jobs = Jobs()
        self.bodies = threading.BoundedSemaphore(BODIES_AT_ONCE)
        folder = importlib.resources.files("minicnn.explore") / "static"
        self.static = {name: (folder / name).read_bytes() for name in STATIC}
        get, post = ["GET"], ["POST"]
        self.urls = Map([
            Rule("/", endpoint=self.page, methods=get),
            Rule("/static/<name>", endpoint=self.static_file, methods=get),
            Rule("/api/model", endpoint=self.model, methods=get),
            Rule("/api/status", endpoint=self.status, methods=get),
            Rule("/api/images", endpoint=self.images, methods=get),
            Rule("/api/upload", endpoint=self.upload, methods=post),
            Rule("/api/predict", endpoint=self.predict, methods=get),
            Rule("/api/layers", endpoint=self.layers, methods=get),
            Rule("/api/unit", endpoint=self.unit, methods=get),
            Rule("/api/top9", endpoint=self.top9, methods=get),
            Rule("/api/occlusion", endpoint=self.occlusion, methods=post),
            Rule("/api/job", endpoint=self.job, methods=get),
            Rule("/api/history", endpoint=self.history, methods=get),
        ], strict_slashes=False)

    def __call__(self, environ, start_response):
        request = ExploreRequest(environ)
        request.trusted_hosts = self.hosts
        return self.dispatch(request)(environ, start_response)

    def dispatch(self, request):
        try:
            request.host                                   # refuses a Host header not in self.hosts
            if request.path.startswith("/api/") or request.method not in ("GET", "HEAD"):
                problem = cross_site_problem(request, own_origins(request, self.hosts, self.port))
                if problem is not None:
                    raise RequestError(f"cross-site request refused: {problem}; only the explorer's own page "
                                       "may use its API", status=403)
            handler, arguments = self.urls.bind_to_environ(request.environ).match()
            return handler(request, **arguments)
        except RequestError as error:
            return json_error(str(error), error.status, getattr(error, "retry_after", None))
        except HTTPException as error:                     # 404, 405, 413, a refused host (400)
            return json_error(f"{error.name}: {error.description}", error.code)
        except Exception:
            traceback.print_exc()
            return json_error("internal error; the explorer's terminal shows what went wrong", 500)

    # ----- the page ----------------------------------------------------------------------------
    def page(self, request):
        parameters(request, ())
        return Response(self.static["index.html"], mimetype="text/html", headers=SECURITY_HEADERS)

    def static_file(self, request, name):
        parameters(request, ())
        if name not in self.static or name == "index.html":
            raise RequestError(f"no file {name[:40]!r}; the page's files are app.js and app.css", status=404)
        return Response(self.static[name], content_type=STATIC[name], headers=SECURITY_HEADERS)

    # ----- the API -----------------------------------------------------------------------------
    def model(self, request):
        parameters(request, ())
        return json_response(self.explorer.summary())

    def status(self, request):
        parameters(request, ())
        return json_response(self.explorer.top9_pass.status())

    def images(self, request):
        given = parameters(request, ("which", "label", "offset", "limit"))
        explorer = self.explorer
        return json_response(explorer.images(
            which=choice(given, "which", ("all", "misclassified"), "all"),
            label=integer(given, "label", 0, len(explorer.classes) - 1),
            offset=integer(given, "offset", 0, len(explorer.labels), 0),
            limit=integer(given, "limit", 1, 200, 48)))

    def upload(self, request):
        given = parameters(request, ("invert",))
        invert = integer(given, "invert", 0, 1, 0)
        if not self.bodies.acquire(timeout=BODY_WAIT):
            raise RequestError(f"upload: {BODIES_AT_ONCE} uploads are being received already (at most "
                               f"{BODIES_AT_ONCE} at once); try again in a moment", status=503, retry_after=1)
        try:
            return json_response(self.explorer.upload(read_body(request), invert=bool(invert)))
        finally:
            self.bodies.release()

    def predict(self, request):
        given = parameters(request, ("image",), required=("image",))
        return json_response(self.explorer.predict(given["image"]))

    def layers(self, request):
        given = parameters(request, ("image",), required=("image",))
        return json_response(self.explorer.layers(given["image"]))

    def unit(self, request):
        given = parameters(request, ("image", "layer", "channel", "row", "col"),
                           required=("image", "layer", "channel"))
        count = len(self.explorer.model)
        return json_response(self.explorer.unit(
            given["image"], integer(given, "layer", 0, count - 1), integer(given, "channel", 0, 10 ** 6),
            integer(given, "row", 0, 10 ** 6), integer(given, "col", 0, 10 ** 6)))

    def top9(self, request):
        given = parameters(request, ("layer", "channel"), required=("layer", "channel"))
        return json_response(self.explorer.top9(
            integer(given, "layer", 0, len(self.explorer.model) - 1), integer(given, "channel", 0, 10 ** 6)))

    def occlusion(self, request):
        given = parameters(request, ("image", "window", "stride", "layer"), required=("image",))
        explorer = self.explorer
        image = given["image"]
        side = min(explorer.input_shape[1:])             # the square fits the picture: 1..side pixels
        window = integer(given, "window", 1, side, default=max(1, side // 4))
        stride = integer(given, "stride", 1, side, default=max(1, window // 2))
        layer = integer(given, "layer", 0, len(explorer.model) - 1)
        positions = explorer.check_occlusion(image, window, stride, layer)
        job = self.jobs.start(lambda: explorer.occlusion(image, window, stride, layer), positions, "occlusion",
                              client=request.remote_addr or "")
        return json_response({"job": job, "positions": positions, "window": window, "stride": stride})

    def job(self, request):
        given = parameters(request, ("id",), required=("id",))
        if not re.fullmatch(r"[0-9a-f]{16}", given["id"]):
            raise RequestError(f"id: {given['id'][:40]!r} is not a job id (16 hex digits)")
        status = self.jobs.status(given["id"])
        if status is None:
            raise RequestError(f"id: no job {given['id']} (the server keeps the last few)", status=404)
        return json_response(status)

    def history(self, request):
        parameters(request, ())
        return json_response(self.explorer.history())


# ----- serving ---------------------------------------------------------------------------------
class QuietHandler(WSGIRequestHandler):
    """Werkzeug's request handler without a log line per request (errors are still printed)."""

    def log_request(self, code="-", size="-"):
        pass


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(host):
    """The Host header values to accept for a server bound to ``host`` (None: any)."""
    if host in ("0.0.0.0", "::", ""):
        return None
    return sorted({"127.0.0.1", "localhost", host.strip("[]")})


def listen_problem(host, port, error):
    """A sentence naming the flag (--host or --port) and its value, for an OSError from bind or listen."""
    reason = error.strerror or str(error)
    if isinstance(error, socket.gaierror) or error.errno == errno.EADDRNOTAVAIL:
        return (f"--host {host}: cannot listen there ({reason}); give a name or address of this machine, "
                "such as 127.0.0.1 (the default)")
    if error.errno == errno.EADDRINUSE:
        return (f"--port {port}: {host}:{port} is in use by another program; stop it, or choose another port "
                "(--port 0 picks a free one)")
    if error.errno == errno.EACCES:
        return f"--port {port}: not allowed to listen on it ({reason}); ports below 1024 need root, choose another"
    return f"--host {host} --port {port}: cannot listen there ({reason})"


class ExploreServer(ThreadedWSGIServer):
    """Werkzeug's threaded server, whose failure to bind or listen is a ListenError naming the flag.

    (Werkzeug's own prints the operating system's words, such as "Name or
    service not known", and exits the process.)
    """

    def server_bind(self):
        try:
            super().server_bind()
        except OSError as error:
            raise ListenError(listen_problem(self.host, self.port, error)) from None

    def server_activate(self):
        try:
            super().server_activate()
        except OSError as error:
            raise ListenError(listen_problem(self.host, self.port, error)) from None

    def server_close(self):
        """Close the socket and drop the occlusion jobs still waiting (the one computing ends on its own)."""
        super().server_close()
        if isinstance(self.app, ExploreApp):
            self.app.jobs.close()


def make_explore_server(explorer, host="127.0.0.1", port=0):
    """A threaded Werkzeug server for ``explorer`` bound to host:port (0: a free port).

    Returns the server; ``server.server_port`` is the port, ``serve_forever()`` runs it.
    Raises ListenError (naming --host or --port) where it cannot listen.
    """
    app = ExploreApp(explorer, allowed_hosts(host))
    server = ExploreServer(host, port, app, QuietHandler)
    app.port = server.server_port
    return server


def serve(explorer, host="127.0.0.1", port=8000, open_browser=False, file=None):
    """Serve until Ctrl-C; prints the URL first (and opens it with ``open_browser``).

    Where it cannot listen (a --host that is no address of this machine, a
    --port in use), prints one line naming the flag and its value on stderr
    and exits with status 2, as minicnn's other usage errors do.
    """
    file = file or sys.stdout
    try:
        server = make_explore_server(explorer, host, port)
    except ListenError as error:
        print(f"minicnn explore: {error}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{server.server_port}/"
    try:
        if not is_loopback(host):
            print(f"minicnn explore: listening on {host}, reachable from other machines; anyone who can "
                  "reach it can use the model and upload pictures", file=file)
        print(f"minicnn explore: {explorer.name} on {explorer.dataset} at {url}  (Ctrl-C to stop)", file=file,
              flush=True)
        if open_browser:
            webbrowser.open(url)
        server.serve_forever()                   # Werkzeug's returns at Ctrl-C
    except KeyboardInterrupt:                    # Ctrl-C before it began to serve
        pass
    finally:
        server.server_close()
    print("minicnn explore: stopped", file=file)
