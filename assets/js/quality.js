// loadtest: what people see. Reads the frame code of every received video frame and of every camera frame,
// and derives per received stream: freezes, skipped and repeated frames, PSNR/SSIM against the generated
// reference, and (code, time) samples the orchestrator joins with the sender's log into end-to-end delay.
// See docs/quality.md (the contract: window.__ltQuality and the shapes take() resolves to).
//
// Loaded by the Janus participant page (<script src="quality.js">, started unless ?quality=0) or injected
// with WebDriver "execute" on any page that defines window.__lt (pcs(), peerOf()); idempotent. Frames are
// read in a worker from a MediaStreamTrackProcessor per track, so the page's main thread and rendering are
// untouched. Never throws into the page: a frame that cannot be read or whose checksum fails is counted.
(function () {
  'use strict';
  if (window.__ltQuality && window.__ltQuality.version) return;

  // Everything the worker runs; the page uses the pure parts (`lib`) too. Self-contained: its source is
  // the worker's script.
  function core() {
    'use strict';
    // ---------------------------------------------------------------- the frame code (src/media.rs `code`)
    var CELLS = 24, FPS_BITS = 5, LOOP_SECS = 10, BLACK = 16, WHITE = 235;
    var MIN_CONTRAST = 48;      // white minus black reference cell, in luma levels (generated: 219)
    var DECISIVE = 0.2;         // a data cell within 20 % of the contrast from the threshold is unreadable
    var PRESETS = { 10: [160, 120], 15: [320, 240], 20: [640, 480], 30: [1280, 720] }; // fps -> size sent
    var GAP_HISTORY = 30;       // inter-frame gaps averaged by the freeze rule (as libwebrtc)
    var BUFFER_CAP = 4000;      // samples kept per stream between two take() calls

    function crc8(bytes) {
      var crc = 0;
      for (var i = 0; i < bytes.length; i++) {
        crc ^= bytes[i];
        for (var k = 0; k < 8; k++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
      }
      return crc;
    }
    // Row (even) at the middle of the code strip: the strip is a fifteenth of the height at every preset.
    function stripRow(h) { return Math.floor(h / 30) & ~1; }
    function stripHeight(h) { return Math.min(h, Math.max(8, Math.floor(h / 15) & ~1)); }

    // Mean luma of the centre half of cell i over `rows` rows.
    function cellValue(y, stride, rows, w, i) {
      var c = Math.floor((2 * i + 1) * w / (2 * CELLS)), q = Math.floor(w / CELLS / 4), s = 0, n = 0;
      for (var r = 0; r < rows; r++) {
        for (var x = c - q; x <= c + q; x++) { s += y[r * stride + x]; n++; }
      }
      return s / n;
    }
    // The code in a luma strip, or null when it is unreadable or its checksum fails.
    function decode(y, stride, rows, w) {
      var lo = cellValue(y, stride, rows, w, 0), hi = cellValue(y, stride, rows, w, 1);
      var contrast = hi - lo;
      if (!(contrast >= MIN_CONTRAST)) return null;
      var thr = (lo + hi) / 2, margin = contrast * DECISIVE, word = 0;
      for (var i = 2; i < CELLS; i++) {
        var d = cellValue(y, stride, rows, w, i) - thr;
        if (Math.abs(d) < margin) return null;
        word = word * 2 + (d > 0 ? 1 : 0);
      }
      var payload = Math.floor(word / 256), crc = word % 256;
      if (crc8([payload >> 8, payload & 0xff]) !== crc) return null;
      var index = payload >> FPS_BITS, fps = payload & ((1 << FPS_BITS) - 1);
      if (fps < 1 || index >= fps * LOOP_SECS) return null;
      return { index: index, fps: fps };
    }

    // ---------------------------------------------------------------- the reference picture (media.rs frame_luma)
    var DIGITS = [[7, 5, 5, 5, 7], [2, 6, 2, 2, 7], [7, 1, 7, 4, 7], [7, 1, 7, 1, 7], [5, 5, 7, 1, 1],
      [7, 4, 7, 1, 7], [7, 4, 7, 5, 7], [7, 1, 2, 2, 2], [7, 5, 7, 5, 7], [7, 5, 7, 1, 7]];
    function referenceLuma(w, h, fps, index) {
      var y = new Uint8Array(w * h);
      var period = Math.max(1, 2 * fps), p = index % period;
      var shift = Math.floor(p * 256 / period), bar = Math.floor(p * w / period), half = Math.floor(w / 20) + 1;
      var ramp = new Uint8Array(w), col, row, prev = -1;
      for (col = 0; col < w; col++) ramp[col] = ((Math.floor(col * 256 / w) + shift) & 0xff) >> 1;
      for (row = 0; row < h; row++) {
        var base = 16 + Math.floor(row * 64 / h), o = row * w;
        if (base === prev) { y.copyWithin(o, o - w, o); continue; }  // the same row as the one above
        prev = base;
        for (col = 0; col < w; col++) y[o + col] = Math.abs(col - bar) < half ? 235 : base + ramp[col];
      }
      var strip = stripHeight(h), scale = Math.max(2, Math.floor(w / 80));
      var text = ('000' + (index % 10000)).slice(-4);
      for (var i = 0; i < 4; i++) {
        var glyph = DIGITS[text.charCodeAt(i) - 48];
        for (var gy = 0; gy < 7; gy++) {
          for (var gx = 0; gx < 5; gx++) {
            var lit = gy >= 1 && gy < 6 && gx >= 1 && gx < 4 && (glyph[gy - 1] & (1 << (3 - gx))) !== 0;
            for (var dy = 0; dy < scale; dy++) {
              for (var dx = 0; dx < scale; dx++) {
                var px = scale + (i * 5 + gx) * scale + dx, py = strip + scale + gy * scale + dy;
                if (px < w && py < h) y[py * w + px] = lit ? 235 : 16;
              }
            }
          }
        }
      }
      var payload = (index << FPS_BITS) | fps;
      var word = payload * 256 + crc8([payload >> 8, payload & 0xff]);
      for (var c = 0; c < CELLS; c++) {
        var white = c === 1 || (c >= 2 && Math.floor(word / Math.pow(2, CELLS - 1 - c)) % 2 === 1);
        var x0 = Math.floor(c * w / CELLS), x1 = Math.floor((c + 1) * w / CELLS);
        for (row = 0; row < strip; row++) y.fill(white ? WHITE : BLACK, row * w + x0, row * w + x1);
      }
      return y;
    }

    // ---------------------------------------------------------------- picture quality (luma)
    // The rows scored: all of them, or (`half`) the 8-row bands starting every 16 rows: half the frame,
    // spread over all of it.
    function scored(y, half) { return !half || ((y >> 3) & 1) === 0; }
    function psnr(a, b, w, h, half) {
      var se = 0, n = 0;
      for (var y = 0; y < h; y++) {
        if (!scored(y, half)) continue;
        for (var i = y * w, e = i + w; i < e; i++) { var d = a[i] - b[i]; se += d * d; }
        n += w;
      }
      if (se === 0) return 99;
      return Math.min(99, 10 * Math.log10(255 * 255 * n / se));
    }
    // Mean SSIM over non-overlapping 8x8 windows (C1, C2 as in Wang et al. 2004).
    function ssim(a, b, w, h, half) {
      var C1 = 6.5025, C2 = 58.5225, total = 0, count = 0;
      for (var y0 = 0; y0 + 8 <= h; y0 += 8) {
        if (!scored(y0, half)) continue;
        for (var x0 = 0; x0 + 8 <= w; x0 += 8) {
          var sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
          for (var y = y0; y < y0 + 8; y++) {
            for (var x = x0, o = y * w + x0; x < x0 + 8; x++, o++) {
              var va = a[o], vb = b[o];
              sa += va; sb += vb; saa += va * va; sbb += vb * vb; sab += va * vb;
            }
          }
          var ma = sa / 64, mb = sb / 64;
          var va2 = saa / 64 - ma * ma, vb2 = sbb / 64 - mb * mb, cov = sab / 64 - ma * mb;
          total += ((2 * ma * mb + C1) * (2 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va2 + vb2 + C2));
          count++;
        }
      }
      return count ? total / count : null;
    }
    // Bilinear resize of a luma plane (received at a lower resolution than sent) to the sent size.
    function taps(src, dst) {
      var i0 = new Int32Array(dst), i1 = new Int32Array(dst), wt = new Int32Array(dst);
      for (var i = 0; i < dst; i++) {
        var f = Math.max(0, (i + 0.5) * src / dst - 0.5), k = Math.floor(f);
        i0[i] = Math.min(src - 1, k); i1[i] = Math.min(src - 1, k + 1); wt[i] = Math.round((f - k) * 256);
      }
      return { i0: i0, i1: i1, wt: wt };
    }
    function resize(src, sw, sh, stride, dw, dh, half) {
      var out = new Uint8Array(dw * dh), tx = taps(sw, dw), ty = taps(sh, dh);
      for (var y = 0; y < dh; y++) {
        if (!scored(y, half)) continue;
        var r0 = ty.i0[y] * stride, r1_ = ty.i1[y] * stride, wy = ty.wt[y], o = y * dw;
        for (var x = 0; x < dw; x++) {
          var a = tx.i0[x], b = tx.i1[x], wx = tx.wt[x];
          var top = src[r0 + a] * (256 - wx) + src[r0 + b] * wx;
          var bot = src[r1_ + a] * (256 - wx) + src[r1_ + b] * wx;
          out[o + x] = (top * (256 - wy) + bot * wy + 32768) >> 16;
        }
      }
      return out;
    }


    // ---------------------------------------------------------------- reading frames
    function nowWall() { return performance.timeOrigin + performance.now(); }
    function r1(v) { return Math.round(v * 10) / 10; }
    var cost = 0;  // ms spent measuring since the last take()
    function timed(f) {
      var t0 = performance.now();
      try { return f(); } finally { cost += performance.now() - t0; }
    }

    // Luma of `rows` rows from `top` (even) of a VideoFrame: { data, stride, w, h }. Rejects formats it
    // cannot read (counted as `unread`).
    function luma(frame, top, rows) {
      var vr = frame.visibleRect, w = vr.width & ~1, fmt = frame.format || '';
      var rect = { x: vr.x, y: vr.y + top, width: w, height: rows };
      var buf = new Uint8Array(frame.allocationSize({ rect: rect }));
      return frame.copyTo(buf, { rect: rect }).then(function (layout) {
        var stride = layout[0].stride, off = layout[0].offset;
        if (/^(I4|NV12)/.test(fmt)) return { data: buf.subarray(off), stride: stride, w: w, h: vr.height };
        if (!/^(RGB|BGR)/.test(fmt)) throw new Error('frame format ' + fmt);
        var rgb = fmt[0] === 'R', y = new Uint8Array(w * rows);
        for (var r = 0; r < rows; r++) {
          for (var x = 0; x < w; x++) {
            var o = off + r * stride + x * 4, R = buf[o + (rgb ? 0 : 2)], G = buf[o + 1], B = buf[o + (rgb ? 2 : 0)];
            y[r * w + x] = Math.round(16 + (65.738 * R + 129.057 * G + 25.064 * B) / 256);
          }
        }
        return { data: y, stride: w, w: w, h: vr.height };
      });
    }
    // The code in a frame: { index, fps }, or null when it is garbled.
    function readCode(vf) {
      return luma(vf, stripRow(vf.visibleRect.height), 2).then(function (l) {
        return timed(function () { return decode(l.data, l.stride, 2, l.w); });
      });
    }

    // Append a tuple to a flat list of `n`-tuples, keeping the newest BUFFER_CAP.
    function pushTuple(list, n, tuple) {
      for (var i = 0; i < n; i++) list.push(tuple[i]);
      if (list.length > n * BUFFER_CAP) list.splice(0, list.length - n * BUFFER_CAP);
    }
    function counters(o) {
      var c = { frames: o.frames, codes: o.codes, garbled: o.garbled, unread: o.unread };
      o.frames = o.codes = o.garbled = o.unread = 0;
      return c;
    }

    // ---------------------------------------------------------------- sender: when codes leave the camera
    // The page hands over a clone of the camera track limited to SEND_FPS: the camera runs on a fixed
    // clock, so a few (code, capture time) anchors a second place every frame (the orchestrator's join
    // counts frame intervals from the nearest anchor). A camera frame's VideoFrame.timestamp is its capture
    // time on the browser's monotonic clock (us), the clock performance.now() counts on too; `lag`
    // estimates their constant difference as the largest (timestamp - read time) seen, which errs by the
    // quickest delivery (about a millisecond). Frame 0 is no anchor: Chromium's file camera shows it twice.
    function Sender(id) {
      this.id = id; this.fps = null; this.ended = false;
      this.frames = 0; this.codes = 0; this.garbled = 0; this.unread = 0;
      this.lag = -Infinity;
      this.sent = [];   // index, capture timestamp (ms, camera clock), ...
    }
    Sender.prototype.frame = function (vf) {
      var self = this, ts = vf.timestamp / 1000;
      this.frames++;
      this.lag = Math.max(this.lag, ts - nowWall());
      return readCode(vf).then(function (c) {
        if (!c) { self.garbled++; return; }
        self.codes++;
        self.fps = c.fps;
        if (c.index !== 0) pushTuple(self.sent, 2, [c.index, ts]);
      }, function () { self.unread++; });
    };
    Sender.prototype.take = function () {
      var out = counters(this);
      out.track = this.id; out.fps = this.fps; out.ended = this.ended;
      out.c = []; out.t = [];
      for (var i = 0; i < this.sent.length; i += 2) { out.c.push(this.sent[i]); out.t.push(r1(this.sent[i + 1] - this.lag)); }
      this.sent = [];
      return out;
    };

    // ---------------------------------------------------------------- receiver: what this page gets of one stream
    // Every decoded frame is read as it is delivered; its time is when it was delivered (decoded, ready to be
    // shown). The last frame is kept: it is the picture on screen, scored for quality.
    function Receiver(id) {
      this.id = id; this.peer = null; this.ended = false;
      this.frames = 0; this.codes = 0; this.garbled = 0; this.unread = 0;
      this.fps = 0; this.locked = false; this.last = -1; this.lastT = 0; this.firstT = null; this.endT = null;
      this.unknown = 0;       // frames since the last code whose code is unknown
      this.width = null; this.height = null;
      this.repeated = 0; this.skipped = 0; this.scaled = 0;
      this.gaps = [];
      this.freezes = [];      // [start wall ms, duration ms, counted, ongoing] touching the current interval
      this.samples = [];      // index, wall ms, ...
      this.psnr = []; this.ssim = []; this.stale = 0;
      this.lastQ = -Infinity;
      this.held = null;       // the last frame (on screen)
    }
    Receiver.prototype.frame = function (vf) {
      var self = this, t = nowWall();
      this.frames++;
      this.width = vf.visibleRect.width; this.height = vf.visibleRect.height;
      if (this.held) this.held.close();
      this.held = vf;
      return readCode(vf).then(function (c) {
        if (c) self.codes++; else self.garbled++;
        timed(function () { if (c) self.onCode(c, t); else self.onUnknown(t); });
      }, function () { self.unread++; self.onUnknown(t); });
    };
    Receiver.prototype.threshold = function () {
      var g = this.gaps, mean = 1000 / this.fps;
      if (g.length) { mean = 0; for (var i = 0; i < g.length; i++) mean += g[i]; mean /= g.length; }
      return Math.max(3 * mean, mean + 150);
    };
    // A new picture: a gap longer than the freeze rule's threshold ends a freeze.
    Receiver.prototype.moved = function (t) {
      var gap = t - this.lastT;
      if (gap > this.threshold()) this.endFreeze(this.lastT, gap);
      this.gaps.push(gap);
      if (this.gaps.length > GAP_HISTORY) this.gaps.shift();
      this.lastT = t;
    };
    // A frame whose code is unknown (garbled or not read): it still moves the picture on.
    Receiver.prototype.onUnknown = function (t) {
      if (!this.locked) return;
      this.unknown++;
      this.moved(t);
    };
    Receiver.prototype.onCode = function (c, t) {
      if (c.fps !== this.fps) {   // a new sequence: lock on again
        this.fps = c.fps; this.locked = false; this.last = c.index; this.lastT = t; this.gaps = [];
        return;
      }
      var L = this.fps * LOOP_SECS, d = (c.index - this.last + L) % L;
      if (!this.locked) {
        if (d < 1 || d > this.fps) { this.last = c.index; this.lastT = t; return; }
        this.locked = true;
        this.unknown = 0;
        if (this.firstT === null) this.firstT = this.lastT;
      }
      // Chromium's file camera shows the first frame of the loop twice at each wrap: not a repeat on the way.
      if (d === 0 && this.unknown === 0) { if (c.index !== 0) this.repeated++; return; }
      // Frames advanced since the last code: a gap longer than the loop adds whole loops.
      d += L * Math.max(0, Math.round(((t - this.lastT) * this.fps / 1000 - d) / L));
      this.skipped += Math.max(0, d - 1 - this.unknown);
      this.unknown = 0;
      this.moved(t);
      if (c.index !== 0) pushTuple(this.samples, 2, [c.index, r1(t)]);  // frame 0 comes twice: no sample
      this.last = c.index;
    };
    Receiver.prototype.endFreeze = function (start, dur) {
      for (var i = 0; i < this.freezes.length; i++) {
        if (this.freezes[i][0] === start) { this.freezes[i][1] = dur; this.freezes[i][3] = false; return; }
      }
      this.freezes.push([start, dur, false, false]);
    };
    Receiver.prototype.setPeer = function (p) {
      if (p === null || p === undefined) return;
      // A receiver whose source changes (an SFU rewriting SSRCs) starts a new sequence.
      if (this.peer !== null && this.peer !== p) { this.locked = false; this.fps = 0; this.gaps = []; }
      this.peer = p;
    };
    // One quality sample: the picture on screen now (the last frame) against the reference frame that
    // should be on screen now. That is the frame with the shown code while frames arrive; when the picture
    // is older than one and a half frame intervals (a freeze), the frame the camera has moved on to since.
    // Scored at the size sent: a frame received smaller is scaled up. Resolves to false when the frame
    // cannot be scored (no code yet, garbled, unreadable).
    Receiver.prototype.sample = function () {
      var self = this, now = nowWall(), vf;
      if (!this.locked || !this.held) return Promise.resolve(false);
      try { vf = this.held.clone(); } catch (e) { return Promise.resolve(false); }
      return luma(vf, 0, vf.visibleRect.height & ~1).then(function (l) {
        return timed(function () {
          var w = l.w, h = l.h & ~1, row = stripRow(h);
          var c = decode(l.data.subarray(row * l.stride), l.stride, 2, w);
          if (!c || c.fps !== self.fps) return false;
          var L = self.fps * LOOP_SECS, behind = 0;
          var slack = c.index === 0 ? 1.5 : 0.5;  // frame 0 is shown twice by the camera itself
          if (c.index === self.last) behind = Math.max(0, Math.floor((now - self.lastT) * self.fps / 1000 - slack));
          if (behind) self.stale++;
          var size = PRESETS[c.fps], got = l.data, rw = w, rh = h;
          if (size && (size[0] !== w || size[1] !== h)) {
            self.scaled++;
            rw = size[0]; rh = size[1];
            got = resize(l.data, w, h, l.stride, rw, rh, true);
          } else if (l.stride !== w) {
            got = new Uint8Array(w * h);
            for (var r = 0; r < h; r++) got.set(l.data.subarray(r * l.stride, r * l.stride + w), r * w);
          }
          var ref = referenceLuma(rw, rh, c.fps, (c.index + behind) % L);
          self.psnr.push(Math.round(psnr(got, ref, rw, rh, true) * 100) / 100);
          self.ssim.push(Math.round(ssim(got, ref, rw, rh, true) * 10000) / 10000);
          return true;
        });
      }).catch(function () { return false; }).then(function (ok) {
        try { vf.close(); } catch (e) { }
        return ok;
      });
    };
    // Aggregates over (since, now] and the samples gathered since the previous take().
    Receiver.prototype.take = function (since, now, maxSamples) {
      var i, end = this.ended && this.endT !== null ? this.endT : now;
      if (this.locked && !this.ended && now - this.lastT > this.threshold()) {
        var have = false;
        for (i = 0; i < this.freezes.length; i++) if (this.freezes[i][0] === this.lastT) have = true;
        if (!have) this.freezes.push([this.lastT, now - this.lastT, false, true]);
      }
      var freezeMs = 0, count = 0, list = [], keep = [];
      for (i = 0; i < this.freezes.length; i++) {
        var f = this.freezes[i], ongoing = f[3];
        if (ongoing) f[1] = now - f[0];
        freezeMs += Math.max(0, Math.min(f[0] + f[1], now) - Math.max(f[0], since));
        if (!f[2]) { count++; f[2] = true; }
        list.push([r1(f[0]), r1(f[1]), ongoing]);
        if (ongoing) keep.push(f);
      }
      this.freezes = keep;
      var out = counters(this);
      out.peer = this.peer; out.track = this.id; out.fps = this.locked ? this.fps : null;
      out.width = this.width; out.height = this.height;
      out.repeated = this.repeated; out.skipped = this.skipped;
      out.observed_ms = r1(this.firstT === null ? 0 : Math.max(0, end - Math.max(this.firstT, since)));
      out.freeze_count = count; out.freeze_ms = r1(freezeMs); out.freezes = list;
      out.psnr = this.psnr; out.ssim = this.ssim; out.stale = this.stale; out.scaled = this.scaled;
      out.ended = this.ended;
      out.c = []; out.t = [];
      var n = this.samples.length / 2, step = Math.max(1, n / Math.max(1, maxSamples));
      for (var k = 0; k < n && out.c.length < maxSamples; k += step) {
        var j = 2 * Math.floor(k);
        out.c.push(this.samples[j]); out.t.push(this.samples[j + 1]);
      }
      this.samples = []; this.psnr = []; this.ssim = []; this.stale = 0;
      this.repeated = this.skipped = this.scaled = 0;
      return out;
    };
    Receiver.prototype.close = function () {
      this.ended = true;
      this.endT = this.lastT;
      if (this.held) { this.held.close(); this.held = null; }
    };

    // ---------------------------------------------------------------- the meter: every track of the page
    var QUALITY_TICK_MS = 100;  // at most one quality sample per tick: 10 per second per page
    function Meter() {
      this.opts = { quality_every_ms: 1000 };
      this.tracks = new Map();  // id -> Sender | Receiver
      this.since = nowWall();
      this.sampling = false;
      var self = this;
      setInterval(function () { self.qualityTick(); }, QUALITY_TICK_MS);
    }
    // Read every frame of `readable` (a MediaStreamTrackProcessor's) into a Sender or a Receiver.
    Meter.prototype.add = function (kind, id, readable) {
      if (this.tracks.has(id)) return;
      var t = kind === 'send' ? new Sender(id) : new Receiver(id), reader = readable.getReader();
      this.tracks.set(id, t);
      var pump = function () {
        reader.read().then(function (x) {
          if (x.done || t.ended) { try { if (x.value) x.value.close(); } catch (e) { } t.ended = true; if (t.close) t.close(); return; }
          var vf = x.value;
          t.frame(vf).then(function () {
            if (!(t instanceof Receiver)) vf.close();  // a receiver keeps its last frame
            pump();
          });
        }, function () { t.ended = true; if (t.close) t.close(); });
      };
      pump();
      t.cancel = function () { try { reader.cancel(); } catch (e) { } };
    };
    Meter.prototype.end = function (id) {
      var t = this.tracks.get(id);
      if (!t) return;
      t.ended = true;
      if (t.close) t.close();
      t.cancel();
    };
    // Score the stream whose last quality sample is the oldest, once it is due.
    Meter.prototype.qualityTick = function () {
      if (this.sampling) return;
      var now = nowWall(), due = null, self = this;
      this.tracks.forEach(function (r) {
        if (r instanceof Receiver && r.locked && !r.ended && now - r.lastQ >= self.opts.quality_every_ms &&
          (!due || r.lastQ < due.lastQ)) due = r;
      });
      if (!due) return;
      due.lastQ = now;
      this.sampling = true;
      due.sample().then(function () { self.sampling = false; });
    };
    // Everything since the previous take(); `peers` names receivers by track id.
    Meter.prototype.take = function (opts, peers) {
      var maxSamples = (opts && opts.max_samples) || 64, now = nowWall(), since = this.since;
      var out = { v: 1, on: true, ts: r1(now), since: r1(since), sent: [], recv: [], cost_ms: 0 }, self = this;
      this.tracks.forEach(function (t, id) {
        if (t instanceof Sender) out.sent.push(t.take());
        else { t.setPeer(peers[id]); out.recv.push(t.take(since, now, maxSamples)); }
        if (t.ended) self.tracks.delete(id);
      });
      out.cost_ms = r1(cost);
      cost = 0;
      this.since = now;
      return out;
    };

    return {
      Meter: Meter,
      lib: { decode: decode, referenceLuma: referenceLuma, psnr: psnr, ssim: ssim, resize: resize, stripRow: stripRow, crc8: crc8 },
    };
  }

  // The worker: one Meter, driven by messages from the page.
  function workerMain(core) {
    var meter = new (core().Meter)();
    self.onmessage = function (m) {
      var d = m.data;
      try {
        if (d.op === 'add') meter.add(d.kind, d.id, d.readable);
        else if (d.op === 'end') meter.end(d.id);
        else if (d.op === 'opts') Object.keys(d.opts).forEach(function (k) { if (k in meter.opts) meter.opts[k] = d.opts[k]; });
        else if (d.op === 'take') self.postMessage({ seq: d.seq, take: meter.take(d.opts, d.peers) });
      } catch (e) {
        if (d.op === 'take') self.postMessage({ seq: d.seq, take: { v: 1, on: true, sent: [], recv: [], cost_ms: 0, error: String(e) } });
      }
    };
  }

  // ---------------------------------------------------------------- the page: tracks to the worker, take()
  // One meter over the connections of ltOf() (a page's or one client's window.__lt).
  function meter(ltOf) {
  var SEND_FPS = 2;    // camera frames read a second (anchors); every received frame is read
  var Q = {
    on: false,
    opts: { quality_every_ms: 1000, scan_ms: 1000 },
    worker: null,
    tracks: new Map(),   // id -> { kind, track, pc, tr }
    timer: null,
    seq: 0,
    waiting: new Map(),  // seq -> resolve
    since: null,
  };
  function pcs() {
    try {
      var lt = ltOf();
      if (lt && typeof lt.pcs === 'function') return lt.pcs() || [];
      return (window.__ltPcs || []).filter(function (pc) { return pc.signalingState !== 'closed'; });
    } catch (e) { return []; }
  }
  function startWorker() {
    var src = '(' + workerMain.toString() + ')(' + core.toString() + ');';
    var w = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })));
    w.onmessage = function (m) {
      var done = Q.waiting.get(m.data.seq);
      Q.waiting.delete(m.data.seq);
      if (done) done(m.data.take);
    };
    return w;
  }
  // Hand every live video track (sent or received) to the worker; tell it about the ones that went away.
  function scan() {
    if (!Q.on) return;
    var live = new Map();
    pcs().forEach(function (pc) {
      var ts = [];
      try { ts = pc.getTransceivers(); } catch (e) { }
      ts.forEach(function (t) {
        var r = t.receiver && t.receiver.track, s = t.sender && t.sender.track;
        if (r && r.kind === 'video' && r.readyState === 'live' && !t.stopped && /recv/.test(t.currentDirection || ''))
          live.set(r.id, { kind: 'recv', track: r, pc: pc, tr: t });
        if (s && s.kind === 'video' && s.readyState === 'live') live.set(s.id, { kind: 'send', track: s });
      });
    });
    Q.tracks.forEach(function (t, id) {
      if (live.has(id) && live.get(id).track === t.track) return;
      Q.worker.postMessage({ op: 'end', id: id });
      if (t.clone) t.clone.stop();
      Q.tracks.delete(id);
    });
    live.forEach(function (t, id) {
      if (Q.tracks.has(id)) return;
      try {
        var read = t.track;
        if (t.kind === 'send') {
          read = t.clone = t.track.clone();
          read.applyConstraints({ frameRate: { max: SEND_FPS } }).catch(function () { });
        }
        var p = new MediaStreamTrackProcessor({ track: read, maxBufferSize: 4 });
        Q.worker.postMessage({ op: 'add', kind: t.kind, id: id, readable: p.readable }, [p.readable]);
        Q.tracks.set(id, t);
      } catch (e) { if (t.clone) t.clone.stop(); }
    });
  }
  // The sender of a received track, as the page's __lt.peerOf names it (what stats.js calls `peer`).
  function peerOf(t) {
    try {
      var lt = ltOf();
      if (!lt || typeof lt.peerOf !== 'function') return null;
      var stat = { type: 'inbound-rtp', kind: 'video', mid: t.tr.mid, trackIdentifier: t.track.id };
      var ss = t.tr.receiver.getSynchronizationSources();
      if (ss && ss.length) stat.ssrc = ss[0].source;
      var p = lt.peerOf(t.pc, stat);
      return p === null || p === undefined ? null : String(p);
    } catch (e) { return null; }
  }
  // How other pages name this page when it sends (Jitsi: its endpoint id, from __lt.myId()); null when
  // that is its participant id (the Janus page has no myId).
  function myName() {
    try {
      var lt = ltOf();
      var me = lt && typeof lt.myId === 'function' ? lt.myId() : null;
      return me === null || me === undefined || me === '' ? null : String(me);
    } catch (e) { return null; }
  }
  function off(now) {
    return { v: 1, on: false, ts: now, since: Q.since === null ? now : Q.since, sent: [], recv: [], cost_ms: 0 };
  }

  return {
    version: 1,
    // Start measuring (idempotent; opts merged on every call): quality_every_ms (PSNR/SSIM period per
    // stream, 1000; at most 10 samples a second per page), scan_ms (how often tracks are discovered, 1000).
    start: function (opts) {
      try {
        Object.keys(opts || {}).forEach(function (k) { if (k in Q.opts) Q.opts[k] = opts[k]; });
        if (!Q.on) {
          if (typeof MediaStreamTrackProcessor !== 'function') return false;
          Q.worker = Q.worker || startWorker();
          Q.on = true;
          Q.since = performance.timeOrigin + performance.now();
          Q.timer = setInterval(scan, Q.opts.scan_ms);
        }
        Q.worker.postMessage({ op: 'opts', opts: { quality_every_ms: Q.opts.quality_every_ms } });
        scan();
        return true;
      } catch (e) { return false; }
    },
    stop: function () {
      Q.on = false;
      if (Q.timer) clearInterval(Q.timer);
      Q.timer = null;
      Q.tracks.forEach(function (t, id) { Q.worker.postMessage({ op: 'end', id: id }); if (t.clone) t.clone.stop(); });
      Q.tracks.clear();
    },
    // A promise of everything measured since the previous call; see docs/quality.md for the shape. Never
    // rejects: a take that fails or times out (5 s) resolves with `error` set.
    take: function (opts) {
      var now = performance.timeOrigin + performance.now();
      if (!Q.on || !Q.worker) return Promise.resolve(off(now));
      try { scan(); } catch (e) { }
      var peers = {};
      Q.tracks.forEach(function (t, id) { if (t.kind === 'recv') peers[id] = peerOf(t); });
      var seq = ++Q.seq;
      var me = myName();
      return new Promise(function (resolve) {
        var timer = setTimeout(function () {
          Q.waiting.delete(seq);
          var t = off(now); t.on = true; t.error = 'quality worker did not answer within 5 s';
          resolve(t);
        }, 5000);
        Q.waiting.set(seq, function (t) { clearTimeout(timer); t.me = me; resolve(t); });
        Q.worker.postMessage({ op: 'take', seq: seq, opts: opts || {}, peers: peers });
      });
    },
    state: function () {
      var n = { on: Q.on, senders: 0, receivers: 0 };
      Q.tracks.forEach(function (t) { if (t.kind === 'send') n.senders++; else n.receivers++; });
      return n;
    },
    // The pure parts, for tests and benchmarks: decode(luma, stride, rows, width), referenceLuma(w, h,
    // fps, index), psnr(a, b, w, h, half), ssim(a, b, w, h, half), resize(src, sw, sh, stride, dw, dh,
    // half), stripRow(h); `half` scores only the 8-row bands starting every 16 rows.
    lib: C.lib,
  };
  }

  var C = core();
  // The page's meter reads window.__lt's connections; a page with several clients gives each its own
  // (window.__ltQualityFor(client)), so every participant's figures come from its own connections.
  window.__ltQuality = meter(function () { return window.__lt; });
  window.__ltQualityFor = function (lt) { return meter(function () { return lt; }); };
})();
