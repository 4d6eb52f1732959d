// loadtest: receive fidelity `discard` (query recv_video=discard), loaded after the page's recording
// wrapper and before adapter.js/janus.js. Every received video frame is dropped before the decoder by an
// encoded-frame transform on every video receiver, as Jitsi's runInLiteMode does: the server still
// forwards and the network still carries every stream (bytes and packets keep counting in getStats),
// but framesDecoded stays 0. Prefers RTCRtpScriptTransform (a worker whose transform writes nothing);
// falls back to the legacy createEncodedStreams (which then needs every sender piped through unchanged).
// window.__ltDiscard = { mode, receivers, errors } says what was done.
(function () {
  'use strict';
  var q = new URLSearchParams(window.location.search);
  if (q.get('recv_video') !== 'discard') return;
  var info = window.__ltDiscard = { mode: null, receivers: 0, errors: [] };
  var Native = window.RTCPeerConnection;
  if (!Native) { info.mode = 'unsupported'; return; }
  var Script = window.RTCRtpScriptTransform;
  var worker = null;
  if (Script) {
    var src = 'onrtctransform = function (e) {' +
      ' e.transformer.readable.pipeTo(new WritableStream()).catch(function () { }); };';
    worker = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })));
    info.mode = 'script-transform';
  } else {
    info.mode = 'encoded-streams';
  }
  function failed(e) {
    info.errors.push(String(e));
    try { console.error('[lt] discard: ' + e); } catch (x) { }
  }
  function discard(receiver) {
    if (!receiver || receiver.__ltDiscard || !receiver.track || receiver.track.kind !== 'video') return;
    receiver.__ltDiscard = true;
    try {
      if (worker) {
        receiver.transform = new Script(worker, {});
      } else {
        receiver.createEncodedStreams().readable.pipeTo(new WritableStream()).catch(function () { });
      }
      info.receivers++;
    } catch (e) { failed(e); }
  }
  // Legacy streams are all-or-nothing per connection: senders pass their frames through unchanged.
  function passThrough(sender) {
    if (!sender || sender.__ltPass) return;
    sender.__ltPass = true;
    try {
      var s = sender.createEncodedStreams();
      s.readable.pipeTo(s.writable).catch(function () { });
    } catch (e) { failed(e); }
  }
  var Wrapped = class extends Native {
    constructor(cfg, opt) {
      if (!worker) cfg = Object.assign({}, cfg || {}, { encodedInsertableStreams: true });
      super(cfg, opt);
      var pc = this;
      pc.addEventListener('track', function (ev) { discard(ev.receiver); });
      if (!worker) {
        var addTrack = pc.addTrack.bind(pc);
        pc.addTrack = function () { var s = addTrack.apply(null, arguments); passThrough(s); return s; };
        var addTransceiver = pc.addTransceiver.bind(pc);
        pc.addTransceiver = function () {
          var t = addTransceiver.apply(null, arguments);
          if (t && t.direction !== 'recvonly' && t.direction !== 'inactive') passThrough(t.sender);
          return t;
        };
      }
    }
  };
  window.RTCPeerConnection = Wrapped;
  if (window.webkitRTCPeerConnection) window.webkitRTCPeerConnection = Wrapped;
})();
