// loadtest: what the receivers heard, per remote speaker, every 100 ms (installed with
// `[load] speakers = "p59"`, again after a reload). For each received audio stream of
// window.__lt.pcs() it reads the inbound-rtp totalAudioEnergy and totalSamplesDuration deltas of the
// tick: a mean power above -40 dBFS (1e-4) counts as talking. It accumulates per peer (named by
// window.__lt.peerOf, like stats.js) the milliseconds talked and talked alone (the only remote speaker
// heard), in window.__ltTalk = { elapsed_ms, peers: { <peer>: { talk_ms, solo_ms } } }; stats.js turns
// the deltas into talk_ratio / solo_ratio per received audio row. Idempotent; never throws.
(function () {
  'use strict';
  var w = window;
  if (w.__ltTalk && w.__ltTalk.running) return;
  var TICK_MS = 100;
  var THRESHOLD = 1e-4;
  var M = w.__ltTalk = { running: true, elapsed_ms: 0, peers: {} };
  var prev = {};   // stat id -> { energy, dur }
  var last = null;
  var busy = false;
  function tick() {
    if (busy) return;
    var lt = w.__lt;
    if (!lt || typeof lt.pcs !== 'function') return;
    busy = true;
    var now = performance.now();
    var pcs = [];
    try { pcs = lt.pcs() || []; } catch (e) { pcs = []; }
    Promise.all(pcs.map(function (pc) {
      return pc.getStats().then(function (report) {
        var active = [];
        report.forEach(function (s) {
          if (s.type !== 'inbound-rtp' || (s.kind || s.mediaType) !== 'audio') return;
          var peer = null;
          try { peer = typeof lt.peerOf === 'function' ? lt.peerOf(pc, s) : null; } catch (e) { peer = null; }
          peer = (peer === null || peer === undefined || peer === '') ? 'ssrc:' + s.ssrc : String(peer);
          if (!M.peers[peer]) M.peers[peer] = { talk_ms: 0, solo_ms: 0 };
          var e = typeof s.totalAudioEnergy === 'number' ? s.totalAudioEnergy : null;
          var d = typeof s.totalSamplesDuration === 'number' ? s.totalSamplesDuration : null;
          var p = prev[s.id];
          prev[s.id] = { energy: e, dur: d };
          if (p && e !== null && d !== null && d > p.dur && (e - p.energy) / (d - p.dur) > THRESHOLD) {
            active.push(peer);
          }
        });
        return active;
      }, function () { return []; });
    })).then(function (lists) {
      var active = [].concat.apply([], lists);
      var dt = last === null ? 0 : now - last;
      last = now;
      M.elapsed_ms += dt;
      active.forEach(function (peer) {
        M.peers[peer].talk_ms += dt;
        if (active.length === 1) M.peers[peer].solo_ms += dt;
      });
      busy = false;
    }, function () { busy = false; });
  }
  M.timer = setInterval(tick, TICK_MS);
})();
