// minicnn explore: the page. Everything is computed by the server (minicnn/explore/server.py);
// this script asks for it, draws it and turns clicks into requests. No library, no network
// beyond the explorer itself.
"use strict";

const state = {
  model: null,          // /api/model
  image: null,          // "test:<i>" or "upload:<id>"
  layer: null,          // the selected map: layer index and channel
  channel: null,
  page: 0,              // of the test-image browser
  pageSize: 48,
};

// ----- small helpers ------------------------------------------------------------------------
const $ = (id) => document.getElementById(id);

async function api(path, options) {
  const response = await fetch(path, options);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "className") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function showError(error) {
  const box = $("error");
  box.textContent = error ? String(error.message || error) : "";
  box.hidden = !error;
}

function percent(p) { return (100 * p).toFixed(1) + "%"; }
function round(v) { return Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3); }
function className(index) { return state.model.classes[index] ?? String(index); }

// Viridis, sampled at 9 points and interpolated: dark blue (low) to yellow (high).
const VIRIDIS = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
                 [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]];
function viridis(t) {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x)), f = x - i;
  return VIRIDIS[i].map((c, k) => Math.round(c + f * (VIRIDIS[i + 1][k] - c)));
}
const CLASS_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                       "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

// Draw a 2-D array of numbers on a canvas, one square per value, coloured by colour(value).
function paintArray(canvas, values, colour) {
  const rows = values.length, cols = values[0].length;
  const cell = Math.max(1, Math.floor(Math.min(canvas.width / cols, canvas.height / rows)));
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      context.fillStyle = colour(values[r][c]);
      context.fillRect(c * cell, r * cell, cell, cell);
    }
  }
  return cell;
}

function scaled(low, high) {
  const span = high > low ? high - low : 1;
  return (v) => `rgb(${viridis((v - low) / span).join(",")})`;
}

// A vertical colour bar with the top and bottom values written beside it.
function paintScale(canvas, low, high) {
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  for (let y = 0; y < canvas.height; y++) {
    context.fillStyle = `rgb(${viridis(1 - y / (canvas.height - 1)).join(",")})`;
    context.fillRect(0, y, 12, 1);
  }
  context.fillStyle = "#1d2733";
  context.font = "11px sans-serif";
  context.fillText(round(high), 15, 10);
  context.fillText(round(low), 15, canvas.height - 2);
}

// ----- the model, and the top-9 pass's progress --------------------------------------------
async function loadModel() {
  state.model = await api("/api/model");
  showModelLine();
  const filter = $("class-filter");
  state.model.classes.forEach((name, index) => filter.append(element("option", {value: index, text: `${index}: ${name}`})));
  showTop9Status(state.model.top9);
}

function showModelLine() {
  const model = state.model;
  const accuracy = model.test_accuracy === null ? "" : `, test accuracy ${percent(model.test_accuracy)}`;
  $("model-line").textContent = `${model.model} (epoch ${model.epoch}) on ${model.dataset}: ` +
    `${model.test_images} test images${accuracy}`;
}

// The passes are still working: the top-9 search, or the predictions after it (neither has failed).
function passesRunning(status) {
  return !status.error && (status.state === "building" || status.predictions === "building");
}

function showTop9Status(status) {
  const bar = $("top9-progress");
  const predicting = status.state === "ready" && status.predictions === "building";
  bar.value = status.total ? (predicting ? status.predicted : status.done) / status.total : 0;
  $("top9-text").textContent = status.error ? status.error :
    status.state === "building" ? `top-9 pass: ${status.done} / ${status.total} images` :
    predicting ? `top-9 ready; predictions: ${status.predicted} / ${status.total}` : "top-9 ready";
  $("top9-status").title = status.message || "top-9 of every map over the test set (ZFNet Fig. 2)";
  $("top9-status").classList.toggle("failed", Boolean(status.error));
  if (status.error) showError(new Error(status.error));
}

// While the passes run, ask every second; as each finishes (or fails), show what needed it.
async function pollTop9() {
  const before = state.model.top9;
  const status = await api("/api/status");
  state.model.top9 = status;
  showTop9Status(status);
  if (status.state === "ready" && before.state === "building" && state.layer !== null) {
    await loadTop9(state.layer, state.channel);
  }
  if (status.state === "ready" && status.predicted === status.total && before.predicted < before.total) {
    const model = await api("/api/model");
    state.model.test_accuracy = model.test_accuracy;
    showModelLine();
    await loadThumbnails();
  }
  if (status.error && !before.error) await loadThumbnails();       // the list says why it is empty
  if (passesRunning(status)) setTimeout(() => pollTop9().catch(showError), 1000);
}

// ----- choosing an image --------------------------------------------------------------------
async function loadThumbnails() {
  const parameters = new URLSearchParams({offset: state.page * state.pageSize, limit: state.pageSize});
  if ($("class-filter").value !== "") parameters.set("label", $("class-filter").value);
  if ($("misclassified").checked) parameters.set("which", "misclassified");
  const listing = await api("/api/images?" + parameters);
  const box = $("thumbnails");
  box.replaceChildren();
  if (!listing.ready) { box.append(element("p", {className: "note", text: listing.message})); return; }
  for (const item of listing.items) {
    const wrong = item.predicted !== null && item.predicted !== item.label;
    const title = `test image ${item.index}: ${className(item.label)}` +
      (item.predicted === null ? "" : `, predicted ${className(item.predicted)}`);
    const thumbnail = element("img", {src: item.picture, title, alt: title, "data-image": item.image,
                                      className: "pixelated" + (wrong ? " wrong" : "")});
    thumbnail.addEventListener("click", () => selectImage(item.image));
    box.append(thumbnail);
  }
  const last = Math.min(listing.total, (state.page + 1) * state.pageSize);
  $("page-text").textContent = listing.total ? `${state.page * state.pageSize + 1}–${last} of ${listing.total}` : "none";
  $("previous-page").disabled = state.page === 0;
  $("next-page").disabled = last >= listing.total;
}

// name: how to call the image (default: from its label); note: what was done to an upload.
async function selectImage(image, name = null, note = "") {
  state.image = image;
  $("current-name").textContent = name || image;
  $("current-note").textContent = note;
  for (const img of document.querySelectorAll(".thumbnails img")) {
    img.classList.toggle("chosen", img.dataset.image === image);
  }
  $("occlusion").replaceChildren();
  $("occlusion-text").textContent = "";
  try {
    const [prediction, layers] = await Promise.all([api(`/api/predict?image=${image}`), api(`/api/layers?image=${image}`)]);
    if (state.image !== image) return;               // another image was chosen meanwhile
    if (!name && prediction.label !== null) {
      $("current-name").textContent = `test image ${image.slice(5)}: ${className(prediction.label)}`;
    }
    showPrediction(prediction);
    showLayers(layers.layers);
    if (state.layer !== null) await loadUnit(state.layer, state.channel);
    showError(null);
  } catch (error) { showError(error); }
}

function showPrediction(prediction) {
  $("current-image").src = prediction.picture;
  const box = $("probabilities");
  box.replaceChildren();
  prediction.probabilities.forEach((p, index) => {
    const bar = element("div", {className: "bar"});
    bar.style.width = percent(p);
    const row = element("div", {className: "bar-row", "data-class": index, "data-probability": p},
      element("span", {text: className(index)}), element("div", {}, bar), element("span", {text: percent(p)}));
    row.classList.toggle("predicted", index === prediction.predicted);
    row.classList.toggle("label", index === prediction.label);
    box.append(row);
  });
  box.dataset.predicted = prediction.predicted;
}

// ----- drawing and uploading ------------------------------------------------------------------
function setUpDrawing() {
  const canvas = $("drawing"), context = canvas.getContext("2d");
  const clear = () => { context.fillStyle = "#000"; context.fillRect(0, 0, canvas.width, canvas.height); };
  clear();
  let drawing = false;
  const point = (event) => {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
  };
  canvas.addEventListener("pointerdown", (event) => {
    drawing = true;
    canvas.setPointerCapture(event.pointerId);
    context.strokeStyle = "#fff"; context.lineWidth = 16; context.lineCap = "round"; context.lineJoin = "round";
    context.beginPath();
    context.moveTo(...point(event));
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    context.lineTo(...point(event));
    context.stroke();
  });
  const finish = () => {
    if (!drawing) return;
    drawing = false;
    canvas.toBlob((blob) => sendPicture(blob, false, "your drawing"), "image/png");
  };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);
  $("clear-drawing").addEventListener("click", clear);
}

async function sendPicture(blob, invert, name) {
  try {
    const answer = await api(`/api/upload?invert=${invert ? 1 : 0}`, {method: "POST", body: blob});
    await selectImage(answer.image, name, answer.note);
  } catch (error) { showError(error); }
}

// ----- every layer's maps -------------------------------------------------------------------
function showLayers(layers) {
  const box = $("layers");
  box.replaceChildren();
  for (const layer of layers) {
    const grid = element("img", {src: layer.grid, alt: `maps of layer ${layer.index}`, className: "pixelated",
                                 "data-layer": layer.index});
    const selection = element("div", {className: "selection"});
    selection.hidden = true;
    const gridBox = element("div", {className: "grid-box"}, grid, selection);
    const shape = layer.shape.join("×");
    const title = element("h3", {text: `${layer.index} · ${layer.kind} → ${shape}`, title: layer.text});
    box.append(element("div", {className: "layer", id: `layer-${layer.index}`}, title, gridBox,
                       element("div", {className: "note", text: `${layer.scale}, max ${round(layer.range[1])}`})));
    grid.addEventListener("load", () => {
      layer.zoom = Math.max(1, Math.round(300 / grid.naturalWidth));
      grid.style.width = grid.naturalWidth * layer.zoom + "px";
      if (state.layer === layer.index) markSelection(layer, state.channel);
    }, {once: true});
    grid.addEventListener("click", (event) => {
      const channel = mapAt(layer, event.offsetX / layer.zoom, event.offsetY / layer.zoom);
      if (channel !== null) selectMap(layer.index, channel);
    });
    layer.selection = selection;
  }
  state.layers = layers;
}

// Map k sits at row k / columns, column k % columns, its top-left pixel at gap + (row, column) * (size + gap).
function mapAt(layer, x, y) {
  const [height, width] = layer.cell;
  const column = Math.floor((x - layer.gap) / (width + layer.gap));
  const row = Math.floor((y - layer.gap) / (height + layer.gap));
  const channel = row * layer.columns + column;
  return column >= 0 && column < layer.columns && row >= 0 && channel < layer.maps ? channel : null;
}

function markSelection(layer, channel) {
  const [height, width] = layer.cell, zoom = layer.zoom || 1;
  const row = Math.floor(channel / layer.columns), column = channel % layer.columns;
  Object.assign(layer.selection.style, {
    left: (layer.gap + column * (width + layer.gap)) * zoom - 2 + "px",
    top: (layer.gap + row * (height + layer.gap)) * zoom - 2 + "px",
    width: width * zoom + 4 + "px", height: height * zoom + 4 + "px"});
  layer.selection.hidden = false;
}

async function selectMap(layer, channel, row = null, col = null) {
  state.layer = layer;
  state.channel = channel;
  for (const other of state.layers || []) {
    if (other.index === layer) markSelection(other, channel); else other.selection.hidden = true;
  }
  try {
    await Promise.all([loadUnit(layer, channel, row, col), row === null ? loadTop9(layer, channel) : null]);
    showError(null);
  } catch (error) { showError(error); }
}

// ----- the unit: its map enlarged, its projection, its top-9 --------------------------------
async function loadUnit(layer, channel, row = null, col = null) {
  const parameters = new URLSearchParams({image: state.image, layer, channel});
  if (row !== null) { parameters.set("row", row); parameters.set("col", col); }
  const unit = await api("/api/unit?" + parameters);
  if (unit.image !== state.image || unit.layer !== state.layer || unit.channel !== state.channel) return;
  $("unit").hidden = false;
  const kind = state.model.layers[layer].kind;
  $("unit-title").textContent = `Layer ${layer} (${kind}), map ${channel}`;
  const canvas = $("map-canvas");
  const cell = paintArray(canvas, unit.map, scaled(unit.range[0], unit.range[1]));
  const context = canvas.getContext("2d");
  context.strokeStyle = "#ff4d4d"; context.lineWidth = 2;
  context.strokeRect(unit.col * cell + 1, unit.row * cell + 1, cell - 2, cell - 2);
  canvas.dataset.cell = cell;
  paintScale($("map-scale"), unit.range[0], unit.range[1]);
  $("map-caption").textContent = `${unit.map.length}×${unit.map[0].length}, values ${round(unit.range[0])} .. ` +
    `${round(unit.range[1])}; the red square is the unit projected (click another)`;
  $("projection").src = unit.projection;
  $("projection").dataset.layer = layer;
  $("projection").dataset.channel = channel;
  const [r0, r1, c0, c1] = unit.box, size = 112 / state.model.input_shape[1];
  Object.assign($("projection-box-outline").style, {top: r0 * size + "px", left: c0 * size + "px",
    width: (c1 - c0) * size + "px", height: (r1 - r0) * size + "px"});
  $("projection-caption").textContent = `unit (${unit.row}, ${unit.col}) = ${round(unit.value)}, projected to ` +
    `pixels (grey = 0); red: the pixels it sees. ${unit.note}`;
}

async function loadTop9(layer, channel) {
  const top = await api(`/api/top9?layer=${layer}&channel=${channel}`);
  if (top.layer !== state.layer || top.channel !== state.channel) return;
  const box = $("top9");
  box.replaceChildren();
  if (!top.items) {
    $("top9-message").textContent = top.state === "failed" ? `no top-9: ${top.error}` :
      `the top-9 pass is running (${top.done} of ${top.total} test images); they appear here when it has finished`;
    return;
  }
  $("top9-message").textContent = `strongest first, each unit projected with its own image's switches`;
  for (const item of top.items) {
    const title = `test image ${item.index} (${className(item.label)}), unit (${item.row}, ${item.col}) = ${round(item.value)}`;
    const card = element("div", {className: "top-item", title},
      element("img", {src: item.projection, className: "pixelated", alt: "projection"}),
      element("img", {src: item.patch, className: "pixelated", alt: "patch"}),
      element("div", {text: `#${item.index} · ${round(item.value)}`}));
    card.addEventListener("click", () => selectImage(item.image));
    box.append(card);
  }
}

function setUpMapClicks() {
  $("map-canvas").addEventListener("click", (event) => {
    if (state.layer === null) return;
    const cell = Number($("map-canvas").dataset.cell);
    const row = Math.floor(event.offsetY / cell), col = Math.floor(event.offsetX / cell);
    const shape = state.model.layers[state.layer].shape;
    const [height, width] = shape.length === 3 ? shape.slice(1) : [1, 1];
    if (row < height && col < width) loadUnit(state.layer, state.channel, row, col).catch(showError);
  });
}

// ----- occlusion (a job, polled) ----------------------------------------------------------------
async function runOcclusion() {
  const image = state.image;
  const parameters = new URLSearchParams({image, window: $("occlusion-window").value, stride: $("occlusion-stride").value});
  const progress = $("occlusion-progress");
  try {
    const started = await api("/api/occlusion?" + parameters, {method: "POST"});
    progress.hidden = false;
    progress.removeAttribute("value");               // indeterminate: one call to minicnn.visualize.occlusion
    $("occlusion-text").textContent = `occluding ${started.positions} positions…`;
    let job;
    for (let polls = 0; polls < 1200; polls++) {       // at most ten minutes
      job = await api(`/api/job?id=${started.job}`);
      $("occlusion-text").textContent = job.queued ? `waiting for ${job.ahead} occlusion job(s) before it…` :
        `occluding ${job.total} positions… ${job.seconds.toFixed(1)} s`;
      if (job.state !== "running") break;
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    progress.hidden = true;
    if (job.state === "replaced") return;            // a newer request of this page took its place
    if (job.state !== "done") throw new Error(job.error || "occlusion did not finish");
    if (state.image === image) showOcclusion(job.result, job.seconds);
  } catch (error) { progress.hidden = true; showError(error); }
}

function showOcclusion(result, seconds) {
  const box = $("occlusion");
  box.replaceChildren();
  const figure = (title, canvas, ...extra) => element("figure", {}, canvas, ...extra, element("figcaption", {text: title}));
  const panel = (values, low, high) => {
    const canvas = element("canvas", {width: 168, height: 168});
    paintArray(canvas, values, scaled(low, high));
    const scale = element("canvas", {width: 56, height: 168});
    paintScale(scale, low, high);
    return [canvas, scale];
  };
  const flat = (values) => values.flat();
  const activity = flat(result.activity);
  box.append(figure(`(b) total activity of layer ${result.layer}, map ${result.channel} (strongest map); ` +
                    `unoccluded ${round(result.clean.activity)}`,
                    ...panel(result.activity, Math.min(...activity), Math.max(...activity))));
  const who = result.target_is_label ? "true class" : "predicted class (no label)";
  const prob = flat(result.prob);
  box.append(figure(`(d) probability of the ${who} ${className(result.target)}; unoccluded ` +
                    `${percent(result.clean.prob)}`, ...panel(result.prob, Math.min(...prob), Math.max(...prob))));
  const classes = element("canvas", {width: 168, height: 168});
  paintArray(classes, result.top_class, (c) => CLASS_COLOURS[c % CLASS_COLOURS.length]);
  const present = [...new Set(flat(result.top_class))].sort((a, b) => a - b);
  const legend = element("div", {className: "legend"});
  for (const c of present) {
    const swatch = element("span");
    swatch.style.background = CLASS_COLOURS[c % CLASS_COLOURS.length];
    legend.append(swatch, className(c));
  }
  box.append(figure("(e) most probable class", classes, legend));
  $("occlusion-text").textContent = `${result.window}×${result.window} square, step ${result.stride}: ` +
    `${result.positions} positions in ${seconds.toFixed(2)} s; each square of the maps is one position`;
}

// ----- training history ---------------------------------------------------------------------------
// A small SVG line chart: one polyline per series over the epochs, the title above, the key below.
function lineChart(title, series) {
  const width = 300, height = 190, left = 42, top = 22, bottom = 40, right = 10;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("width", width); svg.setAttribute("height", height);
  svg.setAttribute("aria-label", title);
  const add = (tag, attributes, text) => {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
  };
  const points = series.flatMap((s) => s.values.filter((v) => v !== null));
  const epochs = Math.max(...series.map((s) => s.values.length));
  let low = Math.min(...points), high = Math.max(...points);
  if (high === low) { low -= 0.5; high += 0.5; }
  const x = (e) => left + (epochs === 1 ? 0.5 : e / (epochs - 1)) * (width - left - right);
  const y = (v) => top + (1 - (v - low) / (high - low)) * (height - top - bottom);
  const axisY = height - bottom;
  add("text", {x: left, y: 12}, title);
  add("line", {x1: left, y1: axisY, x2: width - right, y2: axisY, stroke: "#888"});
  add("line", {x1: left, y1: top, x2: left, y2: axisY, stroke: "#888"});
  add("text", {x: left - 4, y: top + 4, "text-anchor": "end"}, round(high));
  add("text", {x: left - 4, y: axisY, "text-anchor": "end"}, round(low));
  add("text", {x: left, y: axisY + 14}, `epoch 1 .. ${epochs}`);
  series.forEach((s, k) => {
    const kept = s.values.map((v, e) => [e, v]).filter(([, v]) => v !== null);
    add("text", {x: left + 90 * k, y: height - 6, fill: s.colour}, `\u25CF ${s.name}`);
    if (!kept.length) return;
    add("polyline", {points: kept.map(([e, v]) => `${x(e)},${y(v)}`).join(" "), fill: "none", stroke: s.colour, "stroke-width": 2});
    for (const [e, v] of kept) add("circle", {cx: x(e), cy: y(v), r: 3, fill: s.colour});
  });
  return svg;
}

async function loadHistory() {
  const history = await api("/api/history");
  const box = $("history");
  box.replaceChildren();
  const column = (key) => history.epochs.map((record) => record[key]);
  if (history.epochs.length) {
    box.append(element("figure", {}, lineChart("loss (cross-entropy)", [
      {name: "train", values: column("train_loss"), colour: "#2e86de"},
      {name: "validation", values: column("val_loss"), colour: "#e67e22"}])));
    box.append(element("figure", {}, lineChart("accuracy", [
      {name: "train", values: column("train_accuracy"), colour: "#2e86de"},
      {name: "validation", values: column("val_accuracy"), colour: "#e67e22"}])));
  } else {
    box.append(element("p", {className: "note", text: "the checkpoint holds no training history"}));
  }
  if (history.filters) {
    const filters = element("img", {src: history.filters.grid, className: "pixelated", alt: "first-layer filters"});
    filters.addEventListener("load", () => { filters.style.width = filters.naturalWidth * Math.max(1, Math.round(240 / filters.naturalWidth)) + "px"; }, {once: true});
    box.append(element("figure", {}, filters, element("figcaption", {
      text: `the ${history.filters.count} first-layer filters, ${history.filters.size.join("×")} (grey = 0)`})));
  }
  const evolution = $("evolution");
  evolution.replaceChildren();
  if (!history.evolution) {
    evolution.append(element("p", {className: "note", text: history.evolution_note}));
    return;
  }
  evolution.append(element("h3", {text: "Feature evolution during training (ZFNet Fig. 4)"}));
  const figures = element("div", {className: "figures"});
  for (const layer of history.evolution) {
    const grid = element("img", {src: layer.grid, className: "pixelated", alt: `evolution of layer ${layer.layer}`});
    grid.addEventListener("load", () => { grid.style.width = grid.naturalWidth * Math.max(1, Math.round(200 / grid.naturalWidth)) + "px"; }, {once: true});
    figures.append(element("figure", {}, grid, element("figcaption", {
      text: `layer ${layer.layer}: maps ${layer.maps.join(", ")} (rows), epochs ${layer.epochs.join(", ")} (columns)`})));
  }
  evolution.append(figures);
}

// ----- start -------------------------------------------------------------------------------------
function setUpTabs() {
  for (const button of document.querySelectorAll(".tabs button")) {
    button.addEventListener("click", () => {
      for (const other of document.querySelectorAll(".tabs button")) other.classList.toggle("active", other === button);
      for (const tab of document.querySelectorAll(".tab")) tab.hidden = tab.id !== `tab-${button.dataset.tab}`;
    });
  }
}

async function start() {
  setUpTabs();
  setUpDrawing();
  setUpMapClicks();
  $("class-filter").addEventListener("change", () => { state.page = 0; loadThumbnails().catch(showError); });
  $("misclassified").addEventListener("change", () => { state.page = 0; loadThumbnails().catch(showError); });
  $("previous-page").addEventListener("click", () => { state.page -= 1; loadThumbnails().catch(showError); });
  $("next-page").addEventListener("click", () => { state.page += 1; loadThumbnails().catch(showError); });
  $("upload-file").addEventListener("change", () => {
    const file = $("upload-file").files[0];
    if (file) sendPicture(file, $("upload-invert").checked, file.name);
  });
  $("occlusion-run").addEventListener("click", runOcclusion);
  try {
    await loadModel();
    await loadThumbnails();
    await selectImage("test:0");
    pollTop9();
    await loadHistory();
  } catch (error) { showError(error); }
}

document.addEventListener("DOMContentLoaded", start);
