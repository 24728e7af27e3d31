// The on-device face pipeline: a port of fer_core's stream path (FaceDetector, FaceTracker, the recognizer's crop,
// resize_face, prepare_faces and the classifier's view averaging) to OpenCV.js and LiteRT.js.
// Every parameter comes from the build manifest or the page (fer_core.sessions.on_device.params); the Python
// file and function each piece mirrors is named above it, so a change there can be followed here.

// Python's round(): halves go to the even neighbour (Math.round sends them up).
export function pyRound(x) {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

function byAreaDescending(boxes) {
  return boxes.slice().sort((a, b) => b[2] * b[3] - a[2] * a[3]); // stable, like Python's sort(reverse=True)
}

function rects(cv, cascade, image, scaleFactor, minNeighbors, minSide, maxSide = 0) {
  const found = new cv.RectVector();
  try {
    cascade.detectMultiScale(
      image, found, scaleFactor, minNeighbors, 0, new cv.Size(minSide, minSide), new cv.Size(maxSide, maxSide),
    );
    const boxes = [];
    for (let i = 0; i < found.size(); i++) {
      const r = found.get(i);
      boxes.push([r.x, r.y, r.width, r.height]);
    }
    return boxes;
  } finally {
    found.delete();
  }
}

// fer_core/recognition/detector.py: FaceDetector.detect
export class Detector {
  constructor(cv, params, cascades) {
    this.cv = cv;
    this.p = params.detector;
    this.main = cascades[this.p.cascade];
    this.verify = this.p.verify_cascade ? cascades[this.p.verify_cascade] : null;
    if (!this.main || (this.p.verify_cascade && !this.verify)) throw new Error("a cascade the parameters name is missing");
  }

  detect(gray) {
    const cv = this.cv, p = this.p;
    const height = gray.rows, width = gray.cols;
    if (height < 24 || width < 24) return [];
    let scale = 1.0;
    let small = gray;
    if (p.detect_width && width > p.detect_width) {
      scale = p.detect_width / width;
      small = new cv.Mat();
      cv.resize(gray, small, new cv.Size(p.detect_width, Math.max(1, pyRound(height * scale))), 0, 0, cv.INTER_AREA);
    }
    try {
      const minSide = Math.max(p.min_side_px, pyRound(Math.min(small.rows, small.cols) * p.min_size_fraction));
      let boxes = rects(cv, this.main, small, p.scale_factor, p.min_neighbors, minSide);
      if (this.verify) boxes = boxes.filter((box) => this.verified(small, box));
      boxes = byAreaDescending(boxes).slice(0, p.max_faces);
      if (scale !== 1.0) {
        const inverse = 1.0 / scale;
        boxes = boxes.map((box) => clip(box.map((v) => pyRound(v * inverse)), width, height));
      }
      return boxes;
    } finally {
      if (small !== gray) small.delete();
    }
  }

  // FaceDetector._verified
  verified(image, [x, y, w, h]) {
    const cv = this.cv, p = this.p;
    const pad = Math.floor(w / p.verify_pad_divisor);
    const x0 = Math.max(0, x - pad), y0 = Math.max(0, y - pad);
    const x1 = Math.min(image.cols, x + w + pad), y1 = Math.min(image.rows, y + h + pad);
    const roi = image.roi(new cv.Rect(x0, y0, x1 - x0, y1 - y0));
    try {
      const side = Math.max(p.min_side_px, Math.trunc(w * p.verify_min_side_fraction));
      return rects(cv, this.verify, roi, p.verify_scale_factor, p.verify_min_neighbors, side).length > 0;
    } finally {
      roi.delete();
    }
  }
}

// FaceDetector._clip
function clip([x, y, w, h], width, height) {
  x = Math.max(0, Math.min(x, width - 1));
  y = Math.max(0, Math.min(y, height - 1));
  return [x, y, Math.max(1, Math.min(w, width - x)), Math.max(1, Math.min(h, height - y))];
}

// fer_core/recognition/tracking.py: FaceTracker (one per stream)
export class Tracker {
  constructor(cv, detector, params) {
    this.cv = cv;
    this.detector = detector;
    this.p = params.tracker;
    this.readings = new StreamReadings(params.stream_readings.min_overlap);
    this.reset();
  }

  reset() {
    this.boxes = [];
    this.sinceFull = -1;
    this.fullDetections = 0;
    this.readings.reset();
  }

  detect(gray) {
    const p = this.p;
    if (!this.boxes.length && this.sinceFull >= 0 && this.sinceFull < p.empty_redetect_every - 1) {
      this.sinceFull += 1;
      return [];
    }
    if (this.boxes.length && this.sinceFull < p.redetect_every - 1) {
      const followed = this.boxes.map((box) => this.follow(gray, box));
      if (followed.every((box) => box !== null)) {
        this.sinceFull += 1;
        this.boxes = byAreaDescending(followed);
        return this.boxes.map((box) => box.slice());
      }
    }
    this.boxes = this.detector.detect(gray);
    this.sinceFull = 0;
    this.fullDetections += 1;
    return this.boxes.map((box) => box.slice());
  }

  // FaceTracker._follow
  follow(gray, [x, y, w, h]) {
    const cv = this.cv, p = this.p;
    const margin = pyRound(Math.max(w, h) * p.search_margin);
    const x0 = Math.max(0, x - margin), y0 = Math.max(0, y - margin);
    const x1 = Math.min(gray.cols, x + w + margin), y1 = Math.min(gray.rows, y + h + margin);
    if (x1 - x0 < p.min_window_px || y1 - y0 < p.min_window_px) return null;
    let scale = p.roi_face_px / Math.max(w, 1);
    const roi = gray.roi(new cv.Rect(x0, y0, x1 - x0, y1 - y0));
    let window = roi;
    try {
      if (scale < 1.0) {
        window = new cv.Mat();
        cv.resize(roi, window, new cv.Size(0, 0), scale, scale, cv.INTER_AREA);
      } else {
        scale = 1.0;
      }
      const side = w * scale;
      const smallest = Math.max(p.min_size_px, Math.trunc(side * (1 - p.size_tolerance)));
      const largest = Math.max(smallest + 1, Math.trunc(side * (1 + p.size_tolerance)));
      const found = rects(cv, this.detector.main, window, p.scale_factor, p.min_neighbors, smallest, largest);
      if (!found.length) return null;
      const cx = (x + w / 2 - x0) * scale, cy = (y + h / 2 - y0) * scale;
      let best = found[0], bestDistance = Infinity;
      for (const b of found) {
        const distance = Math.hypot(b[0] + b[2] / 2 - cx, b[1] + b[3] / 2 - cy);
        if (distance < bestDistance) [best, bestDistance] = [b, distance];
      }
      const [bx, by, bw, bh] = best.map((v) => v / scale);
      return [pyRound(x0 + bx), pyRound(y0 + by), Math.max(1, pyRound(bw)), Math.max(1, pyRound(bh))];
    } finally {
      if (window !== roi) window.delete();
      roi.delete();
    }
  }
}

// fer_core/recognition/detector.py (box_iou)
export function boxIou([ax, ay, aw, ah], [bx, by, bw, bh]) {
  const overlapW = Math.max(0, Math.min(ax + aw, bx + bw) - Math.max(ax, bx));
  const overlapH = Math.max(0, Math.min(ay + ah, by + bh) - Math.max(ay, by));
  const intersection = overlapW * overlapH;
  const union = aw * ah + bw * bh - intersection;
  return union ? intersection / union : 0;
}

// fer_core/recognition/stream_readings.py (StreamReadings, _match, _remember): a face that was in the last frame is
// read with the next view only, and its reading is the mean of its last views-many one-view readings.
export class StreamReadings {
  constructor(minOverlap) {
    this.minOverlap = minOverlap;
    this.reset();
  }

  reset() {
    this.faces = [];
  }

  // The last frame's face each box continues (null: a new face): greedily by overlap, as Python sorts the
  // (overlap, box index, face index) triples, largest first.
  match(boxes) {
    const pairs = [];
    boxes.forEach((box, index) => this.faces.forEach((face, slot) => pairs.push([boxIou(box, face.box), index, slot])));
    pairs.sort((a, b) => b[0] - a[0] || b[1] - a[1] || b[2] - a[2]);
    const matched = boxes.map(() => null), taken = new Set();
    for (const [overlap, index, slot] of pairs) {
      if (overlap < this.minOverlap) break;
      if (matched[index] === null && !taken.has(slot)) {
        matched[index] = this.faces[slot];
        taken.add(slot);
      }
    }
    return matched;
  }

  // Each face's reading; run(passes) gives one reading per [box index, view index] pass, in that order.
  async read(boxes, viewCount, run) {
    const matches = this.match(boxes);
    const passes = [];
    matches.forEach((face, index) => {
      if (face === null || face.nextView >= viewCount) {
        for (let view = 0; view < viewCount; view++) passes.push([index, view]);
      } else {
        passes.push([index, face.nextView]);
      }
    });
    const readings = await run(passes);
    this.faces = boxes.map((box, index) => {
      const rows = passes.flatMap(([face], row) => (face === index ? [row] : []));
      const earlier = matches[index] !== null && rows.length === 1 ? matches[index].readings : [];
      const kept = [...earlier, ...rows.map((row) => readings[row])].slice(-viewCount);
      return { box: box.slice(), readings: kept, nextView: (passes[rows[rows.length - 1]][1] + 1) % viewCount };
    });
    return this.faces.map((face) => face.readings[0].map((_, k) => mean(face.readings.map((r) => r[k]))));
  }
}

function mean(values) {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

// fer_core/recognition/recognizer.py (EmotionRecognizer._crop), preprocessing.py (resize_face, prepare_faces),
// views.py (expand_views, average_views) and quantized_model.py (rows renormalised to sum to 1).
export class Classifier {
  constructor(cv, litert, model, params) {
    this.cv = cv;
    this.litert = litert;
    this.model = model;
    this.size = params.input_size;
    this.margin = params.crop_margin;
    this.views = params.views;
    this.spread = params.spread_views;
  }

  crop(gray, [x, y, w, h]) {
    if (this.margin) {
      const dx = pyRound(w * this.margin), dy = pyRound(h * this.margin);
      [x, y, w, h] = [x - dx, y - dy, w + 2 * dx, h + 2 * dy];
    }
    const x0 = Math.max(0, x), y0 = Math.max(0, y);
    const x1 = Math.min(gray.cols, x + w), y1 = Math.min(gray.rows, y + h);
    return gray.roi(new this.cv.Rect(x0, y0, x1 - x0, y1 - y0));
  }

  // The prepared face, float32 in [0, 1] exactly as numpy computes it (float32 multiply by float32(1/255)).
  prepare(gray, box) {
    const cv = this.cv, size = this.size;
    const roi = this.crop(gray, box);
    const face = new cv.Mat();
    try {
      if (roi.rows === size && roi.cols === size) {
        roi.copyTo(face);
      } else {
        const shrinking = roi.rows > size || roi.cols > size;
        cv.resize(roi, face, new cv.Size(size, size), 0, 0, shrinking ? cv.INTER_AREA : cv.INTER_LINEAR);
      }
      const k = Math.fround(1 / 255);
      const out = new Float32Array(size * size);
      const data = face.data;
      for (let i = 0; i < out.length; i++) out[i] = Math.fround(data[i] * k);
      return out;
    } finally {
      face.delete();
      roi.delete();
    }
  }

  view(face, view) {
    if (!view.mirror) return face;
    const size = this.size, out = new Float32Array(face.length);
    for (let r = 0; r < size; r++) {
      for (let c = 0; c < size; c++) out[r * size + c] = face[r * size + size - 1 - c];
    }
    return out;
  }

  async predict(input) {
    const tensor = new this.litert.Tensor(input, [1, this.size, this.size, 1]);
    let outputs = [];
    try {
      outputs = await this.model.run(tensor);
      const p = Array.from(outputs[0].toTypedArray());
      const total = p.reduce((a, b) => a + b, 0);
      return total > 0 ? p.map((v) => v / total) : p.map(() => 1 / p.length);
    } finally {
      tensor.delete();
      for (const output of outputs) output.delete();
    }
  }

  // Probabilities (7 numbers) per box: the mean over the views of each face, or, for a stream's faces
  // (``readings``, the tracker's) with the views spread over the frames, over its last one-view readings.
  async classify(gray, boxes, readings = null) {
    if (readings && this.spread) {
      const faces = boxes.map((box) => this.prepare(gray, box));
      const run = async (passes) => {
        const out = [];
        for (const [index, view] of passes) out.push(await this.predict(this.view(faces[index], this.views[view])));
        return out;
      };
      return readings.read(boxes, this.views.length, run);
    }
    const results = [];
    for (const box of boxes) {
      const face = this.prepare(gray, box);
      let sum = null;
      for (const view of this.views) {
        const p = await this.predict(this.view(face, view));
        sum = sum ? sum.map((v, i) => v + p[i]) : p;
      }
      results.push(sum.map((v) => v / this.views.length));
    }
    return results;
  }
}

// One frame through the pipeline: grayscale (ITU-R BT.601, as cv2.COLOR_BGR2GRAY), faces, probabilities.
export async function analyzeImageData(cv, imageData, finder, classifier) {
  const started = performance.now();
  const rgba = cv.matFromImageData(imageData);
  const gray = new cv.Mat();
  try {
    cv.cvtColor(rgba, gray, cv.COLOR_RGBA2GRAY);
    const boxes = finder.detect(gray);
    const detected = performance.now();
    const probabilities = await classifier.classify(gray, boxes, finder.readings ?? null);
    const classified = performance.now();
    return {
      faces: boxes.map((box, i) => ({ box, p: probabilities[i] })),
      detect_ms: detected - started,
      classify_ms: classified - detected,
    };
  } finally {
    gray.delete();
    rgba.delete();
  }
}
