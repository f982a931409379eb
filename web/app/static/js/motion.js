// Motion detection by frame differencing on a small canvas. The pure parts
// (changedFraction, triggerLevel, MotionTracker) have no DOM and are unit-tested
// with `node --test web/app/jstest`.

const WIDTH = 64;
const HEIGHT = 48;
const SAMPLE_MS = 200;
const WARMUP_SAMPLES = 10; // auto-exposure settles after the camera starts

// changedFraction compares two RGBA frames of the same size and returns the
// fraction (0..1) of pixels whose brightness changed by more than
// pixelThreshold (0..255).
export function changedFraction(prev, cur, pixelThreshold = 25) {
  let changed = 0;
  for (let i = 0; i < cur.length; i += 4) {
    const a = (prev[i] * 77 + prev[i + 1] * 150 + prev[i + 2] * 29) >> 8;
    const b = (cur[i] * 77 + cur[i + 1] * 150 + cur[i + 2] * 29) >> 8;
    if (Math.abs(a - b) > pixelThreshold) changed++;
  }
  return changed / (cur.length / 4);
}

// triggerLevel maps a sensitivity (0 = least, 1 = most sensitive) to the
// fraction of changed pixels that counts as motion: 25 % at 0, 5 % at 0.5,
// 1 % at 1 (geometric, so each step of the slider feels alike).
export function triggerLevel(sensitivity) {
  const s = Math.min(1, Math.max(0, Number(sensitivity) || 0));
  return 0.25 * 0.04 ** s;
}

// MotionTracker turns a series of changed fractions into start and end:
// motion starts after `startSamples` samples in a row at or above the level
// and ends after `quietMs` without one.
export class MotionTracker {
  active = false;
  #above = 0;
  #lastMotion = 0;

  constructor({ startSamples = 2, quietMs = 5_000 } = {}) {
    this.startSamples = startSamples;
    this.quietMs = quietMs;
  }

  // update returns 'start', 'end' or null.
  update(fraction, level, now) {
    if (fraction >= level) {
      this.#above++;
      this.#lastMotion = now;
      if (!this.active && this.#above >= this.startSamples) {
        this.active = true;
        return 'start';
      }
      return null;
    }
    this.#above = 0;
    if (this.active && now - this.#lastMotion >= this.quietMs) {
      this.active = false;
      return 'end';
    }
    return null;
  }
}

// MotionDetector samples a playing <video> five times a second. onLevel gets
// the changed fraction relative to the trigger level (1 = at the trigger),
// onMotion(true|false) the starts and ends.
export class MotionDetector {
  enabled = true;
  sensitivity = 0.5;
  #video;
  #onLevel;
  #onMotion;
  #ctx;
  #prev = null;
  #samples = 0;
  #timer = 0;
  #tracker = new MotionTracker();

  constructor(video, { onLevel, onMotion }) {
    this.#video = video;
    this.#onLevel = onLevel;
    this.#onMotion = onMotion;
    const canvas = document.createElement('canvas');
    canvas.width = WIDTH;
    canvas.height = HEIGHT;
    this.#ctx = canvas.getContext('2d', { willReadFrequently: true });
  }

  start() {
    this.#timer = setInterval(() => this.#sample(), SAMPLE_MS);
  }

  stop() {
    clearInterval(this.#timer);
    this.reset();
  }

  // reset forgets the last frame (after a camera switch, or when disabled) and
  // ends motion in progress.
  reset() {
    this.#prev = null;
    this.#samples = 0;
    if (this.#tracker.active) {
      this.#tracker = new MotionTracker();
      this.#onMotion(false);
    }
  }

  #sample() {
    if (!this.enabled || this.#video.readyState < 2) return;
    this.#ctx.drawImage(this.#video, 0, 0, WIDTH, HEIGHT);
    const frame = this.#ctx.getImageData(0, 0, WIDTH, HEIGHT).data;
    const prev = this.#prev;
    this.#prev = frame;
    if (!prev || ++this.#samples < WARMUP_SAMPLES) return;
    const fraction = changedFraction(prev, frame);
    const level = triggerLevel(this.sensitivity);
    this.#onLevel(fraction / level);
    const change = this.#tracker.update(fraction, level, performance.now());
    if (change) this.#onMotion(change === 'start');
  }
}
