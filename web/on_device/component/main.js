// The on-device live player: camera -> OpenCV.js + LiteRT.js pipeline -> overlay on the viewer's own video, and
// batches of results (never pixels) to the server a few times a second (fer_core.sessions.on_device.results).

import { Classifier, Detector, Tracker, analyzeImageData } from "./pipeline.js";
import { SetupError, fetchManifest, loadCascades, loadModel, loadOpenCv } from "./runtimes.js";
import { inStreamlit, onRender, ready, setComponentValue, setFrameHeight } from "./streamlit.js";

const $ = (id) => document.getElementById(id);
const video = $("video"), overlay = $("overlay"), toggle = $("toggle"), statusLine = $("status");
const grab = document.createElement("canvas");
const grabContext = grab.getContext("2d", { willReadFrequently: true });

const state = {
  args: null, manifest: null, cv: null, cascades: null, model: null, litert: null, params: null, paramsKey: "",
  classifier: null, detector: null, tracker: null, camera: null, running: false, busy: false,
  pending: [], seq: 0, streamId: "", framesTotal: 0, skipped: 0, times: [], lastFaces: [], sendTimer: null,
  sent: 0, errors: 0,
};
window.__moodLensStats = {
  ready: false, error: null, framesProcessed: 0, fps: 0, batchesSent: 0, lastFaces: [], detectMs: 0, classifyMs: 0,
};

function setStatus(text, error = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", error);
  if (error) window.__moodLensStats.error = text;
  setFrameHeight();
}

function firstArgs(timeoutMs = 10000) {
  if (!inStreamlit) return Promise.resolve({});
  return new Promise((resolve) => {
    onRender((args) => resolve(args));
    setTimeout(() => resolve({}), timeoutMs);
  });
}

function usePipeline(params) {
  const key = JSON.stringify(params);
  if (key === state.paramsKey) return;
  if (params.version !== 1) throw new SetupError(`Unknown pipeline parameters version ${params.version}.`);
  state.params = params;
  state.paramsKey = key;
  state.detector = new Detector(state.cv, params, state.cascades);
  state.tracker = new Tracker(state.cv, state.detector, params);
  state.classifier = new Classifier(state.cv, state.litert, state.model, params);
}

async function setup() {
  ready();
  onRender((args) => {
    state.args = args;
    try {
      if (state.cascades && args.params) usePipeline(args.params); // e.g. the sensitivity changed
    } catch (error) {
      setStatus(error.message || String(error), true);
    }
  });
  state.args = await firstArgs();
  state.manifest = await fetchManifest();
  setStatus("Loading OpenCV.js and LiteRT.js (in this browser)…");
  ({ cv: state.cv } = await loadOpenCv(state.manifest));
  const params = state.args.params || state.manifest.params;
  const names = [params.detector.cascade, params.detector.verify_cascade].filter(Boolean);
  state.cascades = await loadCascades(state.cv, state.manifest, names);
  const { litert, compiled } = await loadModel(state.manifest, state.args.model_sha256);
  [state.litert, state.model] = [litert, compiled];
  usePipeline(params);
  toggle.disabled = false;
  toggle.onclick = () => (state.running ? stop() : start());
  window.__moodLensStats.ready = true;
  setStatus("Ready: press Start and allow the camera. The video is analysed in this browser only.");
}

function constraints() {
  return state.args.constraints || { video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 15, max: 15 } }, audio: false };
}

async function start() {
  toggle.disabled = true;
  try {
    state.camera = await navigator.mediaDevices.getUserMedia(constraints());
  } catch (error) {
    toggle.disabled = false;
    setStatus(`The camera could not be opened: ${error.message || error}`, true);
    return;
  }
  video.srcObject = state.camera;
  await video.play();
  $("stage").hidden = false;
  state.tracker.reset();
  state.streamId = Math.random().toString(36).slice(2, 12);
  [state.seq, state.pending, state.times, state.skipped, state.lastPresented] = [0, [], [], 0, undefined];
  state.running = true;
  toggle.textContent = "Stop";
  toggle.disabled = false;
  setStatus("Analysing in this browser…");
  state.sendTimer = setInterval(flush, state.args.send_every_ms || 250);
  schedule();
}

function stop() {
  state.running = false;
  clearInterval(state.sendTimer);
  if (state.camera) for (const track of state.camera.getTracks()) track.stop();
  state.camera = null;
  video.srcObject = null;
  $("stage").hidden = true;
  overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
  flush(true);
  toggle.textContent = "Start";
  setStatus("Stopped. Press Start to analyse again.");
}

function schedule() {
  if (!state.running) return;
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback((_, metadata) => step(metadata));
  else requestAnimationFrame(() => step());
}

// Camera frames shown while the previous one was still being analysed are not analysed: count them as skipped
// (the server mode's "skipped" readout), from the video's own count of presented frames.
function countSkipped(metadata) {
  const presented = metadata ? metadata.presentedFrames : undefined;
  if (presented === undefined) return;
  if (state.lastPresented !== undefined && presented > state.lastPresented + 1) {
    state.skipped += presented - state.lastPresented - 1;
  }
  state.lastPresented = presented;
}

async function step(metadata) {
  if (!state.running) return;
  if (video.readyState < 2 || !video.videoWidth) {
    schedule();
    return;
  }
  countSkipped(metadata);
  state.busy = true;
  try {
    await processFrame();
  } catch (error) {
    state.errors += 1;
    console.error("on-device frame failed", error);
  } finally {
    state.busy = false;
    schedule();
  }
}

async function processFrame() {
  const width = video.videoWidth, height = video.videoHeight;
  if (grab.width !== width || grab.height !== height) [grab.width, grab.height] = [width, height];
  const started = performance.now();
  grabContext.drawImage(video, 0, 0, width, height);
  const image = grabContext.getImageData(0, 0, width, height);
  const result = await analyzeImageData(state.cv, image, state.tracker, state.classifier);
  draw(result.faces, width, height);
  const finished = performance.now();
  state.framesTotal += 1;
  state.times.push(finished);
  if (state.times.length > 30) state.times.shift();
  state.lastFaces = result.faces;
  state.pending.push({
    t: round(started, 1), w: width, h: height, total_ms: round(finished - started, 2),
    detect_ms: round(result.detect_ms, 2), classify_ms: round(result.classify_ms, 2),
    faces: result.faces.map((f) => ({ box: f.box, p: f.p.map((v) => round(v, 6)) })),
  });
  if (state.pending.length > 120) state.pending.shift(); // the server stopped listening: keep only the newest
  Object.assign(window.__moodLensStats, {
    framesProcessed: state.framesTotal, fps: fps(), lastFaces: result.faces,
    detectMs: mean(window.__moodLensStats.detectMs, result.detect_ms),
    classifyMs: mean(window.__moodLensStats.classifyMs, result.classify_ms),
  });
}

function mean(previous, value, weight = 0.1) {
  // an exponential moving mean of a per-frame timing, for the readouts and the tests
  return previous ? previous + weight * (value - previous) : value;
}

function round(value, digits) {
  const k = 10 ** digits;
  return Math.round(value * k) / k;
}

function fps() {
  const t = state.times;
  return t.length < 2 ? 0 : ((t.length - 1) * 1000) / (t[t.length - 1] - t[0]);
}

function draw(faces, width, height) {
  if (overlay.width !== width || overlay.height !== height) [overlay.width, overlay.height] = [width, height];
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, width, height);
  const scale = Math.max(0.4, Math.min(width, height) / 600);
  ctx.lineWidth = Math.max(1, Math.round(2 * scale));
  ctx.font = `${Math.round(18 * scale)}px sans-serif`;
  const emotions = state.params.emotions, colors = state.params.colors;
  for (const face of faces) {
    const top = face.p.indexOf(Math.max(...face.p));
    const [x, y, w, h] = face.box;
    const [r, g, b] = colors[emotions[top]];
    ctx.strokeStyle = ctx.fillStyle = `rgb(${r}, ${g}, ${b})`;
    ctx.strokeRect(x, y, w, h);
    const label = `${emotions[top]} ${Math.round(face.p[top] * 100)}%`;
    const textHeight = Math.round(22 * scale);
    ctx.fillRect(x, Math.max(0, y - textHeight), ctx.measureText(label).width + 8, textHeight);
    ctx.fillStyle = "#000";
    ctx.fillText(label, x + 4, Math.max(textHeight, y) - 5);
  }
}

function flush(ended = false) {
  if (!state.streamId || (!state.pending.length && !ended)) return;
  const frames = state.pending;
  state.pending = [];
  state.seq += 1;
  setComponentValue({
    stream_id: state.streamId, seq: state.seq, sent_ms: round(performance.now(), 1), frames,
    frames_total: state.framesTotal, fps: round(fps(), 2), skipped: state.skipped, errors: state.errors, ended,
  });
  state.sent += 1;
  window.__moodLensStats.batchesSent = state.sent;
}

// Test hooks (tests/browser/test_on_device_browser.py), only when the component is opened on its own with
// ?testhooks (never inside the app): one RGBA frame (base64) through the pipeline, with the stream's tracker
// (track: true) or a full detection (false); the same code path as the camera's frames.
if (new URLSearchParams(window.location.search).has("testhooks")) {
  window.__moodLensAnalyze = async (base64, width, height, { track = false } = {}) => {
    const bytes = Uint8ClampedArray.from(atob(base64), (c) => c.charCodeAt(0));
    const image = new ImageData(bytes, width, height);
    return analyzeImageData(state.cv, image, track ? state.tracker : state.detector, state.classifier);
  };
  window.__moodLensResetTracker = () => state.tracker.reset();
}

setup().catch((error) => {
  const message = error instanceof SetupError ? error.message : `On-device mode failed to start: ${error}`;
  console.error(error);
  setStatus(message, true);
});
new ResizeObserver(() => setFrameHeight()).observe(document.body); // the video's size arrives late
// Closing the tab: best effort to tell the server the stream ended (otherwise its mood goes with the session).
window.addEventListener("pagehide", () => state.running && stop());
