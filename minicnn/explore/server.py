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
    POST /api/occlusion   image, window, stride[, layer]: starts Fig. 7 -> {"job": id}
    GET  /api/job         id: a job's progress, then its result
    GET  /api/history     training curves, first-layer filters, feature evolution

An image is ``test:<index>`` or ``upload:<id>``. Every answer is JSON (the
page and its two files aside). Every parameter is checked: an unknown,
repeated, missing or malformed one, or a value out of range, is answered
with status 400 (404 for a thing that does not exist) and
``{"error": "<what to change>"}``; never with a traceback, which goes to
the terminal (status 500, "internal error"). Nothing from a request
reaches a file path or a shell: the page's files are read once at start
from the package, uploads live in memory, the cache path is the
checkpoint's.

Safe by default: the server listens on 127.0.0.1; a request whose Host
header names another host is refused (a web page elsewhere cannot reach
the explorer through DNS rebinding); an upload larger than MAX_UPLOAD bytes
is refused before it is read (413); responses forbid other origins'
scripts (Content-Security-Policy).

Why Werkzeug: it is the Pallets project's maintained WSGI toolkit (Flask is
built on it), it parses HTTP, query strings and bodies (with a size limit)
and routes URLs, its test Client calls the application without a socket,
and its threaded server is enough for one user on one machine. Flask would
add templates and global request objects the explorer does not need; the
standard library's http.server leaves parsing and size limits to us.
"""

import importlib.resources
import ipaddress
import json
import re
import sys
import traceback
import webbrowser

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from .jobs import Jobs
from .session import RequestError

MAX_UPLOAD = 4 * 1024 * 1024        # bytes of one upload
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
    max_content_length = MAX_UPLOAD


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


def json_error(message, status):
    return json_response({"error": message}, status)


# ----- the application ------------------------------------------------------------------------
class ExploreApp:
    """The WSGI application around one Explorer (minicnn/explore/session.py).

    hosts: the host names the Host header may carry (None: any, for a
    server that listens on every interface).
    """

    def __init__(self, explorer, hosts=("127.0.0.1", "localhost")):
        self.explorer = explorer
        self.hosts = None if hosts is None else list(hosts)
        self.jobs = Jobs()
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
            handler, arguments = self.urls.bind_to_environ(request.environ).match()
            return handler(request, **arguments)
        except RequestError as error:
            return json_error(str(error), error.status)
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
        return json_response(self.explorer.upload(request.get_data(cache=False), invert=bool(invert)))

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
        window = integer(given, "window", 1, 10 ** 4, default=max(1, min(explorer.input_shape[1:]) // 4))
        stride = integer(given, "stride", 1, 10 ** 4, default=max(1, window // 2))
        layer = integer(given, "layer", 0, len(explorer.model) - 1)
        positions = explorer.check_occlusion(image, window, stride, layer)
        job = self.jobs.start(lambda: explorer.occlusion(image, window, stride, layer), positions, "occlusion")
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


def make_explore_server(explorer, host="127.0.0.1", port=0):
    """A threaded Werkzeug server for ``explorer`` bound to host:port (0: a free port).

    Returns the server; ``server.server_port`` is the port, ``serve_forever()`` runs it.
    """
    app = ExploreApp(explorer, allowed_hosts(host))
    return make_server(host, port, app, threaded=True, request_handler=QuietHandler)


def serve(explorer, host="127.0.0.1", port=8000, open_browser=False, file=None):
    """Serve until Ctrl-C; prints the URL first (and opens it with ``open_browser``)."""
    file = file or sys.stdout
    server = make_explore_server(explorer, host, port)
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
