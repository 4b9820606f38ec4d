"""``minicnn explore`` in a real browser: headless Chromium, driven by Selenium.

The test starts the explorer on 127.0.0.1 at a free port, loads the page,
clicks a feature map and waits for its deconvnet projection and its
top-9, draws on the canvas and waits for the prediction to change, uploads
a picture, runs occlusion, and saves a screenshot after each step under
tmp_path. Two more are hostile: a page on another site (another port of
127.0.0.1) sends uploads, an occlusion job and clicks to the explorer, all
refused; and a background pass that fails shows as an error on the page.

The browser is Debian's ``chromium`` with ``chromium-driver``, and Selenium
from PyPI; ``bash setup.sh`` installs all three (apt-get as root). Where
any is missing these tests skip and say which; with CI=true (set by .ci/run)
a missing browser is a failure, as a missing oracle is (tests/oracles.py).
"""

import base64
import contextlib
import http.server
import io
import os
import shutil
import threading
from pathlib import Path

import numpy
import pytest
from PIL import Image

from explore_helpers import FASHION, running_server, serving, train_checkpoint, write_digits
from minicnn.explore.session import Explorer

HOW_TO_GET = "as root: apt-get install chromium chromium-driver; and pip install selenium (bash setup.sh does both)"
WAIT = 60          # seconds any one thing may take to appear on the page


def find_browser():
    """(chromium, chromedriver) paths, or a reason why there is no browser to drive."""
    try:
        import selenium  # noqa: F401
    except ImportError as error:
        return None, f"selenium is not installed ({error})"
    chromium = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                     if shutil.which(name)), None)
    driver = shutil.which("chromedriver") or next(
        (path for path in ("/usr/lib/chromium/chromedriver", "/usr/bin/chromedriver") if os.path.exists(path)), None)
    if chromium is None:
        return None, "no chromium (or google-chrome) on PATH"
    if driver is None:
        return None, "no chromedriver (Debian package chromium-driver)"
    return (chromium, driver), None


def require_browser():
    """(chromium, chromedriver); without them skip, saying what is missing, or fail under CI=true."""
    found, reason = find_browser()
    if found is None:
        message = f"the browser tests need headless Chromium: {reason}; {HOW_TO_GET}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {message}", pytrace=False)
        pytest.skip(message)
    return found


def test_a_missing_browser_skips_with_its_reason_and_fails_under_ci(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(os.path, "exists", lambda path: False)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no chromium .*apt-get install chromium chromium-driver"):
        require_browser()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true but the browser tests need headless Chromium"):
        require_browser()


@pytest.fixture()
def browser(tmp_path):
    chromium, driver_path = require_browser()
    from selenium import webdriver
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1600,1250", "--force-device-scale-factor=1", "--no-first-run",
                     "--disable-extensions", "--disable-background-networking", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=webdriver.ChromeService(driver_path), options=options)
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver, condition, what):
    """Wait (at most WAIT seconds) until ``condition(driver)``; elements replaced meanwhile are looked up again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait
    waiting = WebDriverWait(driver, WAIT, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,))
    return waiting.until(condition, message=f"waited {WAIT} s for {what}")


def find(driver, selector):
    from selenium.webdriver.common.by import By
    return driver.find_elements(By.CSS_SELECTOR, selector)


def probabilities(driver):
    """The class probabilities the page shows, unrounded (read in one go: the rows are redrawn often)."""
    return driver.execute_script("return [...document.querySelectorAll('#probabilities .bar-row')]"
                                 ".map((row) => Number(row.dataset.probability))")


def load_page(driver, url, layer_count):
    driver.get(url)
    wait_for(driver, lambda d: len(find(d, "#layers img")) == layer_count, "every layer's grid")
    wait_for(driver, lambda d: all(img.get_attribute("style") for img in find(d, "#layers img")),
             "the grids to be drawn at their size")
    wait_for(driver, lambda d: len(probabilities(d)) == 10, "the class probabilities")
    assert find(driver, "#error")[0].get_attribute("hidden") is not None, find(driver, "#error")[0].text


def click_map(driver, layer, channel):
    """Click the centre of map ``channel`` in the grid of ``layer`` (positions as pictures.grid lays them out)."""
    from selenium.webdriver.common.action_chains import ActionChains
    grid = find(driver, f'#layers img[data-layer="{layer["index"]}"]')[0]
    zoom = grid.size["width"] / driver.execute_script("return arguments[0].naturalWidth", grid)
    height, width = layer["cell"]
    row, column = divmod(channel, layer["columns"])
    x = (1 + column * (width + 1) + width / 2) * zoom
    y = (1 + row * (height + 1) + height / 2) * zoom
    ActionChains(driver).move_to_element_with_offset(grid, x - grid.size["width"] / 2,
                                                     y - grid.size["height"] / 2).click().perform()


def draw_stroke(driver, points):
    """Press, move through ``points`` (pixels from the canvas's top-left) and release."""
    from selenium.webdriver.common.action_chains import ActionChains
    canvas = find(driver, "#drawing")[0]
    half_width, half_height = canvas.size["width"] / 2, canvas.size["height"] / 2
    actions = ActionChains(driver).move_to_element_with_offset(canvas, points[0][0] - half_width,
                                                               points[0][1] - half_height).click_and_hold()
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        actions.move_by_offset(x1 - x0, y1 - y0)
    actions.release().perform()


def screenshot(driver, path):
    driver.save_screenshot(str(path))
    assert Image.open(path).size[0] >= 1200
    return path


def picture(data_url):
    return numpy.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


def explore_in_the_browser(driver, explorer, tmp_path, layer_index, channel, stroke, name):
    """The whole walk through the page; returns the screenshots' paths."""
    shown = [row for row in explorer.table if row["shown"]]
    with running_server(explorer) as url:
        load_page(driver, url, len(shown))
        shots = [screenshot(driver, tmp_path / f"{name}-1-loaded.png")]

        # a click on a map: its projection for this image, then its top-9
        layers = {layer["index"]: layer for layer in explorer.layers("test:0")["layers"]}
        click_map(driver, layers[layer_index], channel)
        wait_for(driver, lambda d: find(d, "#projection")[0].get_attribute("data-channel") == str(channel)
                 and find(d, "#projection")[0].get_attribute("data-layer") == str(layer_index), "the projection")
        expected = explorer.unit("test:0", layer_index, channel)["projection"]
        assert find(driver, "#projection")[0].get_attribute("src") == expected          # this map, this image
        assert f"map {channel}" in find(driver, "#unit-title")[0].text
        wait_for(driver, lambda d: len(find(d, "#top9 .top-item")) == 9, "the top-9")
        first = find(driver, "#top9 .top-item img")[0].get_attribute("src")
        assert first == explorer.top9(layer_index, channel)["items"][0]["projection"]
        assert find(driver, f'#layer-{layer_index} .selection')[0].is_displayed()
        shots.append(screenshot(driver, tmp_path / f"{name}-2-map-clicked.png"))

        # a drawing: the prediction follows it
        before = probabilities(driver)
        find(driver, '.tabs button[data-tab="draw"]')[0].click()
        draw_stroke(driver, stroke)
        wait_for(driver, lambda d: find(d, "#current-name")[0].text == "your drawing", "the drawing to be sent")
        wait_for(driver, lambda d: probabilities(d) != before and len(probabilities(d)) == 10,
                 "the prediction to change")
        assert "resized to 28x28 grey" in find(driver, "#current-note")[0].text
        drawn = picture(find(driver, "#current-image")[0].get_attribute("src"))
        assert drawn.shape == (28, 28) and drawn.max() > 100                 # the stroke arrived
        wait_for(driver, lambda d: find(d, "#projection")[0].get_attribute("src") != expected,
                 "the selected map's projection for the drawing")
        shots.append(screenshot(driver, tmp_path / f"{name}-3-drawn.png"))

        # an upload: a bigger picture, fitted to the input with a visible note
        upload = tmp_path / "upload.png"
        Image.fromarray(numpy.kron(explorer.pixels[5], numpy.ones((4, 6), numpy.uint8))).save(upload)
        find(driver, '.tabs button[data-tab="upload"]')[0].click()
        find(driver, "#upload-file")[0].send_keys(str(upload))
        wait_for(driver, lambda d: "PNG of 168x112 pixels, resized to 28x28" in find(d, "#current-note")[0].text,
                 "the upload's note")

        # occlusion of the current image
        find(driver, "#occlusion-run")[0].click()
        wait_for(driver, lambda d: len(find(d, "#occlusion canvas")) == 5, "the occlusion maps")
        assert "positions in" in find(driver, "#occlusion-text")[0].text
        driver.execute_script("document.getElementById('occlusion-panel').scrollIntoView()")
        shots.append(screenshot(driver, tmp_path / f"{name}-4-occlusion.png"))
        assert find(driver, "#error")[0].get_attribute("hidden") is not None, find(driver, "#error")[0].text
    return shots


def test_zfnet_small_on_fashion_mnist_in_the_browser(browser, tmp_path):
    checkpoint = train_checkpoint(tmp_path / "run", "zfnet_small")
    explorer = Explorer(checkpoint, data_path=FASHION, progress=False).start()
    explorer.top9_pass.thread.join(300)                                      # the top-9 and predictions
    stroke = [(60, 40), (140, 40), (140, 160), (60, 160), (60, 40)]          # a box: a bag, perhaps
    shots = explore_in_the_browser(browser, explorer, tmp_path, layer_index=4, channel=5, stroke=stroke,
                                   name="zfnet-fashion")
    assert all(Path(shot).stat().st_size > 10_000 for shot in shots)


def test_keras_mnist_cnn_on_mnist_digits_in_the_browser(browser, tmp_path):
    digits = write_digits(tmp_path / "mnist")
    checkpoint = train_checkpoint(tmp_path / "run", "keras_mnist_cnn", "mnist", digits, images=600, epochs=4,
                                  batch_size=16)
    explorer = Explorer(checkpoint, data_path=digits, progress=False).start()
    explorer.top9_pass.thread.join(300)
    stroke = [(98, 30), (98, 100), (98, 170)]                                 # a one
    explore_in_the_browser(browser, explorer, tmp_path, layer_index=0, channel=3, stroke=stroke, name="keras-mnist")


# ----- hostile use: another site's page, a failed background pass ---------------------------------------
HOSTILE_PAGE = """<!DOCTYPE html><html><body><script>
const target = "EXPLORER";
const picture = Uint8Array.from(atob("PICTURE"), (c) => c.charCodeAt(0));
window.results = [];
async function attack() {
  for (const [path, options] of [["/api/upload", {method: "POST", mode: "no-cors", body: picture}],
                                 ["/api/occlusion?image=test:0&window=7&stride=7", {method: "POST", mode: "no-cors"}],
                                 ["/api/layers?image=test:0", {mode: "no-cors"}]]) {
    try { await fetch(target + path, options); window.results.push("sent " + path); }
    catch (error) { window.results.push("failed " + path + ": " + error); }
  }
  await new Promise((resolve) => { const img = new Image(); img.onload = img.onerror = resolve;
                                    img.src = target + "/api/predict?image=test:1"; document.body.append(img); });
  window.done = true;
}
attack();
</script></body></html>"""


@contextlib.contextmanager
def hostile_site(page):
    """Another web site on this machine (127.0.0.1, another port) serving ``page``; yields its URL."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = page.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=site.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_port}/"
    finally:
        site.shutdown()
        site.server_close()
        thread.join(10)


def test_a_page_on_another_site_cannot_use_the_explorer(browser, tmp_path):
    """A page the learner visits sends uploads, an occlusion job and clicks to 127.0.0.1: every one
    reaches the explorer (so the test is not vacuous) and is refused with 403, nothing is stored."""
    checkpoint = train_checkpoint(tmp_path / "run", "keras_mnist_cnn")
    explorer = Explorer(checkpoint, data_path=FASHION, progress=False).start()
    explorer.top9_pass.thread.join(300)
    buffer = io.BytesIO()
    Image.fromarray(explorer.pixels[0]).save(buffer, format="PNG")
    with serving(explorer) as server:
        seen, dispatch = [], server.app.dispatch

        def recording(request):
            response = dispatch(request)
            seen.append((request.method, request.path, response.status_code))
            return response
        server.app.dispatch = recording
        page = HOSTILE_PAGE.replace("EXPLORER", f"http://127.0.0.1:{server.server_port}").replace(
            "PICTURE", base64.b64encode(buffer.getvalue()).decode("ascii"))
        with hostile_site(page) as url:
            browser.get(url)
            wait_for(browser, lambda d: d.execute_script("return window.done === true"), "the hostile page's requests")
    paths = {(method, path): status for method, path, status in seen}
    assert paths == {("POST", "/api/upload"): 403, ("POST", "/api/occlusion"): 403, ("GET", "/api/layers"): 403,
                     ("GET", "/api/predict"): 403}, seen
    assert not explorer.uploads and not server.app.jobs.jobs


def test_a_failed_background_pass_shows_as_an_error_on_the_page(browser, tmp_path, monkeypatch):
    """Before: the predictions pass failed, and the page said "predictions: 0 / 1000" for ever."""
    from minicnn.explore import topcache

    def broken(*args, **kwargs):
        raise RuntimeError("the predictions could not be computed")
    monkeypatch.setattr(topcache, "predict", broken)
    checkpoint = train_checkpoint(tmp_path / "run", "keras_mnist_cnn")
    explorer = Explorer(checkpoint, data_path=FASHION, progress=False, cache=False).start()
    explorer.top9_pass.thread.join(300)
    with running_server(explorer) as url:
        browser.get(url)
        message = "the predictions pass failed: RuntimeError: the predictions could not be computed"
        wait_for(browser, lambda d: message in find(d, "#top9-text")[0].text, "the failure in the header")
        assert "failed" in find(browser, "#top9-status")[0].get_attribute("class")
        find(browser, "#misclassified")[0].click()
        wait_for(browser, lambda d: "no predictions: " + message in find(d, "#thumbnails")[0].text,
                 "the reason the misclassified list is empty")
        screenshot(browser, tmp_path / "failed-pass.png")
