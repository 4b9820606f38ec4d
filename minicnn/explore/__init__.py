"""``minicnn explore CKPT``: a live deconvnet toolbox for a trained model, in the browser.

    from minicnn.explore.session import Explorer
    from minicnn.explore.server import serve
    serve(Explorer("runs/zfnet/checkpoint.npz").start(), port=8000)    # then open the URL it prints

What the page does (in the spirit of Yosinski et al.'s Deep Visualization
Toolbox, 2015, for any checkpoint minicnn trained):

- an image: any test image (by class, or the misclassified ones), a drawing
  on a canvas, or an uploaded PNG/JPEG fitted to the model's input; the class
  probabilities follow it at once;
- every layer's feature maps for that image, as grids; a click enlarges a
  map with a colour scale;
- the clicked map explained: its deconvnet projection for this image
  (ZFNet 2.1) and its top-9 activations over the whole test set, each
  projected beside the patch the unit saw (ZFNet Fig. 2), found once by a
  streaming pass and cached beside the checkpoint;
- occlusion on demand (ZFNet Fig. 7), and the training history: curves,
  first-layer filters and, if ``minicnn train --snapshots`` recorded it,
  the feature evolution (Fig. 4).

One idea per module:

    session.py    Explorer: what each request computes (no HTTP), with minicnn.visualize
    topcache.py   the streaming top-9 pass over the test set and its file
    snapshots.py  SaveSnapshots: Fig. 4 snapshots written during training
    pictures.py   arrays to PNG pictures; uploads decoded (Pillow, size-limited by the model's input)
    jobs.py       occlusion runs as a queued job the page polls, one waiting per client
    priority.py   the model's lock: clicks first, background work in slices
    npzfile.py    .npz files beside the checkpoint read as untrusted input, headers checked first
    server.py     the HTTP API on Werkzeug, parameters and origins checked, errors as JSON
    static/       index.html, app.js, app.css: the page, no outside resources

Werkzeug and Pillow are the extra ``explore`` (``pip install minicnn[explore]``):
session.py, server.py and pictures.py need them. This package itself imports
only snapshots.py, so that ``minicnn train --snapshots`` works without them.
"""

from .snapshots import SaveSnapshots, load_snapshots, save_snapshots

__all__ = ["SaveSnapshots", "load_snapshots", "save_snapshots"]
