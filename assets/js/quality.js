// loadtest: what people see. Reads the frame code of every rendered remote video and of the local camera,
// and derives per received stream: freezes, skipped and repeated frames, PSNR/SSIM against the generated
// reference, and (code, time) samples the orchestrator joins with the sender's table into end-to-end delay.
// See docs/quality.md (the contract: window.__ltQuality and the shapes take() returns).
//
// Loaded by the Janus participant page (<script src="quality.js">, started unless ?quality=0) or injected
// with WebDriver "execute" on any page that defines window.__lt (pcs(), peerOf()); idempotent. Never
// throws into the page: a frame that cannot be read or whose checksum fails is skipped and counted.
(function () {
  'use strict';
  if (window.__ltQuality && window.__ltQuality.version) return;

  // ---------------------------------------------------------------- the frame code (src/media.rs `code`)
  var CELLS = 24, FPS_BITS = 5, LOOP_SECS = 10, BLACK = 16, WHITE = 235;
  var MIN_CONTRAST = 48;      // white minus black reference cell, in luma levels (generated: 219)
  var DECISIVE = 0.2;         // a data cell within 20 % of the contrast from the threshold is unreadable
  var PRESETS = { 10: [160, 120], 15: [320, 240], 20: [640, 480], 30: [1280, 720] }; // fps -> size sent
  var GAP_HISTORY = 30;       // inter-frame gaps averaged by the freeze rule (as libwebrtc)
  var BUFFER_CAP = 4000;      // samples kept per stream between two take() calls
  var MAX_PENDING = 3;        // frames being read per stream; more are counted as `overload` and skipped

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
  function psnr(a, b, n) {
    var se = 0;
    for (var i = 0; i < n; i++) { var d = a[i] - b[i]; se += d * d; }
    if (se === 0) return 99;
    return Math.min(99, 10 * Math.log10(255 * 255 * n / se));
  }
  // Mean SSIM over non-overlapping 8x8 windows (C1, C2 as in Wang et al. 2004).
  function ssim(a, b, w, h) {
    var C1 = 6.5025, C2 = 58.5225, total = 0, count = 0;
    for (var y0 = 0; y0 + 8 <= h; y0 += 8) {
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
  function resize(src, sw, sh, stride, dw, dh) {
    var out = new Uint8Array(dw * dh), tx = taps(sw, dw), ty = taps(sh, dh);
    for (var y = 0; y < dh; y++) {
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
  function wall(t) { return performance.timeOrigin + t; }
  function nowWall() { return performance.timeOrigin + performance.now(); }
  function r1(v) { return Math.round(v * 10) / 10; }
  var cost = 0;  // main-thread ms spent measuring since the last take()
  function timed(f) {
    var t0 = performance.now();
    try { return f(); } finally { cost += performance.now() - t0; }
  }

  // Luma of `rows` rows from `top` (even) of a VideoFrame: { data, stride, w, h }. Rejects formats it
  // cannot read (counted as `unreadable`).
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

  // Append a tuple to a flat list of `n`-tuples, keeping the newest BUFFER_CAP.
  function pushTuple(list, n, tuple) {
    for (var i = 0; i < n; i++) list.push(tuple[i]);
    if (list.length > n * BUFFER_CAP) list.splice(0, list.length - n * BUFFER_CAP);
  }

  // A video element whose frames are read on every presented frame (requestVideoFrameCallback).
  //
  // The callback's metadata describes the frame just presented, but `new VideoFrame(el)` takes the
  // element's current frame, which may already be the next one when the callback runs late. So both are
  // keyed by the frame's media timestamp and joined: each presented frame is handed to `onFrame(code, t, rx)`
  // in presentation order with the code read from that very frame (null: garbled; UNREAD: not read: a
  // newer frame was current, the read failed, or reads were backed up), `t` = timeOf(now, metadata) and
  // `rx` the wall time its last packet arrived (remote frames; else null).
  var UNREAD = { unread: true };
  var PENDING = { pending: true };
  function Watcher(el, timeOf, onFrame) {
    this.el = el;
    this.onFrame = onFrame;
    this.alive = true;
    this.pending = 0;
    this.frames = 0; this.codes = 0; this.garbled = 0; this.unread = 0;
    this.times = new Map();   // media timestamp (us) -> presentation (or capture) wall ms, in order
    this.reads = new Map();   // media timestamp (us) -> code | null | UNREAD | PENDING
    this.lastRead = -Infinity;
    var self = this;
    var cb = function (now, md) {
      if (!self.alive) return;
      try { el.requestVideoFrameCallback(cb); } catch (e) { self.alive = false; return; }
      self.frames++;
      var rx = md.receiveTime !== undefined ? r1(wall(md.receiveTime)) : null;
      self.times.set(Math.round(md.mediaTime * 1e6), [timeOf(now, md), rx]);
      var vf = null;
      try { vf = new VideoFrame(el); } catch (e) { vf = null; }
      if (vf && vf.timestamp > self.lastRead && self.pending < MAX_PENDING) {
        var key = vf.timestamp;
        self.lastRead = key;
        self.reads.set(key, PENDING);
        self.pending++;
        self.read(vf).then(function (r) { self.reads.set(key, r); }, function () { self.reads.set(key, UNREAD); })
          .then(function () { try { vf.close(); } catch (e) { } self.pending--; self.flush(); });
      } else {
        if (vf) vf.close();
        self.flush();
      }
    };
    el.requestVideoFrameCallback(cb);
  }
  // The code in a frame: a code, or null when it is garbled.
  Watcher.prototype.read = function (vf) {
    return luma(vf, stripRow(vf.visibleRect.height), 2).then(function (l) {
      return timed(function () { return decode(l.data, l.stride, 2, l.w); });
    });
  };
  Watcher.prototype.flush = function () {
    var self = this, oldest = null;
    timed(function () {
      for (var e of self.times) {
        var key = e[0], t = e[1][0], rx = e[1][1], r = self.reads.get(key);
        if (r === PENDING) break;
        if (r === undefined && key >= self.lastRead) break;
        self.times.delete(key);
        self.reads.delete(key);
        if (r === undefined || r === UNREAD) { self.unread++; self.onFrame(UNREAD, t, rx); continue; }
        if (r) self.codes++; else self.garbled++;
        self.onFrame(r, t, rx);
      }
      self.times.forEach(function (t, key) { if (oldest === null) oldest = key; });
      // Frames read but never reported presented (two frames in one display refresh) are dropped.
      self.reads.forEach(function (r, key) {
        if (r !== PENDING && (oldest === null || key < oldest) && key < self.lastRead) self.reads.delete(key);
      });
    });
  };
  Watcher.prototype.counts = function () {
    var c = { frames: this.frames, codes: this.codes, garbled: this.garbled, unread: this.unread };
    this.frames = this.codes = this.garbled = this.unread = 0;
    return c;
  };

  // ---------------------------------------------------------------- sender: when each code leaves the camera
  function Sender(track) {
    var el = document.createElement('video');
    el.muted = true; el.autoplay = true; el.playsInline = true;
    el.setAttribute('data-lt-quality', 'self');
    el.style.cssText = 'position:fixed;right:0;bottom:0;width:16px;height:12px;';
    el.srcObject = new MediaStream([track]);
    document.body.appendChild(el);
    el.play().catch(function () { });
    this.track = track;
    this.fps = null;
    this.last = -1;
    this.sent = [];   // index, wall ms, ...
    var self = this;
    this.w = new Watcher(el, function (now, md) {
      return wall(md.captureTime !== undefined ? md.captureTime : md.presentationTime);
    }, function (code, t) {
      if (!code || code === UNREAD) return;
      // A repeat (Chromium's file camera shows frame 0 twice at each wrap) keeps its first capture time.
      if (code.index === self.last && code.fps === self.fps) return;
      self.fps = code.fps; self.last = code.index;
      pushTuple(self.sent, 2, [code.index, r1(t)]);
    });
  }
  Sender.prototype.take = function () {
    var out = this.w.counts();
    out.track = this.track.id; out.fps = this.fps; out.ended = !this.w.alive;
    out.c = []; out.t = [];
    for (var i = 0; i < this.sent.length; i += 2) { out.c.push(this.sent[i]); out.t.push(this.sent[i + 1]); }
    this.sent = [];
    return out;
  };
  Sender.prototype.stop = function () {
    this.w.alive = false;
    try { this.w.el.srcObject = null; this.w.el.remove(); } catch (e) { }
  };

  // ---------------------------------------------------------------- receiver: what this page sees of one stream
  function Receiver(el, track, pc, tr) {
    this.track = track; this.pc = pc; this.tr = tr; this.peer = null;
    this.fps = 0; this.locked = false; this.last = -1; this.lastT = 0; this.firstT = null;
    this.unknown = 0;       // frames presented since the last code whose code is unknown
    this.width = null; this.height = null;
    this.repeated = 0; this.skipped = 0; this.scaled = 0;
    this.gaps = [];
    this.freezes = [];      // [start wall ms, duration ms, counted, ongoing] touching the current interval
    this.samples = [];      // index, presented wall ms, received wall ms, ...
    this.psnr = []; this.ssim = []; this.stale = 0;
    this.lastQ = -Infinity;
    var self = this;
    this.w = new Watcher(el, function (now, md) {
      return wall(md.presentationTime !== undefined ? md.presentationTime : now);
    }, function (code, t, rx) {
      self.width = el.videoWidth; self.height = el.videoHeight;
      if (code === UNREAD || !code) self.onUnknown(t); else self.onCode(code, t, rx);
    });
  }
  Receiver.prototype.threshold = function () {
    var g = this.gaps, mean = 1000 / this.fps;
    if (g.length) { mean = 0; for (var i = 0; i < g.length; i++) mean += g[i]; mean /= g.length; }
    return Math.max(3 * mean, mean + 150);
  };
  // A presented frame: a gap longer than the freeze rule's threshold ends a freeze.
  Receiver.prototype.presented = function (t) {
    var gap = t - this.lastT;
    if (gap > this.threshold()) this.endFreeze(this.lastT, gap);
    this.gaps.push(gap);
    if (this.gaps.length > GAP_HISTORY) this.gaps.shift();
    this.lastT = t;
  };
  // A presented frame whose code is unknown (garbled or not read): it still moves the picture on.
  Receiver.prototype.onUnknown = function (t) {
    if (!this.locked) return;
    this.unknown++;
    this.presented(t);
  };
  Receiver.prototype.onCode = function (c, t, rx) {
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
    this.presented(t);
    pushTuple(this.samples, 3, [c.index, r1(t), rx]);
    this.last = c.index;
  };
  Receiver.prototype.endFreeze = function (start, dur) {
    for (var i = 0; i < this.freezes.length; i++) {
      if (this.freezes[i][0] === start) { this.freezes[i][1] = dur; this.freezes[i][3] = false; return; }
    }
    this.freezes.push([start, dur, false, false]);
  };
  // One quality sample: the picture this element shows now against the reference frame it should show
  // now. That is the frame with the shown code while frames arrive; when the picture is older than one
  // and a half frame intervals (a freeze), the frame the camera has moved on to since (the reference
  // advances by the frames elapsed). Scored at the size sent: a frame received smaller is scaled up.
  // Resolves to false when the shown frame cannot be scored (no code yet, garbled, unreadable).
  Receiver.prototype.sample = function () {
    var self = this, vf, now = nowWall();
    if (!this.locked || !this.w.alive) return Promise.resolve(false);
    try { vf = new VideoFrame(this.w.el); } catch (e) { return Promise.resolve(false); }
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
          got = resize(l.data, w, h, l.stride, rw, rh);
        } else if (l.stride !== w) {
          got = new Uint8Array(w * h);
          for (var r = 0; r < h; r++) got.set(l.data.subarray(r * l.stride, r * l.stride + w), r * w);
        }
        var ref = referenceLuma(rw, rh, c.fps, (c.index + behind) % L);
        self.psnr.push(Math.round(psnr(got, ref, rw * rh) * 100) / 100);
        self.ssim.push(Math.round(ssim(got, ref, rw, rh) * 10000) / 10000);
        return true;
      });
    }).catch(function () { return false; }).then(function (ok) {
      try { vf.close(); } catch (e) { }
      return ok;
    });
  };
  Receiver.prototype.resolvePeer = function () {
    try {
      var lt = window.__lt;
      if (!lt || typeof lt.peerOf !== 'function' || !this.pc) return;
      var stat = { type: 'inbound-rtp', kind: 'video', mid: this.tr.mid, trackIdentifier: this.track.id };
      var ss = this.tr.receiver.getSynchronizationSources();
      if (ss && ss.length) stat.ssrc = ss[0].source;
      var p = lt.peerOf(this.pc, stat);
      if (p !== null && p !== undefined) this.peer = String(p);
    } catch (e) { }
  };
  // Aggregates over (since, now] and the samples gathered since the previous take().
  Receiver.prototype.take = function (since, now, maxSamples) {
    var w = this.w, i;
    this.resolvePeer();
    if (this.locked && w.alive && now - this.lastT > this.threshold()) {
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
    var out = w.counts();
    out.peer = this.peer; out.track = this.track.id; out.fps = this.locked ? this.fps : null;
    out.width = this.width; out.height = this.height;
    out.repeated = this.repeated; out.skipped = this.skipped;
    out.observed_ms = r1(this.firstT === null ? 0 : Math.max(0, now - Math.max(this.firstT, since)));
    out.freeze_count = count; out.freeze_ms = r1(freezeMs); out.freezes = list;
    out.psnr = this.psnr; out.ssim = this.ssim; out.stale = this.stale; out.scaled = this.scaled; out.ended = !w.alive;
    out.c = []; out.t = []; out.rx = [];
    var n = this.samples.length / 3, step = Math.max(1, n / Math.max(1, maxSamples));
    for (var k = 0; k < n && out.c.length < maxSamples; k += step) {
      var j = 3 * Math.floor(k);
      out.c.push(this.samples[j]); out.t.push(this.samples[j + 1]); out.rx.push(this.samples[j + 2]);
    }
    this.samples = []; this.psnr = []; this.ssim = []; this.stale = 0;
    this.repeated = this.skipped = this.scaled = 0;
    return out;
  };
  Receiver.prototype.stop = function () { this.w.alive = false; };

  // ---------------------------------------------------------------- discovery
  var Q = {
    on: false,
    opts: { quality_every_ms: 1000, render: false, scan_ms: 1000 },
    senders: [],
    receivers: [],
    timers: [],
    since: null,
    sampling: false,
  };
  var QUALITY_TICK_MS = 100;  // at most one quality sample per tick: 10 per second per page
  // Score the stream whose last quality sample is the oldest, once it is due.
  function qualityTick() {
    if (!Q.on || Q.sampling) return;
    var now = nowWall(), due = null;
    Q.receivers.forEach(function (r) {
      if (r.locked && r.w.alive && now - r.lastQ >= Q.opts.quality_every_ms && (!due || r.lastQ < due.lastQ)) due = r;
    });
    if (!due) return;
    due.lastQ = now;
    Q.sampling = true;
    due.sample().then(function () { Q.sampling = false; });
  }
  function pcs() {
    try {
      if (window.__lt && typeof window.__lt.pcs === 'function') return window.__lt.pcs() || [];
      return (window.__ltPcs || []).filter(function (pc) { return pc.signalingState !== 'closed'; });
    } catch (e) { return []; }
  }
  function scan() {
    if (!Q.on) return;
    timed(function () {
      var recv = new Map(), liveSend = new Set();
      pcs().forEach(function (pc) {
        var ts = [];
        try { ts = pc.getTransceivers(); } catch (e) { }
        ts.forEach(function (t) {
          var r = t.receiver && t.receiver.track, s = t.sender && t.sender.track;
          if (r && r.kind === 'video' && r.readyState === 'live' && !t.stopped) recv.set(r, { pc: pc, tr: t });
          if (s && s.kind === 'video' && s.readyState === 'live') liveSend.add(s);
        });
      });
      Q.senders = Q.senders.filter(function (s) {
        if (liveSend.has(s.track) && s.w.alive) { liveSend.delete(s.track); return true; }
        s.stop(); return false;
      });
      liveSend.forEach(function (track) { Q.senders.push(new Sender(track)); });
      var shown = new Map();
      Array.prototype.forEach.call(document.querySelectorAll('video'), function (el) {
        if (el.getAttribute('data-lt-quality') === 'self') return;
        var src = el.srcObject, vt = src && src.getVideoTracks ? src.getVideoTracks()[0] : null;
        if (vt && recv.has(vt) && !shown.has(vt)) shown.set(vt, el);
      });
      if (Q.opts.render) {
        recv.forEach(function (r, track) {
          if (shown.has(track)) return;
          var el = document.createElement('video');
          el.muted = true; el.autoplay = true; el.playsInline = true;
          el.setAttribute('data-lt-quality', 'tile');
          el.style.cssText = 'width:160px;height:120px;';
          el.srcObject = new MediaStream([track]);
          document.body.appendChild(el);
          el.play().catch(function () { });
          shown.set(track, el);
        });
      }
      // Streams whose element or track went away end (reported once more by take(), then dropped).
      Q.receivers.forEach(function (r) {
        if (shown.get(r.track) !== r.w.el) r.stop();
        else shown.delete(r.track);
      });
      shown.forEach(function (el, track) {
        var r = recv.get(track);
        Q.receivers.push(new Receiver(el, track, r.pc, r.tr));
      });
      Array.prototype.forEach.call(document.querySelectorAll('video[data-lt-quality="tile"]'), function (el) {
        var vt = el.srcObject && el.srcObject.getVideoTracks()[0];
        if (!vt || !recv.has(vt)) { el.srcObject = null; el.remove(); }
      });
    });
  }

  window.__ltQuality = {
    version: 1,
    // Start measuring (idempotent). opts: quality_every_ms (PSNR/SSIM sample period per stream, 1000; at
    // most 10 samples a second per page),
    // render (create a small <video> for received tracks no element shows; for pages that render none),
    // scan_ms (how often tracks and elements are discovered, 1000).
    start: function (opts) {
      try {
        Object.keys(opts || {}).forEach(function (k) { if (k in Q.opts) Q.opts[k] = opts[k]; });
        if (Q.on) return true;
        Q.on = true;
        Q.since = nowWall();
        Q.timers = [setInterval(scan, Q.opts.scan_ms), setInterval(qualityTick, QUALITY_TICK_MS)];
        scan();
        return true;
      } catch (e) { return false; }
    },
    stop: function () {
      Q.on = false;
      Q.timers.forEach(clearInterval);
      Q.timers = [];
      Q.senders.forEach(function (s) { s.stop(); });
      Q.receivers.forEach(function (r) { r.stop(); });
      Q.senders = []; Q.receivers = [];
    },
    // Everything measured since the previous call; see docs/quality.md for the shape. Never throws.
    take: function (opts) {
      var maxSamples = (opts && opts.max_samples) || 64;
      var now = nowWall(), since = Q.since === null ? now : Q.since, out;
      try {
        if (Q.on) scan();
        out = {
          v: 1, on: Q.on, ts: r1(now), since: r1(since),
          sent: Q.senders.map(function (s) { return s.take(); }),
          recv: Q.receivers.map(function (r) { return r.take(since, now, maxSamples); }),
          cost_ms: 0,
        };
        Q.senders = Q.senders.filter(function (s) { return s.w.alive; });
        Q.receivers = Q.receivers.filter(function (r) { return r.w.alive; });
      } catch (e) {
        out = { v: 1, on: Q.on, ts: r1(now), since: r1(since), sent: [], recv: [], cost_ms: 0, error: String(e) };
      }
      out.cost_ms = r1(cost);
      cost = 0;
      Q.since = now;
      return out;
    },
    state: function () { return { on: Q.on, senders: Q.senders.length, receivers: Q.receivers.length }; },
    // The pure parts, for tests and benchmarks: decode(luma, stride, rows, width), referenceLuma(w, h,
    // fps, index), psnr(a, b, n), ssim(a, b, w, h), resize(src, sw, sh, stride, dw, dh), stripRow(h).
    lib: { decode: decode, referenceLuma: referenceLuma, psnr: psnr, ssim: ssim, resize: resize, stripRow: stripRow, crc8: crc8 },
  };
})();
