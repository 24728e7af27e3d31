// Load the vendored runtimes (OpenCV.js, LiteRT.js), the cascades and the model, each checked against the build
// manifest (fer_core.sessions.on_device.manifest). Nothing is fetched from anywhere but this component's folder.

export const VENDOR = "./vendor/";
export const BUILD_COMMAND = "python -m fer_core.sessions.on_device.build";

export class SetupError extends Error {}

export async function fetchManifest() {
  let response;
  try {
    response = await fetch(VENDOR + "manifest.json", { cache: "no-store" });
  } catch (error) {
    throw new SetupError(`The on-device files could not be loaded (${error}).`);
  }
  if (!response.ok) {
    throw new SetupError(
      `On-device mode is not built on this server (vendor/manifest.json: HTTP ${response.status}). ` +
        `Run \`${BUILD_COMMAND}\` on the server, or choose "on the server" processing.`,
    );
  }
  const manifest = await response.json();
  if (manifest.manifest_version !== 1) throw new SetupError(`Unknown manifest version: run ${BUILD_COMMAND} again.`);
  return manifest;
}

async function sha256Hex(bytes) {
  if (!crypto.subtle) throw new SetupError("This page is not a secure context (HTTPS or localhost): no SHA-256 check.");
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function fetchChecked(name, expected, what) {
  const response = await fetch(VENDOR + name, { cache: "no-store" });
  if (!response.ok) throw new SetupError(`${what} ${name} is missing (HTTP ${response.status}): run ${BUILD_COMMAND}.`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const actual = await sha256Hex(bytes);
  if (actual !== expected) {
    throw new SetupError(
      `Refusing ${what} ${name}: its SHA-256 ${actual.slice(0, 12)}... is not the manifest's ` +
        `${String(expected).slice(0, 12)}... (a stale or damaged copy): run ${BUILD_COMMAND} again.`,
    );
  }
  return bytes;
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new SetupError(`${src} could not be loaded: run ${BUILD_COMMAND}.`));
    document.head.appendChild(script);
  });
}

export async function loadOpenCv(manifest, timeoutMs = 60000) {
  await loadScript(VENDOR + manifest.runtimes.opencv);
  const deadline = performance.now() + timeoutMs;
  while (!(window.cv && window.cv.Mat && window.cv.CascadeClassifier && window.cv.FS_createDataFile)) {
    if (performance.now() > deadline) throw new SetupError("OpenCV.js did not start.");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // Emscripten's module object has a then() that resolves to itself: returning it from an async function (or
  // awaiting it) loops forever, so it is handed back wrapped.
  return { cv: window.cv };
}

export async function loadCascades(cv, manifest, names) {
  const cascades = {};
  for (const name of names) {
    const expected = manifest.cascades[name];
    if (!expected) throw new SetupError(`The build has no cascade ${name}: run ${BUILD_COMMAND} again.`);
    const bytes = await fetchChecked(name, expected, "cascade");
    const path = "/" + name;
    try {
      cv.FS_unlink(path);
    } catch (_) {
      // not there yet
    }
    cv.FS_createDataFile("/", name, bytes, true, false, false);
    const cascade = new cv.CascadeClassifier();
    if (!cascade.load(path)) throw new SetupError(`OpenCV.js could not load the cascade ${name}.`);
    cascades[name] = cascade;
  }
  return cascades;
}

// The model file is the shipped one (its SHA-256 is checked against the manifest and against what the server says
// it runs); LiteRT.js needs a fixed batch size, so the dynamic batch entries the manifest lists are set to 1 here.
export async function loadModel(manifest, expectedSha256) {
  const model = manifest.model;
  if (expectedSha256 && model.sha256 !== expectedSha256) {
    throw new SetupError(
      `Refusing the on-device model: the build has ${model.sha256.slice(0, 12)}..., the server runs ` +
        `${expectedSha256.slice(0, 12)}... (a stale copy): run ${BUILD_COMMAND} again.`,
    );
  }
  const bytes = await fetchChecked(model.file, model.sha256, "model");
  const view = new DataView(bytes.buffer);
  for (const offset of model.batch_offsets) {
    if (view.getInt32(offset, true) !== -1) throw new SetupError("The model's batch dimension is not where expected.");
    view.setInt32(offset, 1, true);
  }
  const litert = await import(VENDOR + manifest.runtimes.litert);
  await litert.loadLiteRt(VENDOR + manifest.runtimes.litert_wasm);
  const compiled = await litert.loadAndCompile(bytes, { accelerator: "wasm" });
  return { litert, compiled };
}
