// loadtest — reach every client of a Jitsi load-test page (target `jitsi`, page "load-test", numClients > 1).
//
// Installed by the driver before the page's own scripts (DevTools Page.addScriptToEvaluateOnNewDocument).
// The load-test page (jitsi-meet-load-test src/index.js) runs numClients clients but its window.APP shows
// only client 0. Client i does `new JitsiMeetJS.JitsiConnection(null, null, config_i)` in index order
// (startClient(i), one every clientInterval ms), each with its own deep copy of config, and later
// `connection.initJitsiConference(room, config_i)`. lib-jitsi-meet's UMD build assigns the global with
// `window.JitsiMeetJS = factory()`. So: trap that assignment, wrap JitsiConnection, and record each
// client's connection and conference in
//
//   window.__ltJitsiClients = [{ connection, room, startedAt }]   // by client index
//
// A connection made again with a config already seen (the visitor-node redirect reconnects with the
// client's own config) replaces that client's entry instead of adding one. Does nothing on pages that
// never assign window.JitsiMeetJS. No top-level `return`.
(function () {
    'use strict';
    var w = window;
    if (w.__ltJitsiClients) { return; }
    var clients = [];
    var configs = [];
    Object.defineProperty(w, '__ltJitsiClients', { value: clients, enumerable: false });

    function record(conn, options) {
        var i = options && typeof options === 'object' ? configs.indexOf(options) : -1;
        if (i < 0) {
            i = clients.length;
            configs.push(options);
            clients.push(null);
        }
        var entry = { connection: conn, room: null, startedAt: Date.now() };
        clients[i] = entry;
        var init = conn.initJitsiConference;
        if (typeof init === 'function') {
            conn.initJitsiConference = function () {
                var room = init.apply(this, arguments);
                entry.room = room;
                return room;
            };
        }
    }

    function wrap(lib) {
        try {
            if (!lib || typeof lib.JitsiConnection !== 'function' || lib.JitsiConnection.__ltWrapped) { return lib; }
            var Real = lib.JitsiConnection;
            var Wrapped = new Proxy(Real, {
                construct: function (target, args, newTarget) {
                    var conn = Reflect.construct(target, args, newTarget === Wrapped ? target : newTarget);
                    try { record(conn, args[2]); } catch (e) { /* never break the page */ }
                    return conn;
                },
                get: function (target, key, receiver) {
                    return key === '__ltWrapped' ? true : Reflect.get(target, key, receiver);
                }
            });
            lib.JitsiConnection = Wrapped;
        } catch (e) { /* a frozen library: clients > 0 stay unreachable, and say so */ }
        return lib;
    }

    var value = w.JitsiMeetJS;
    if (value) { wrap(value); }
    try {
        Object.defineProperty(w, 'JitsiMeetJS', {
            configurable: true,
            enumerable: true,
            get: function () { return value; },
            set: function (v) { value = wrap(v); }
        });
    } catch (e) { /* already non-configurable */ }
})();
