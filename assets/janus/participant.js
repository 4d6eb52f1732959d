// loadtest: headless Janus VideoRoom participant (janus.js 1.1.2, multistream).
// Query: server, room, display, audio, video, recv_audio, publishers, quality, impair (tests only).
// See README.md.
// Exposes window.__lt (contract used by the loadtest Rust side and assets/js/stats.js).
// Clients per page ([load] participants_per_page): the page's query starts client 0; every further
// participant of the page calls window.__ltAddClient(query) and gets its own client (its own Janus
// session, publisher, subscriber, PCs, quality meter) at index i of window.__ltClients. The driver runs
// window.__ltUse(i) before each of that participant's scripts, which points window.__lt (and
// window.__ltQuality) at client i: commands to one page run one at a time, so probes see their own.
(function () {
  'use strict';

  var PLUGIN = 'janus.plugin.videoroom';
  var OP_TIMEOUT_MS = 15000;     // one subscriber request (incl. renegotiation)
  var LEAVE_TIMEOUT_MS = 5000;   // leave() resolves after this at most
  var MEMBERS_POLL_MS = 2000;    // listparticipants period while joined

  function flagOf(q, name, dflt) {
    var v = q.get(name);
    if (v === null || v === '') return dflt;
    return v === '1' || v === 'true' || v === 'yes';
  }
  function roomId(raw) { return /^\d+$/.test(raw) ? Number(raw) : raw; }

  // ---------------------------------------------------------------- one client
  function Client(q, index) {
  var flag = function (name, dflt) { return flagOf(q, name, dflt); };
  var cfg = {
    server: q.get('server') || '',
    roomRaw: q.get('room') || '',
    display: q.get('display') || ('p' + Math.floor(Math.random() * 1e6)),
    audio: flag('audio', false),
    video: flag('video', false),
    recvAudio: flag('recv_audio', false),
    publishers: parseInt(q.get('publishers') || '64', 10) || 64,
    quality: flag('quality', true),
    impair: q.get('impair') || '',
  };
  var room = roomId(cfg.roomRaw);
  var publishing = cfg.audio || cfg.video;
  var lt = null;             // this client's contract object (window.__lt while selected)

  // ---------------------------------------------------------------- state
  var st = {
    phase: 'loading',
    error: null,
    members: null,
    step: 'loading',
    t0: Date.now(),
    joinedAt: null,
  };
  var janus = null;
  var pub = null;            // publisher handle
  var myId = null;           // our publisher id in the room
  var leaving = false;
  var leavePromise = null;
  var membersTimer = null;
  var membersBusy = false;

  // subscriber (one multistream handle)
  var sub = {
    handle: null,
    joined: false,           // 'attached' received
    feeds: {},               // feedId -> { display, mids: {pubMid: true} } (what we asked for)
    midMap: {},              // subscriber mid -> feed display
    queue: [],
    busy: false,
    waiter: null,            // { events: [...], resolve } for the op in flight
    answering: Promise.resolve(),
  };
  var publishersKnown = {};  // feedId -> display (active publishers other than us)

  var tag = index === 0 ? '[lt]' : '[lt ' + cfg.display + ']';
  function log() { try { console.log.apply(console, [tag].concat([].slice.call(arguments))); } catch (e) { } }
  function warn() { try { console.warn.apply(console, [tag].concat([].slice.call(arguments))); } catch (e) { } }
  function errText(e) {
    if (e === null || e === undefined) return 'unknown error';
    if (typeof e === 'string') return e;
    if (e.name || e.message) return (e.name ? e.name + ': ' : '') + (e.message || '');
    try { return JSON.stringify(e); } catch (x) { return String(e); }
  }
  function setStep(s) {
    st.step = s;
    try {
      var id = index === 0 ? 'status' : 'status-' + index;
      var el = document.getElementById(id);
      if (!el && document.body) { el = document.createElement('pre'); el.id = id; document.body.appendChild(el); }
      if (el) el.textContent = st.phase + ': ' + s;
    } catch (e) { }
  }
  function fail(where, e) {
    if (st.phase === 'failed' || st.phase === 'left' || leaving) {
      warn('error after ' + st.phase + ' (' + where + '):', errText(e));
      return;
    }
    st.phase = 'failed';
    st.error = where + ': ' + errText(e);
    console.error(tag + ' FAILED ' + st.error);
    setStep('failed');
    stopMembersPoll();
  }
  function markJoined() {
    if (st.phase !== 'connecting') return;
    st.phase = 'joined';
    st.joinedAt = Date.now();
    log('joined room ' + cfg.roomRaw + ' as ' + cfg.display + ' in ' + (st.joinedAt - st.t0) + ' ms');
    setStep('joined');
    startMembersPoll();
  }
  function withTimeout(p, ms) {
    return Promise.race([p, new Promise(function (r) { setTimeout(r, ms); })]);
  }
  // janus.js send() as a promise resolving with the synchronous plugin data (or undefined on ack)
  function sendP(handle, message, jsep) {
    return new Promise(function (resolve, reject) {
      var req = { message: message, success: resolve, error: function (e) { reject(e); } };
      if (jsep) req.jsep = jsep;
      handle.send(req);
    });
  }

  // ---------------------------------------------------------------- members
  function refreshMembers() {
    if (!pub || membersBusy || st.phase !== 'joined') return;
    membersBusy = true;
    sendP(pub, { request: 'listparticipants', room: room }).then(function (d) {
      membersBusy = false;
      if (d && Array.isArray(d.participants)) st.members = d.participants.length;
    }, function (e) {
      membersBusy = false;
      warn('listparticipants failed', errText(e));
      if (window.__ltSessionGone(errText(e))) sessionLost(errText(e));
    });
  }

  // ---------------------------------------------------------------- a session that died
  // The server ended this client's session (a `destroy` from elsewhere, a session timeout, an admin):
  // Janus tells the session nothing then, and janus.js only logs the 458 its requests get (over HTTP the
  // long poll fails much later, as "Lost connection"). The members poll's 458/459 is the first sign: the
  // client fails with that reason, closes its own connections (no media into the void) and stops
  // janus.js's long poll and keepalive; its page-mates' sessions are untouched.
  function sessionLost(why) {
    if (st.phase === 'failed' || st.phase === 'left' || leaving) return;
    fail(sessionTag(), 'session gone on the server (' + why + ')');
    st.terminal = true;  // nothing can bring the session back: the driver fails it at once
    ownPcs().forEach(function (pc) { try { pc.close(); } catch (e) { } });
    try { janus.destroy({ cleanupHandles: true, notifyDestroyed: false }); } catch (e) { warn('destroy', errText(e)); }
  }
  // `janus session <id>` once the session exists, else `janus`.
  function sessionTag() {
    var sid = null;
    try { sid = janus && janus.getSessionId ? janus.getSessionId() : null; } catch (e) { }
    return sid ? 'janus session ' + sid : 'janus';
  }
  function startMembersPoll() {
    refreshMembers();
    if (!membersTimer) membersTimer = setInterval(refreshMembers, MEMBERS_POLL_MS);
  }
  function stopMembersPoll() {
    if (membersTimer) { clearInterval(membersTimer); membersTimer = null; }
  }

  // ---------------------------------------------------------------- subscriber queue
  function enqueue(op) { if (leaving) return; sub.queue.push(op); pump(); }
  function pump() {
    if (sub.busy || leaving || st.phase === 'failed') return;
    var op = sub.queue.shift();
    if (!op) return;
    sub.busy = true;
    var t0 = Date.now();
    var done = function () {
      log('subscriber op ' + op.kind + ' done in ' + (Date.now() - t0) + ' ms');
      sub.busy = false; sub.waiter = null; setTimeout(pump, 0);
    };
    runOp(op).then(done, function (e) { warn('subscriber op failed', op.kind, errText(e)); done(); });
  }
  // resolves when the subscriber handle receives one of `events` (or an error), answering any offer first
  function waitFor(events) {
    return withTimeout(new Promise(function (resolve) { sub.waiter = { events: events, resolve: resolve }; }), OP_TIMEOUT_MS)
      .then(function (r) { if (!r) warn('subscriber op timed out waiting for', events.join('|')); return r; });
  }
  function wanted(stream) {
    if (!stream || stream.disabled) return false;
    if (stream.type === 'video') return true;
    if (stream.type === 'audio') return cfg.recvAudio;
    return false;
  }
  function runOp(op) {
    if (op.kind === 'subscribe') {
      // recompute against the current state (feeds may have left while queued)
      var list = [];
      op.streams.forEach(function (s) {
        if (!publishersKnown.hasOwnProperty(s.feed)) return;
        var f = sub.feeds[s.feed];
        if (f && f.mids[s.mid]) return;
        list.push(s);
      });
      if (list.length === 0) return Promise.resolve();
      list.forEach(function (s) {
        if (!sub.feeds[s.feed]) sub.feeds[s.feed] = { display: publishersKnown[s.feed], mids: {} };
        sub.feeds[s.feed].mids[s.mid] = true;
      });
      var streams = list.map(function (s) { return { feed: s.feed, mid: s.mid }; });
      // on failure forget what we asked for, so a later publishers event can retry
      var forget = function () {
        list.forEach(function (s) { if (sub.feeds[s.feed]) delete sub.feeds[s.feed].mids[s.mid]; });
      };
      return ensureSubHandle().then(function (h) {
        var msg, evs;
        if (!sub.joined) {
          msg = { request: 'join', room: room, ptype: 'subscriber', streams: streams };
          evs = ['attached'];
        } else {
          msg = { request: 'update', subscribe: streams };
          evs = ['updated'];
        }
        var w = waitFor(evs);
        return sendP(h, msg).then(function () { return w; });
      }).then(function (r) {
        if (r && r.error) forget();
      }, function (e) { forget(); throw e; });
    }
    if (op.kind === 'unsubscribe') {
      var f = sub.feeds[op.feed];
      delete sub.feeds[op.feed];
      if (!f || !sub.handle || !sub.joined) return Promise.resolve();
      var w = waitFor(['updated']);
      return sendP(sub.handle, { request: 'unsubscribe', streams: [{ feed: op.feed }] }).then(function () { return w; });
    }
    return Promise.resolve();
  }
  function ensureSubHandle() {
    if (sub.handle) return Promise.resolve(sub.handle);
    return new Promise(function (resolve, reject) {
      janus.attach({
        plugin: PLUGIN,
        opaqueId: 'lt-sub-' + cfg.display,
        success: function (h) { sub.handle = h; log('subscriber handle attached', h.getId()); resolve(h); },
        error: function (e) { reject(e); },
        iceState: function (s) { log('subscriber ICE', s); },
        webrtcState: function (on, reason) { log('subscriber PC ' + (on ? 'up' : 'down') + (reason ? ' (' + reason + ')' : '')); },
        slowLink: function (up, lost, mid) { warn('subscriber slowLink', up ? 'up' : 'down', lost, mid); },
        onmessage: onSubMessage,
        onlocaltrack: function () { },
        onremotetrack: function (track, mid, on) {
          log('remote track', track && track.kind, 'mid=' + mid, on ? 'on' : 'off', sub.midMap[mid] || '?');
          // Received audio is played out through an <audio> element, as a conferencing app does: without a
          // sink the browser would not decode it (and concealment could not be measured).
          var id = 'lt-audio-' + mid;
          var el = document.getElementById(id);
          if (track && track.kind === 'audio' && on && !el) {
            el = document.createElement('audio');
            el.id = id;
            el.autoplay = true;
            el.srcObject = new MediaStream([track]);
            document.body.appendChild(el);
            el.play().catch(function (e) { warn('audio play failed', e); });
          } else if (!on && el) {
            el.srcObject = null;
            el.remove();
          }
        },
        oncleanup: function () { log('subscriber cleanup'); },
        detached: function () { log('subscriber detached'); },
      });
    });
  }
  function onSubMessage(msg, jsep) {
    var ev = msg && msg.videoroom;
    if (msg && Array.isArray(msg.streams)) {
      msg.streams.forEach(function (s) {
        if (s && s.mid !== undefined && s.mid !== null && s.feed_display !== undefined && s.feed_display !== null)
          sub.midMap[String(s.mid)] = String(s.feed_display);
      });
    }
    if (ev === 'attached') sub.joined = true;
    if (msg && msg.error) warn('subscriber error', msg.error_code, msg.error);
    var w = sub.waiter;
    var settle = function (r) {
      if (w && sub.waiter === w && (msg.error || w.events.indexOf(ev) >= 0)) w.resolve(r || { ok: true });
    };
    if (jsep) {
      sub.answering = sub.answering.then(function () { return answer(jsep); }).then(function () { settle(); }, function (e) {
        warn('subscriber answer failed', errText(e));
        settle({ error: errText(e) });
      });
    } else {
      settle(msg && msg.error ? { error: msg.error } : null);
    }
  }
  function answer(jsep) {
    var h = sub.handle;
    return new Promise(function (resolve, reject) {
      h.createAnswer({
        jsep: jsep,
        // no audio/video tracks: janus.js accepts the offered m-lines as recvonly
        tracks: [{ type: 'data' }],
        success: function (ours) {
          h.send({ message: { request: 'start', room: room }, jsep: ours, success: function () { resolve(); }, error: reject });
        },
        error: reject,
      });
    });
  }

  // ---------------------------------------------------------------- publishers bookkeeping
  function onPublishers(list) {
    var streams = [];
    (list || []).forEach(function (p) {
      if (!p || p.id === undefined || p.id === null || p.id === myId || p.dummy) return;
      publishersKnown[p.id] = String(p.display !== undefined && p.display !== null ? p.display : p.id);
      (p.streams || []).forEach(function (s) { if (wanted(s)) streams.push({ feed: p.id, mid: s.mid }); });
    });
    if (streams.length) enqueue({ kind: 'subscribe', streams: streams });
    if (st.phase === 'joined') refreshMembers();
  }
  function onPublisherGone(id) {
    if (id === undefined || id === null || id === 'ok' || id === myId) return;
    delete publishersKnown[id];
    if (sub.feeds[id]) enqueue({ kind: 'unsubscribe', feed: id });
    if (st.phase === 'joined') refreshMembers();
  }

  // ---------------------------------------------------------------- publisher
  function onPubMessage(msg, jsep) {
    var ev = msg && msg.videoroom;
    if (msg && msg.error) {
      if (leaving) { warn('publisher error while leaving', msg.error); return; }
      fail('videoroom', msg.error_code + ' ' + msg.error);
      return;
    }
    if (ev === 'joined') {
      myId = msg.id;
      log('publisher joined, id=' + myId + ', existing publishers=' + ((msg.publishers || []).length));
      onPublishers(msg.publishers);
      if (publishing) publish(); else markJoined();
    } else if (ev === 'event') {
      if (msg.publishers) onPublishers(msg.publishers);
      if (msg.leaving !== undefined) onPublisherGone(msg.leaving);
      if (msg.unpublished !== undefined) onPublisherGone(msg.unpublished);
      if (msg.kicked !== undefined) onPublisherGone(msg.kicked);
    } else if (ev === 'destroyed') {
      fail('videoroom', 'room destroyed');
    }
    if (jsep) {
      pub.handleRemoteJsep({
        jsep: jsep,
        success: function () { if (publishing) markJoined(); },
        error: function (e) { fail('publisher answer', e); },
      });
    }
  }
  function publish() {
    setStep('publishing');
    var tracks = [];
    if (cfg.audio) tracks.push({ type: 'audio', capture: true, recv: false });
    if (cfg.video) tracks.push({ type: 'video', capture: true, recv: false });
    pub.createOffer({
      tracks: tracks,
      success: function (jsep) {
        var body = { request: 'configure', audio: cfg.audio, video: cfg.video };
        pub.send({ message: body, jsep: jsep, error: function (e) { fail('configure', e); } });
      },
      error: function (e) { fail('getUserMedia/createOffer', e); },
    });
  }
  // ---------------------------------------------------------------- impairment (tests only)
  // `impair=delay:150,drop:0.1` puts an encoded-frame transform on the video sender that holds every frame
  // 150 ms and drops every 10th frame (frames n with floor(n*share) > floor((n-1)*share)): a known delay
  // and loss that the quality measurement must find again (`impair=delay:0` installs it idle).
  // window.__ltImpair = { delay, drop, frames, dropped, heldMsMean, set({delay, drop}) } changes it during the
  // call; heldMsMean is the hold frames really got since the last set (timers fire late on a busy machine).
  function impairWorker() {
    var o = { delay: 0, drop: 0 }, n = 0, dropped = 0, share = 0, held = 0, heldMs = 0;
    self.onmessage = function (m) { o = m.data; share = 0; held = 0; heldMs = 0; };
    self.onrtctransform = function (ev) {
      o = ev.transformer.options || o;
      var out = ev.transformer.writable.getWriter();
      ev.transformer.readable.pipeTo(new WritableStream({
        write: function (frame) {
          n++;
          if (n % 10 === 0) self.postMessage({ frames: n, dropped: dropped, held: held, heldMs: heldMs });
          var next = share + (o.drop || 0);
          if (Math.floor(next) !== Math.floor(share)) { share = next; dropped++; return; }
          share = next;
          // The hold a frame really got (a timer fires late on a busy machine) is counted.
          var t0 = performance.now();
          if (o.delay > 0) setTimeout(function () { held++; heldMs += performance.now() - t0; out.write(frame); }, o.delay);
          else out.write(frame);
        },
      }));
    };
  }
  // Chromium ignores a transform set after createOffer, so it goes on the video sender as janus.js adds it.
  function impair(spec) {
    var opts = { delay: 0, drop: 0 };
    spec.split(',').forEach(function (kv) {
      var p = kv.split(':');
      if (p[0] in opts) opts[p[0]] = Number(p[1]) || 0;
    });
    var proto = window.RTCPeerConnection.prototype, addTrack = proto.addTrack;
    proto.addTrack = function (track) {
      var sender = addTrack.apply(this, arguments);
      if (track && track.kind === 'video' && !window.__ltImpair) {
        try {
          var src = '(' + impairWorker.toString() + ')();';
          var worker = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })));
          var state = window.__ltImpair = {
            delay: opts.delay, drop: opts.drop, frames: 0, dropped: 0, heldMsMean: null,
            set: function (o) {
              state.delay = o.delay || 0; state.drop = o.drop || 0;
              worker.postMessage({ delay: state.delay, drop: state.drop });
              log('impairment now: delay ' + state.delay + ' ms, drop ' + state.drop);
            },
          };
          worker.onmessage = function (m) {
            state.frames = m.data.frames; state.dropped = m.data.dropped;
            state.heldMsMean = m.data.held > 0 ? m.data.heldMs / m.data.held : null;
          };
          sender.transform = new RTCRtpScriptTransform(worker, opts);
          log('impairment on the video sender: delay ' + opts.delay + ' ms, drop ' + opts.drop);
        } catch (e) { fail('impair', e); }
      }
      return sender;
    };
  }

  function ensureRoom() {
    setStep('checking room');
    return sendP(pub, { request: 'exists', room: room }).then(function (d) {
      if (d && d.error_code === 430 && typeof room === 'number') {
        // server uses string ids (string_ids = true): retry with the raw string
        warn('room id type rejected (' + d.error + '), retrying as string');
        room = cfg.roomRaw;
        return sendP(pub, { request: 'exists', room: room });
      }
      return d;
    }).then(function (d) {
      if (!d) throw 'no answer to exists';
      if (d.error_code) throw 'exists: ' + d.error_code + ' ' + d.error;
      if (d.exists) return;
      setStep('creating room');
      return sendP(pub, { request: 'create', room: room, permanent: false, publishers: cfg.publishers, bitrate: 512000 })
        .then(function (c) {
          if (c && c.error_code === 427) { log('room created concurrently by another participant'); return; }
          if (!c || c.error_code) throw 'create: ' + (c ? c.error_code + ' ' + c.error : 'no answer');
          log('created room ' + cfg.roomRaw);
        });
    });
  }
  function joinRoom() {
    setStep('joining');
    pub.send({
      message: { request: 'join', room: room, ptype: 'publisher', display: cfg.display },
      error: function (e) { fail('join', e); },
    });
  }

  // ---------------------------------------------------------------- start
  function start() {
    if (!cfg.server) return fail('params', 'missing query parameter: server');
    if (!cfg.roomRaw) return fail('params', 'missing query parameter: room');
    if (!window.Janus) return fail('load', 'janus.js not loaded');
    if (cfg.quality && window.__ltQualityFor) {
      lt.quality = window.__ltQualityFor(lt);
      lt.quality.start({});
    }
    if (cfg.impair) impair(cfg.impair);
    st.phase = 'connecting';
    setStep('Janus.init');
    Janus.init({
      debug: ['log', 'warn', 'error'],
      dependencies: Janus.useDefaultDependencies(),
      callback: function () {
        if (!Janus.isWebrtcSupported()) return fail('init', 'WebRTC not supported');
        setStep('creating session');
        janus = new Janus({
          server: cfg.server,
          iceServers: [],               // loopback only: never STUN/TURN
          destroyOnUnload: true,
          success: function () {
            setStep('attaching');
            janus.attach({
              plugin: PLUGIN,
              opaqueId: 'lt-pub-' + cfg.display,
              success: function (h) {
                pub = h;
                ensureRoom().then(joinRoom, function (e) { fail('room', e); });
              },
              error: function (e) { fail('attach', e); },
              iceState: function (s) { log('publisher ICE', s); },
              webrtcState: function (on, reason) { log('publisher PC ' + (on ? 'up' : 'down') + (reason ? ' (' + reason + ')' : '')); },
              slowLink: function (up, lost, mid) { warn('publisher slowLink', up ? 'up' : 'down', lost, mid); },
              onmessage: onPubMessage,
              onlocaltrack: function (track, on) { log('local track', track && track.kind, on ? 'on' : 'off'); },
              onremotetrack: function () { },
              oncleanup: function () { log('publisher cleanup'); },
              detached: function () { log('publisher detached'); },
            });
          },
          error: function (e) { fail(sessionTag(), e); },
          destroyed: function () { log('janus session destroyed'); },
        });
      },
    });
  }

  // ---------------------------------------------------------------- leave
  function leave() {
    if (leavePromise) return leavePromise;
    leaving = true;
    var mine = ownPcs();
    stopMembersPoll();
    sub.queue = [];
    var steps = Promise.resolve().then(function () {
      if (!janus) return;
      var parts = [];
      if (pub && myId !== null) {
        parts.push(withTimeout(sendP(pub, { request: 'leave' }).catch(function (e) { warn('leave', errText(e)); }), 1500));
      }
      if (sub.handle && sub.joined) {
        parts.push(withTimeout(sendP(sub.handle, { request: 'leave' }).catch(function (e) { warn('sub leave', errText(e)); }), 1500));
      }
      return Promise.all(parts).then(function () {
        var hs = [pub, sub.handle].filter(Boolean);
        return Promise.all(hs.map(function (h) {
          try { h.hangup(true); } catch (e) { warn('hangup', errText(e)); }
          return withTimeout(new Promise(function (r) { h.detach({ success: r, error: function (e) { warn('detach', errText(e)); r(); } }); }), 1500);
        }));
      }).then(function () {
        return withTimeout(new Promise(function (r) {
          janus.destroy({ success: r, error: function (e) { warn('destroy', errText(e)); r(); } });
        }), 1500);
      });
    }).catch(function (e) { warn('leave failed', errText(e)); });
    leavePromise = withTimeout(steps, LEAVE_TIMEOUT_MS).then(function () {
      // whatever happened, no media afterwards
      mine.concat(ownPcs()).forEach(function (pc) { try { if (pc.signalingState !== 'closed') pc.close(); } catch (e) { } });
      if (st.phase !== 'failed') st.phase = 'left';
      st.members = null;
      setStep('left');
      log('left');
    });
    return leavePromise;
  }

  // ---------------------------------------------------------------- contract
  var ICE_RANK = { failed: 0, disconnected: 1, new: 2, checking: 3, connected: 4, completed: 5 };
  // This client's peer connections: its publisher's and its subscriber's (janus.js keeps each handle's
  // in webrtcStuff.pc), so page-mates' connections never count.
  function ownPcs() {
    return [pub, sub.handle].map(function (h) {
      try { return h && h.webrtcStuff ? h.webrtcStuff.pc : null; } catch (e) { return null; }
    }).filter(Boolean);
  }
  function livePcs() {
    return ownPcs().filter(function (pc) {
      try { return pc.signalingState !== 'closed' && pc.connectionState !== 'closed'; } catch (e) { return false; }
    });
  }
  function subPc() {
    try { return sub.handle && sub.handle.webrtcStuff ? sub.handle.webrtcStuff.pc : null; } catch (e) { return null; }
  }

  lt = {
    target: 'janus',
    index: index,
    display: cfg.display,
    statsPrev: {},
    state: function () {
      try {
        var pcs = livePcs();
        var ice = null;
        pcs.forEach(function (pc) {
          var s = pc.iceConnectionState;
          if (ice === null || (ICE_RANK[s] !== undefined ? ICE_RANK[s] : 2) < (ICE_RANK[ice] !== undefined ? ICE_RANK[ice] : 2)) ice = s;
        });
        var detail = 'step=' + st.step +
          ' room=' + cfg.roomRaw + ' display=' + cfg.display +
          ' id=' + (myId === null ? '-' : myId) +
          ' pub=' + (publishing ? (cfg.audio ? 'a' : '') + (cfg.video ? 'v' : '') : 'none') +
          ' feeds=' + Object.keys(sub.feeds).length +
          ' mids=' + Object.keys(sub.midMap).length +
          ' queue=' + sub.queue.length + (sub.busy ? '+1' : '') +
          ' pcs=' + pcs.map(function (pc) { return pc.iceConnectionState; }).join(',') +
          (st.joinedAt ? ' join_ms=' + (st.joinedAt - st.t0) : '');
        return {
          phase: st.phase,
          joined: st.phase === 'joined',
          ice: ice,
          error: st.error,
          members: st.members,
          detail: detail,
          terminal: !!st.terminal,
        };
      } catch (e) {
        return { phase: st.phase || 'failed', joined: false, ice: null, error: st.error || ('state(): ' + errText(e)), members: null, detail: '' };
      }
    },
    pcs: function () { try { return livePcs(); } catch (e) { return []; } },
    peerOf: function (pc, stat) {
      try {
        if (!stat || !pc || pc !== subPc()) return null;
        var mid = stat.mid;
        if ((mid === undefined || mid === null) && stat.trackIdentifier) {
          pc.getTransceivers().forEach(function (t) {
            if (t.receiver && t.receiver.track && t.receiver.track.id === stat.trackIdentifier) mid = t.mid;
          });
        }
        if (mid === undefined || mid === null) return null;
        var d = sub.midMap[String(mid)];
        return d === undefined ? null : d;
      } catch (e) { return null; }
    },
    leave: leave,
    // The speaker model's mute: the published audio track's enabled flag (janus.js muteAudio), as a
    // conferencing app mutes; true when applied.
    setAudioMuted: function (muted) {
      try {
        if (!pub || !cfg.audio) return false;
        if (muted) pub.muteAudio(); else pub.unmuteAudio();
        return true;
      } catch (e) { warn('setAudioMuted', errText(e)); return false; }
    },
  };

  try { start(); } catch (e) { fail('start', e); }
  return lt;
  }

  // ---------------------------------------------------------------- the page's clients
  // A Janus error that means the server no longer knows the session or handle a request named:
  // 458 No such session, 459 No such handle (janus.js passes `<code> <reason>`).
  window.__ltSessionGone = function (err) { return /^45[89]\b/.test(String(err || '')); };
  var clients = window.__ltClients = [];
  window.__ltUse = function (i) {
    var c = clients[i];
    if (!c) return false;
    window.__lt = c;
    if (c.quality) window.__ltQuality = c.quality;
    return true;
  };
  // Start one more client from a query string (`server=...&room=...`); its index.
  window.__ltAddClient = function (query) {
    var i = clients.length;
    clients.push(null);
    clients[i] = Client(new URLSearchParams(query), i);
    return i;
  };
  window.__ltAddClient(window.location.search);
  window.__ltUse(0);
})();
