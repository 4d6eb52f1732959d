// loadtest: per-sample WebRTC stats probe, run with WebDriver execute/async.
// The last argument is the callback; it is called exactly once with
//   { ts, path, probe_missing, state, rows: [ {peer, direction, kind, bitrate_kbps, fps, width, height,
//     packets_lost, loss_ratio, jitter_ms, rtt_ms, freeze_count, freeze_ms, concealed_ratio,
//     quality_limitation, remote_address, bridge, talk_ratio, solo_ratio, bytes} ] }
// talk_ratio / solo_ratio (received audio, only while assets/js/talk-meter.js runs): share of the
// interval the peer was heard talking, and talking as the only remote speaker.
// `bridge` is false for rows of a connection that is not the media server's (Jitsi's P2P connection:
// window.__lt.isBridge(pc)); the bridge attribution reads only bridge rows.
// Works on any page that defines window.__lt (state(), pcs(), peerOf(pc, stat)).
// Rates are deltas against the previous sample of the same stats object, kept in
// window.__ltStatsPrev (or the client's own __lt.statsPrev), and use RTCStats.timestamp (not wall clock). Never throws.
var __ltDone = arguments[arguments.length - 1];
(function (done) {
  'use strict';
  var called = false;
  var rows = [];
  var state = null;
  var missing = false;  // window.__lt is gone (the page reloaded or navigated): the driver re-injects
  function finish() {
    if (called) return;
    called = true;
    var path = null;
    try { path = String(window.location.pathname); } catch (e) { }
    try { done({ ts: Date.now(), path: path, probe_missing: missing, state: state, rows: rows }); } catch (e) { /* nothing left to do */ }
  }
  function num(v) { return (typeof v === 'number' && isFinite(v)) ? v : null; }
  function round(v, digits) {
    if (v === null) return null;
    var m = Math.pow(10, digits);
    return Math.round(v * m) / m;
  }
  function addr(c) {
    if (!c) return null;
    var a = c.address !== undefined && c.address !== null ? c.address : c.ip;
    if (a === undefined || a === null || a === '' || c.port === undefined || c.port === null) return null;
    return (String(a).indexOf(':') >= 0 ? '[' + a + ']' : a) + ':' + c.port;
  }
  function defaultState(detail) {
    return { phase: 'loading', joined: false, ice: null, error: null, members: null, detail: detail };
  }

  var guard = setTimeout(function () {
    try { console.warn('[lt-stats] getStats timed out, returning partial sample'); } catch (e) { }
    finish();
  }, 8000);

  try {
    var lt = window.__lt;
    if (!lt || typeof lt.state !== 'function') {
      missing = true;
      state = defaultState('window.__lt missing');
      clearTimeout(guard);
      finish();
      return;
    }
    try { state = lt.state(); } catch (e) {
      state = { phase: 'failed', joined: false, ice: null, error: 'state() threw: ' + e, members: null, detail: '' };
    }
    if (!state || typeof state !== 'object') state = defaultState('state() returned ' + typeof state);

    var pcs = [];
    try { pcs = (typeof lt.pcs === 'function' ? lt.pcs() : []) || []; } catch (e) { pcs = []; }

    // A page with several clients: each client keeps its own previous sample (lt.statsPrev).
    var prevStore = lt.statsPrev && typeof lt.statsPrev === 'object' ? lt.statsPrev : window.__ltStatsPrev;
    if (!prevStore || typeof prevStore !== 'object') prevStore = window.__ltStatsPrev = {};
    if (!window.__ltPcIds) window.__ltPcIds = new WeakMap();
    if (!window.__ltPcSeq) window.__ltPcSeq = 0;
    var seen = {};

    var jobs = pcs.map(function (pc) {
      var pcId = window.__ltPcIds.get(pc);
      if (pcId === undefined) { pcId = ++window.__ltPcSeq; window.__ltPcIds.set(pc, pcId); }
      var bridgePc = true;
      try { bridgePc = typeof lt.isBridge === 'function' ? lt.isBridge(pc) !== false : true; } catch (e) { bridgePc = true; }
      return Promise.resolve().then(function () { return pc.getStats(); }).then(function (report) {
        var byId = {};
        var list = [];
        report.forEach(function (s) { byId[s.id] = s; list.push(s); });

        // selected candidate pair per transport
        var pairCache = {};
        function selectedPair(transportId) {
          var key = transportId || '';
          if (pairCache.hasOwnProperty(key)) return pairCache[key];
          var pair = null;
          var t = transportId ? byId[transportId] : null;
          if (!t) { // any transport with a selected pair
            for (var i = 0; i < list.length && !t; i++) if (list[i].type === 'transport' && list[i].selectedCandidatePairId) t = list[i];
          }
          if (t && t.selectedCandidatePairId) pair = byId[t.selectedCandidatePairId] || null;
          if (!pair) {
            var best = null;
            list.forEach(function (s) {
              if (s.type !== 'candidate-pair' || !s.nominated || s.state !== 'succeeded') return;
              if (transportId && s.transportId && s.transportId !== transportId) return;
              if (!best || (s.bytesReceived || 0) + (s.bytesSent || 0) > (best.bytesReceived || 0) + (best.bytesSent || 0)) best = s;
            });
            pair = best;
          }
          pairCache[key] = pair;
          return pair;
        }
        function remoteAddress(pair) { return pair ? addr(byId[pair.remoteCandidateId]) : null; }

        list.forEach(function (s) {
          if (s.type !== 'inbound-rtp' && s.type !== 'outbound-rtp') return;
          var recv = s.type === 'inbound-rtp';
          var kind = s.kind || s.mediaType;
          if (kind !== 'audio' && kind !== 'video') return;
          var bytes = num(recv ? s.bytesReceived : s.bytesSent);
          if (s.ssrc === undefined && bytes === null) return;

          var key = pcId + '|' + s.id;
          seen[key] = true;
          var frames = num(recv ? s.framesDecoded : s.framesEncoded);
          var cur = { t: num(s.timestamp), bytes: bytes, frames: frames, lost: num(s.packetsLost), pkts: num(s.packetsReceived),
                      conc: num(s.concealedSamples), samples: num(s.totalSamplesReceived) };
          var prev = prevStore[key];
          prevStore[key] = cur;
          var dt = (prev && cur.t !== null && prev.t !== null) ? (cur.t - prev.t) / 1000 : 0;
          var have = prev && dt > 0;

          var bitrate = null, fps = null;
          if (have && bytes !== null && prev.bytes !== null && bytes >= prev.bytes) bitrate = (bytes - prev.bytes) * 8 / dt / 1000;
          if (have && kind === 'video' && frames !== null && prev.frames !== null && frames >= prev.frames) fps = (frames - prev.frames) / dt;

          var pair = selectedPair(s.transportId);
          var row = {
            peer: '',
            direction: recv ? 'recv' : 'send',
            kind: kind,
            bitrate_kbps: round(bitrate, 1),
            fps: round(fps, 2),
            width: num(s.frameWidth),
            height: num(s.frameHeight),
            packets_lost: null,
            loss_ratio: null,
            jitter_ms: null,
            rtt_ms: null,
            freeze_count: null,
            freeze_ms: null,
            concealed_ratio: null,
            quality_limitation: null,
            remote_address: remoteAddress(pair),
            bridge: bridgePc,
            talk_ratio: null,
            solo_ratio: null,
            bytes: bytes,
          };
          if (recv) {
            var peer = null;
            try { peer = typeof lt.peerOf === 'function' ? lt.peerOf(pc, s) : null; } catch (e) { peer = null; }
            row.peer = (peer === null || peer === undefined || peer === '') ? 'ssrc:' + s.ssrc : String(peer);
            row.packets_lost = cur.lost;
            if (have && cur.lost !== null && prev.lost !== null && cur.pkts !== null && prev.pkts !== null) {
              var dl = cur.lost - prev.lost, dr = cur.pkts - prev.pkts;
              if (dl < 0) dl = 0;
              if (dr > 0 || dl > 0) row.loss_ratio = round(dl / (dl + Math.max(dr, 0)), 4);
            }
            row.jitter_ms = round(num(s.jitter) === null ? null : s.jitter * 1000, 2);
            row.rtt_ms = round(pair && num(pair.currentRoundTripTime) !== null ? pair.currentRoundTripTime * 1000 : null, 2);
            if (kind === 'audio' && have && cur.conc !== null && prev.conc !== null && cur.samples !== null && prev.samples !== null) {
              // Share of the interval's played-out samples that were concealed (synthesised for lost or late audio).
              var dc = cur.conc - prev.conc, ds = cur.samples - prev.samples;
              if (ds > 0 && dc >= 0) row.concealed_ratio = round(Math.min(dc / ds, 1), 4);
            }
            if (kind === 'audio' && window.__ltTalk && window.__ltTalk.peers[row.peer]) {
              var tm = window.__ltTalk, tp = tm.peers[row.peer];
              var talkPrev = window.__ltTalkPrev || (window.__ltTalkPrev = {});
              var q = talkPrev[row.peer];
              if (q && tm.elapsed_ms > q.elapsed) {
                var span = tm.elapsed_ms - q.elapsed;
                row.talk_ratio = round(Math.min(1, (tp.talk_ms - q.talk) / span), 4);
                row.solo_ratio = round(Math.min(1, (tp.solo_ms - q.solo) / span), 4);
              }
              talkPrev[row.peer] = { talk: tp.talk_ms, solo: tp.solo_ms, elapsed: tm.elapsed_ms };
            }
            if (kind === 'video') {
              row.freeze_count = num(s.freezeCount);
              row.freeze_ms = round(num(s.totalFreezesDuration) === null ? null : s.totalFreezesDuration * 1000, 1);
            }
          } else {
            var ri = s.remoteId ? byId[s.remoteId] : null;
            if (!ri) {
              for (var i = 0; i < list.length; i++) {
                if (list[i].type === 'remote-inbound-rtp' && (list[i].localId === s.id || (list[i].ssrc === s.ssrc && list[i].kind === kind))) { ri = list[i]; break; }
              }
            }
            if (ri) {
              row.packets_lost = num(ri.packetsLost);
              row.loss_ratio = round(num(ri.fractionLost), 4);
              row.jitter_ms = round(num(ri.jitter) === null ? null : ri.jitter * 1000, 2);
              row.rtt_ms = round(num(ri.roundTripTime) === null ? null : ri.roundTripTime * 1000, 2);
            }
            row.quality_limitation = (typeof s.qualityLimitationReason === 'string') ? s.qualityLimitationReason : null;
          }
          rows.push(row);
        });
      }).catch(function (e) {
        try { console.warn('[lt-stats] getStats failed: ' + e); } catch (x) { }
      });
    });

    Promise.all(jobs).then(function () {
      // forget streams that are gone
      Object.keys(prevStore).forEach(function (k) { if (!seen[k]) delete prevStore[k]; });
      rows.sort(function (a, b) {
        return (a.direction + a.kind + a.peer) < (b.direction + b.kind + b.peer) ? -1 :
          (a.direction + a.kind + a.peer) > (b.direction + b.kind + b.peer) ? 1 : 0;
      });
      clearTimeout(guard);
      finish();
    }, function () { clearTimeout(guard); finish(); });
  } catch (e) {
    try { console.warn('[lt-stats] ' + e); } catch (x) { }
    if (!state) state = defaultState('stats.js error: ' + e);
    clearTimeout(guard);
    finish();
  }
})(__ltDone);
