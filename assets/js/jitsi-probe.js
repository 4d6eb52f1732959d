// loadtest — Jitsi Meet page probe (target `jitsi`).
//
// Injected by the driver with WebDriver "execute" (sync) once document.readyState === 'complete'. Idempotent:
// injecting it again keeps the existing window.__lt (and its state). Defines the contract shared with the
// Janus target (the Rust side and assets/js/stats.js depend on it):
//
//   window.__lt = {
//     target: 'jitsi',
//     state(): { phase: 'loading'|'connecting'|'joined'|'left'|'failed', joined: bool, ice: string|null,
//                error: string|null, members: number|null, detail: string,
//                endpoint: string|null },     // never throws; endpoint: myId() once joined (Jitsi only)
//              joined = in the room (the MUC). ICE is reported, never judged here: jicofo starts no media
//              session before a second member is in (min-participants = 2, jicofo reference.conf), and
//              lib-jitsi-meet recovers a failed ICE with ICE/session restarts; the driver decides.
//     pcs(): RTCPeerConnection[],                 // JVB (and P2P, if any) peer connections, open ones only
//     isBridge(pc): bool,                         // pc is the JVB connection (not P2P): its selected pair
//                                                 // is the bridge address (torture getBridgeIp)
//     peerOf(pc, inboundRtpStat): string|null,    // remote endpoint id owning the stat's SSRC
//     myId(): string|null,                        // this page's own endpoint id (what other pages' peerOf
//                                                 // answers for its streams); changes when the page rejoins
//     leave(): Promise<void>,                     // orderly leave (full app: APP.conference.leaveRoom(true))
//     setAudioMuted(muted): bool,                 // APP.conference.muteAudio(muted) on both pages: the app's
//                                                 // own mute, so the bridge's dominant speaker and lastN see it
//   };
//   window.__ltConsole: [{ ts, level, text }]     // last 500 console messages / uncaught errors
//
// Clients per page (the load-test page's numClients): window.__ltUse(k) points window.__lt at client k's
// probe (and window.__ltQuality at its own meter); client 0 is the page's APP.room, client k > 0 the
// conference jitsi-clients.js recorded before the page loaded. window.__ltAddClient(query, k) answers k when
// the page can host that client, window.__ltClientAge(k) how long ago (ms) its connection was made. On a
// page whose clients the hook reached, leave() leaves only that client (the page's own unload leaves all).
//
// Works on the full app (APP.conference.*) and on the load-test page (/_load-test/<room>: APP.room), see
// shared/reference/jitsi-participant.md §2.4, §2.8, §3.6, §4. No top-level `return`: the file is valid both as
// a WebDriver script body and as a plain <script>.
(function () {
    'use strict';

    var PROBE_VERSION = 5;
    var w = window;

    // ------------------------------------------------------------------ console capture (installed once)
    if (!Array.isArray(w.__ltConsole)) {
        w.__ltConsole = [];
        var CAP = 500;
        var fmt = function (a) {
            try {
                if (typeof a === 'string') { return a; }
                if (a instanceof Error) { return a.stack || (a.name + ': ' + a.message); }
                if (a === undefined) { return 'undefined'; }
                if (typeof a === 'object' && a !== null) {
                    var j = JSON.stringify(a);
                    return j === undefined ? String(a) : j;
                }
                return String(a);
            } catch (e) {
                try { return String(a); } catch (e2) { return '[unprintable]'; }
            }
        };
        var push = function (level, args) {
            try {
                var buf = w.__ltConsole;
                if (!Array.isArray(buf)) { buf = w.__ltConsole = []; }
                var text = Array.prototype.map.call(args, fmt).join(' ');
                if (text.length > 4000) { text = text.slice(0, 4000) + '…'; }
                buf.push({ ts: Date.now(), level: level, text: text });
                if (buf.length > CAP) { buf.splice(0, buf.length - CAP); }
            } catch (e) { /* never break the page's logging */ }
        };
        [ 'log', 'info', 'warn', 'error', 'debug', 'trace' ].forEach(function (level) {
            var orig = console[level];
            if (typeof orig !== 'function') { return; }
            console[level] = function () {
                push(level, arguments);
                return orig.apply(this, arguments);
            };
        });
        w.addEventListener('error', function (e) {
            try {
                if (e && e.target && e.target !== w && e.target.tagName) {
                    push('error', [ 'resource failed: <' + e.target.tagName.toLowerCase() + '> ' +
                        (e.target.src || e.target.href || '') ]);
                } else {
                    push('error', [ 'uncaught: ' + (e.error && e.error.stack ? e.error.stack : e.message) +
                        (e.filename ? ' at ' + e.filename + ':' + e.lineno + ':' + e.colno : '') ]);
                }
            } catch (e2) { /* ignore */ }
        }, true);
        w.addEventListener('unhandledrejection', function (e) {
            var r = e && e.reason;
            push('error', [ 'unhandledrejection: ' + (r && r.stack ? r.stack : fmt(r)) ]);
        });
    }

    // ------------------------------------------------------------------ idempotence
    if (w.__lt && w.__lt.target === 'jitsi' && w.__lt.__probeVersion === PROBE_VERSION) {
        return;
    }
    // Per-client state that must survive a re-injection of a newer probe version (client 0: the page's
    // own, APP.room; client k > 0: a load-test page's numClients, reached through jitsi-clients.js)
    var STATES = w.__ltProbeStates = w.__ltProbeStates || [];
    function stateOf(k) {
        if (!STATES[k]) {
            STATES[k] = {
                leaving: null,      // Promise of an ongoing/finished leave()
                left: false,
                everJoined: false,
                ssrcToId: {},       // cache: String(ssrc) -> endpoint id
                lastError: null
            };
        }
        return STATES[k];
    }

    function safe(f, dflt) {
        try {
            var v = f();
            return v === undefined ? dflt : v;
        } catch (e) {
            return dflt;
        }
    }

    function app() { return safe(function () { return w.APP; }, undefined); }

    // load-test page: /_load-test/<room> (optionally under a tenant), or an APP without conference.isJoined
    function isLoadTest(A) {
        if (safe(function () { return /(^|\/)_load-test\/[^/]+\/?$/.test(w.location.pathname); }, false)) { return true; }
        if (!A) { return false; }
        return safe(function () {
            return !(A.conference && typeof A.conference.isJoined === 'function') && ('room' in A);
        }, false);
    }

    // The load-test page's clients as jitsi-clients.js recorded them (null: the hook is not installed).
    function hooked() {
        var c = safe(function () { return w.__ltJitsiClients; }, null);
        return Array.isArray(c) ? c : null;
    }

    // Client k's conference: the page's own (APP.room / APP.conference._room) for client 0, the hook's
    // record for the others.
    function roomOf(A, k) {
        if (!A) { return null; }
        if (k > 0) {
            var c = hooked();
            return (c && c[k] && c[k].room) || null;
        }
        if (isLoadTest(A)) { return safe(function () { return A.room; }, null) || null; }
        return safe(function () { return A.conference._room; }, null) || null;
    }

    // lib-jitsi-meet's stats of client k (APP.conference.getStats() is client 0's).
    function getStats(A, k) {
        return (k === 0 && safe(function () {
            var s = A.conference.getStats();
            return s && typeof s === 'object' ? s : null;
        }, null)) || safe(function () {
            var s = roomOf(A, k).connectionQuality.getStats();
            return s && typeof s === 'object' ? s : null;
        }, null);
    }

    function str(v) {
        if (v === undefined || v === null) { return null; }
        try {
            if (typeof v === 'string') { return v; }
            if (v.message) { return (v.name ? v.name + ': ' : '') + v.message; }
            if (v.name) { return String(v.name); }
            var j = JSON.stringify(v);
            return j === undefined ? String(v) : j;
        } catch (e) {
            return '[error]';
        }
    }

    // A connection/conference error the page shows (full app: redux state of jitsi-meet).
    function pageError(A) {
        var st = safe(function () { return A.store && A.store.getState && A.store.getState(); }, null);
        if (!st) { return null; }
        var ce = safe(function () { return st['features/base/connection'].error; }, null);
        if (ce) { return 'connection error: ' + str(ce); }
        var fe = safe(function () { return st['features/base/conference'].error; }, null);
        if (fe) { return 'conference error: ' + str(fe); }
        return null;
    }

    function makeLt(k) {
        var S = stateOf(k);

        function state() {
            var out = { phase: 'loading', joined: false, ice: null, error: null, members: null, detail: '' };
            try {
                var A = app();
                var lt = isLoadTest(A);
                var kind = lt ? 'load-test' : (A ? 'full-app' : 'no-APP');
                if (k > 0) {
                    var seen = hooked();
                    kind += ' client ' + k + (seen ? ' (the page has started ' + seen.length + ')' : ' (the pre-load hook is missing: jitsi-clients.js)');
                }
                var room = roomOf(A, k);
                var joined = false, ice = null, members = null;
                if (A && room) {
                    if (lt) {
                        joined = !!safe(function () { return room.isJoined(); }, false);
                        // NB: not APP.conference.getConnectionState() — broken on the load-test page (§2.4)
                        ice = safe(function () { return room.getConnectionState(); }, null);
                        members = safe(function () { return room.getParticipantCount(); }, null);
                        if (typeof members !== 'number') { members = safe(function () { return A.numParticipants; }, null); }
                    } else {
                        joined = !!safe(function () { return A.conference.isJoined(); }, false);
                        ice = safe(function () { return A.conference.getConnectionState(); }, null);
                        if (typeof ice !== 'string') { ice = safe(function () { return room.getConnectionState(); }, null); }
                        members = safe(function () { return room.getParticipantCount(); }, null);
                        if (typeof members !== 'number') {
                            members = safe(function () { return A.conference.listMembers().length + 1; }, null);
                        }
                    }
                }
                out.joined = joined;
                out.endpoint = joined ? myId() : null;
                out.ice = typeof ice === 'string' ? ice : null;
                out.members = typeof members === 'number' && isFinite(members) ? members : null;
                var perr = A ? pageError(A) : null;
                var ljm = safe(function () { return w.JitsiMeetJS.version; }, null);

                if (S.left) {
                    out.phase = 'left';
                } else if (perr) {
                    out.phase = 'failed';
                    out.error = perr;
                } else if (!A || !room) {
                    out.phase = 'loading';
                } else if (joined) {
                    S.everJoined = true;
                    out.phase = 'joined';
                } else if (S.everJoined) {
                    out.phase = 'failed';
                    out.error = 'left the conference unexpectedly (isJoined() became false)';
                } else {
                    out.phase = 'connecting';
                }
                if (S.leaving && !S.left) { out.detail += 'leaving; '; }
                if (S.lastError) { out.detail += 'last probe error: ' + S.lastError + '; '; }
                out.detail += kind + ' room=' + (room ? 'yes' : 'no') +
                    ' joined=' + joined + ' ice=' + out.ice + ' members=' + out.members +
                    (ljm ? ' ljm=' + ljm : '');
            } catch (e) {
                out.error = 'probe: ' + str(e);
                out.detail = 'state() failed: ' + str(e);
            }
            return out;
        }

        function pcs() {
            var list = [];
            try {
                var room = roomOf(app(), k);
                if (!room) { return list; }
                var cands = [
                    safe(function () { return room.jvbJingleSession.peerconnection.peerconnection; }, null),
                    safe(function () { return room.p2pJingleSession.peerconnection.peerconnection; }, null)
                ];
                cands.forEach(function (pc) {
                    if (pc && typeof pc.getStats === 'function' && list.indexOf(pc) < 0 &&
                        safe(function () { return pc.signalingState !== 'closed' && pc.connectionState !== 'closed'; }, false)) {
                        list.push(pc);
                    }
                });
            } catch (e) {
                S.lastError = 'pcs: ' + str(e);
            }
            return list;
        }

        function findInMaps(stats, key, skipId) {
            var maps = [ stats.resolution, stats.framerate, stats.codec ];
            for (var i = 0; i < maps.length; i++) {
                var m = maps[i];
                if (!m || typeof m !== 'object') { continue; }
                var ids = Object.keys(m);
                for (var j = 0; j < ids.length; j++) {
                    var inner = m[ids[j]];
                    if (ids[j] !== skipId && inner && typeof inner === 'object' &&
                        Object.prototype.hasOwnProperty.call(inner, key)) {
                        return ids[j];
                    }
                }
            }
            return null;
        }

        function trackSsrc(t) {
            return safe(function () { return typeof t.getSSRC === 'function' ? t.getSSRC() : t.ssrc; }, null);
        }

        // remote tracks: full app via room.getParticipants()[i].getTracks(); load-test page via APP.remoteTracks
        function findInTracks(A, room, ssrc) {
            var hit = null;
            safe(function () {
                room.getParticipants().forEach(function (p) {
                    var id = safe(function () { return p.getId(); }, null) || p._id;
                    safe(function () { return p.getTracks(); }, []).forEach(function (t) {
                        if (!hit && String(trackSsrc(t)) === ssrc) { hit = id; }
                    });
                });
            }, null);
            if (hit || k > 0) { return hit; }
            safe(function () {
                var rt = A.remoteTracks;
                Object.keys(rt || {}).forEach(function (id) {
                    var v = rt[id];
                    var arr = Array.isArray(v) ? v : (v && typeof v === 'object' ? Object.keys(v).map(function (k) { return v[k]; }) : []);
                    arr.forEach(function (t) {
                        if (!hit && t && String(trackSsrc(t)) === ssrc) {
                            hit = safe(function () { return t.getParticipantId(); }, null) || id;
                        }
                    });
                });
            }, null);
            return hit;
        }

        // The page's own endpoint id: APP.conference.getMyUserId() (full app), room.myUserId() (both pages).
        function myId() {
            var A = app();
            var id = (k === 0 && safe(function () { return A.conference.getMyUserId(); }, null)) ||
                safe(function () { return roomOf(A, k).myUserId(); }, null);
            return typeof id === 'string' && id ? id : null;
        }

        function peerOf(pc, stat) {
            try {
                var ssrc = stat && (stat.ssrc !== undefined ? stat.ssrc : stat.SSRC);
                if (ssrc === undefined || ssrc === null) { return null; }
                var key = String(ssrc);
                var A = app();
                var room = roomOf(A, k);
                var mine = myId();
                var skip = stat && stat.type === 'inbound-rtp' ? mine : null;
                var stats = A ? getStats(A, k) : null;
                var id = stats ? findInMaps(stats, key, skip) : null;
                if (!id && A && room) { id = findInTracks(A, room, key); }
                if (id && id !== skip) {
                    S.ssrcToId[key] = id;
                    return String(id);
                }
                return S.ssrcToId[key] || null;
            } catch (e) {
                S.lastError = 'peerOf: ' + str(e);
                return null;
            }
        }

        function leave() {
            if (S.leaving) { return S.leaving; }
            S.leaving = new Promise(function (resolve) {
                var finished = false;
                var finish = function () {
                    if (finished) { return; }
                    finished = true;
                    S.left = true;
                    resolve();
                };
                try {
                    var A = app();
                    if (A && isLoadTest(A) && hooked()) {
                        leaveClient(A, finish);
                        return;
                    }
                    if (!A || isLoadTest(A)) {
                        // load-test page: nothing to call; the driver navigates to about:blank, which runs the
                        // page's unload cleanup (dispose tracks, leave the room, disconnect)
                        finish();
                        return;
                    }
                    var r;
                    try {
                        r = A.conference && typeof A.conference.leaveRoom === 'function' ? A.conference.leaveRoom(true) : undefined;
                    } catch (e) {
                        S.lastError = 'leaveRoom: ' + str(e);
                    }
                    settle(r, 'leaveRoom', finish);
                } catch (e) {
                    S.lastError = 'leave: ' + str(e);
                    finish();
                }
            });
            return S.leaving;
        }

        // One client of a load-test page whose clients the hook reached: what the page's unload does for
        // every client (dispose its tracks, leave, disconnect), for this one only; its page-mates stay.
        function leaveClient(A, finish) {
            var room = roomOf(A, k);
            if (!room) { finish(); return; }
            safe(function () { room.getLocalTracks().forEach(function (t) { t.dispose(); }); }, null);
            var r = safe(function () { return room.leave(); }, null);
            var done = function () {
                var c = hooked();
                var conn = (c && c[k] && c[k].connection) || room.connection;
                safe(function () { return conn.disconnect(); }, null);
                finish();
            };
            settle(r, 'leave', done);
        }

        // Call `then` once `r` (a Promise, or anything else: at once) settles, at most 5 s later; a
        // rejection or the timeout is kept as the probe's last error, named `what`.
        function settle(r, what, then) {
            if (!r || typeof r.then !== 'function') { then(); return; }
            var fired = false;
            var once = function (error) {
                if (fired) { return; }
                fired = true;
                clearTimeout(timer);
                if (error) { S.lastError = what + ': ' + error; }
                then();
            };
            var timer = setTimeout(function () { once('no answer within 5 s'); }, 5000);
            r.then(function () { once(null); }, function (e) { once(str(e)); });
        }

        function isBridge(pc) {
            var jvb = safe(function () { return roomOf(app(), k).jvbJingleSession.peerconnection.peerconnection; }, null);
            return !!jvb && pc === jvb;
        }

        // The app's own mute (full app and load-test page both have APP.conference.muteAudio(mute)).
        function setAudioMuted(muted) {
            try {
                var A = app();
                if (!A || !A.conference || typeof A.conference.muteAudio !== 'function') { return false; }
                // the load-test page's muteAudio(mute, num) mutes client num only (all without num)
                if (hooked() && isLoadTest(A)) { A.conference.muteAudio(!!muted, k); } else { A.conference.muteAudio(!!muted); }
                return true;
            } catch (e) {
                S.lastError = 'muteAudio: ' + str(e);
                return false;
            }
        }

        var lt = {
            target: 'jitsi',
            state: state,
            pcs: pcs,
            peerOf: peerOf,
            myId: myId,
            leave: leave,
            isBridge: isBridge,
            setAudioMuted: setAudioMuted
        };
        // non-enumerable: the enumerable shape stays exactly the shared contract
        Object.defineProperty(lt, '__probeVersion', { value: PROBE_VERSION, enumerable: false });
        // stats.js keeps each client's previous sample here
        Object.defineProperty(lt, 'statsPrev', { value: {}, enumerable: false });
        return lt;
    }

    // One probe per client; window.__ltUse(k) points window.__lt (and, once quality.js is in, window.__ltQuality)
    // at client k; the driver runs it before each of that participant's scripts.
    var CLIENTS = [];
    w.__ltUse = function (k) {
        k = typeof k === 'number' && k >= 0 ? Math.floor(k) : 0;
        var c = CLIENTS[k] || (CLIENTS[k] = makeLt(k));
        w.__lt = c;
        if (typeof w.__ltQualityFor === 'function') {
            if (!c.__quality) { Object.defineProperty(c, '__quality', { value: w.__ltQualityFor(c), enumerable: false }); }
            w.__ltQuality = c.__quality;
        }
        return true;
    };
    // A page-mate's client: the load-test page started it itself (numClients), so its index is its seat.
    // null when this page cannot host it (not the load-test page, or the pre-load hook is missing).
    w.__ltAddClient = function (query, k) {
        return typeof k === 'number' && hooked() && isLoadTest(app()) ? k : null;
    };
    // How long ago client k's connection was made (ms), or null before it was.
    w.__ltClientAge = function (k) {
        var c = hooked();
        return c && c[k] ? Date.now() - c[k].startedAt : null;
    };
    w.__ltUse(0);
})();
