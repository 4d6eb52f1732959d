#!/usr/bin/env python3
"""Dev aid: drive real headless Chromium participants into a local Janus VideoRoom
through raw WebDriver HTTP (stdlib only) and check the assets/janus page and
assets/js/stats.js end to end. The Rust tests replace this script.

Prerequisites (see README.md): Janus running with the filled sandbox templates and
the ltv0 veth trick, the page served at PAGE (/, /participant.js, /lib/janus.js,
/lib/adapter.js) and chromedriver listening on WD.

usage: verify.py [--wd URL] [--page URL] [--janus URL] [--admin URL] [--secret S]
                 [--room ROOM] [--out results.json] [--chrome-arg=--flag ...] [--no-net-guard]
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
STATS_JS = open(os.path.join(HERE, '..', 'js', 'stats.js')).read()

CHROME_ARGS = [
    '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
    '--no-first-run', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--disable-quic', '--disable-default-apps', '--disable-domain-reliability',
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required',
    '--mute-audio',
]
# Keep Chromium off the network entirely (measured with tcpdump on eth0, see README.md):
# without these, every fresh browser sends ~50 DNS queries (accounts.google.com,
# clients2.google.com, update.googleapis.com, optimizationguide-pa.googleapis.com,
# start.duckduckgo.com for the third-party NTP) and WebRTC's mDNS responder joins
# 224.0.0.251 (IGMP reports). Loopback is implicitly exempt from the proxy.
NET_GUARD_ARGS = [
    '--proxy-server=http://127.0.0.1:9',
    '--disable-features=WebRtcHideLocalIpsWithMdns',
]

JSON_CT = 'application/json; charset=utf-8'


def http(method, url, body=None, timeout=60):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header('Content-Type', JSON_CT)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read() or b'null')
    except urllib.error.HTTPError as e:
        # WebDriver errors are HTTP 4xx/5xx with {"value":{"error","message",...}}
        raw = e.read()
        try:
            v = (json.loads(raw) or {}).get('value') or {}
            raise RuntimeError('%s %s -> HTTP %s %s: %s' % (method, url, e.code, v.get('error'),
                                                           str(v.get('message', ''))[:300]))
        except ValueError:
            raise RuntimeError('%s %s -> HTTP %s %r' % (method, url, e.code, raw[:300]))


class Browser:
    def __init__(self, wd, name, extra_args=()):
        self.wd = wd.rstrip('/')
        self.name = name
        self.profile = tempfile.mkdtemp(prefix='lt-prof-%s-' % name, dir='/tmp/janus-lab')
        caps = {'capabilities': {'alwaysMatch': {
            'browserName': 'chrome',
            'goog:chromeOptions': {
                'binary': '/usr/bin/chromium',
                'args': CHROME_ARGS + ['--user-data-dir=' + self.profile] + list(extra_args),
            },
            'timeouts': {'script': 30000, 'pageLoad': 30000},
        }}}
        t = time.time()
        r = http('POST', self.wd + '/session', caps)
        if 'sessionId' not in (r.get('value') or {}):
            raise RuntimeError('session not created: %s' % json.dumps(r)[:500])
        self.sid = r['value']['sessionId']
        self.create_s = time.time() - t

    def cmd(self, method, path, body=None):
        r = http(method, '%s/session/%s%s' % (self.wd, self.sid, path), body)
        return r.get('value') if isinstance(r, dict) else None

    def go(self, url):
        return self.cmd('POST', '/url', {'url': url})

    def sync(self, script, *args):
        return self.cmd('POST', '/execute/sync', {'script': script, 'args': list(args)})

    def async_(self, script, *args):
        return self.cmd('POST', '/execute/async', {'script': script, 'args': list(args)})

    def state(self):
        return self.sync('return window.__lt ? window.__lt.state() : null;')

    def stats(self):
        return self.async_(STATS_JS)

    def console(self):
        return self.sync('return window.__ltConsole || [];')

    def quit(self):
        try:
            http('DELETE', '%s/session/%s' % (self.wd, self.sid), timeout=20)
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


def admin(base, secret, janus, extra):
    body = {'janus': janus, 'transaction': 'v%d' % int(time.time() * 1000), 'admin_secret': secret}
    body.update(extra)
    return http('POST', base, body, timeout=10)


def list_participants(base, secret, room):
    r = admin(base, secret, 'message_plugin', {'plugin': 'janus.plugin.videoroom',
                                               'request': {'request': 'listparticipants', 'room': room}})
    resp = r.get('response') or {}
    if 'participants' not in resp:
        return None, resp
    return len(resp['participants']), [p.get('display') for p in resp['participants']]


def wait_phase(b, phases, timeout):
    t0 = time.time()
    st = None
    while time.time() - t0 < timeout:
        try:
            st = b.state()
        except RuntimeError as e:
            st = {'phase': '?', 'error': str(e)}
        if st and st.get('phase') in phases:
            return st, time.time() - t0
        time.sleep(0.2)
    return st, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--wd', default='http://127.0.0.1:19515')
    ap.add_argument('--page', default='http://127.0.0.1:18000/')
    ap.add_argument('--janus', default='http://127.0.0.1:18088/janus')
    ap.add_argument('--admin', default='http://127.0.0.1:17088/admin')
    ap.add_argument('--secret', default='lt-admin-secret')
    ap.add_argument('--room', default='loadtest0')
    ap.add_argument('--settle', type=float, default=4.0)
    ap.add_argument('--out', default='/tmp/janus-lab/results.json')
    ap.add_argument('--chrome-arg', action='append', default=[])
    ap.add_argument('--no-net-guard', action='store_true', help='omit NET_GUARD_ARGS')
    a = ap.parse_args()
    if not a.no_net_guard:
        a.chrome_arg = NET_GUARD_ARGS + a.chrome_arg

    specs = [('p0', 0, 1), ('p1', 0, 1), ('p2', 0, 0)]   # display, audio, video
    res = {'checks': {}, 'participants': {}}
    fails = []

    def check(name, ok, info=''):
        res['checks'][name] = {'ok': bool(ok), 'info': info}
        print('%-4s %s %s' % ('OK' if ok else 'FAIL', name, info))
        if not ok:
            fails.append(name)

    browsers = {}
    errs = []

    def mk(name):
        try:
            browsers[name] = Browser(a.wd, name, a.chrome_arg)
        except Exception as e:  # noqa
            errs.append((name, e))

    ths = [threading.Thread(target=mk, args=(n,)) for n, _, _ in specs]
    [t.start() for t in ths]
    [t.join() for t in ths]
    try:
        if errs:
            raise RuntimeError('session creation failed: %r' % errs)
        for n, _, _ in specs:
            print('session %s created in %.2f s' % (n, browsers[n].create_s))

        # join: navigate all in parallel, each thread polls its own participant
        def join(n, au, vi):
            q = urllib.parse.urlencode({'server': a.janus, 'room': a.room, 'display': n,
                                        'audio': au, 'video': vi, 'recv_audio': 0})
            t = time.time()
            browsers[n].go(a.page + '?' + q)
            load = time.time() - t
            st, _ = wait_phase(browsers[n], ('joined', 'failed'), 30)
            res['participants'][n] = {'join_state': st, 'page_load_s': round(load, 2),
                                      'join_wall_s': round(time.time() - t, 2)}
        ths = [threading.Thread(target=join, args=spec) for spec in specs]
        [t.start() for t in ths]
        [t.join() for t in ths]
        for n, _, _ in specs:
            p = res['participants'][n]
            st = p['join_state']
            check('%s joined' % n, st and st.get('phase') == 'joined',
                  'navigate+load %.2fs, joined %.2fs after navigate; %s' % (p['page_load_s'], p['join_wall_s'],
                                                                       (st or {}).get('detail')))

        # let subscriptions and ICE settle: every participant sees N-1 (others that publish) feeds
        t0 = time.time()
        while time.time() - t0 < 20:
            sts = {n: browsers[n].state() for n, _, _ in specs}
            if all(s.get('ice') in ('connected', 'completed') and s.get('members') == 3 for s in sts.values()):
                break
            time.sleep(0.5)
        res['settle_s'] = round(time.time() - t0, 2)
        print('settled in %.2f s: %s' % (res['settle_s'], {n: (s.get('ice'), s.get('members')) for n, s in sts.items()}))
        time.sleep(a.settle)

        samples = {}
        for n, _, _ in specs:
            samples[n] = [browsers[n].stats()]
        time.sleep(3)
        for n, _, _ in specs:
            samples[n].append(browsers[n].stats())
        for n, _, _ in specs:
            res['participants'][n]['samples'] = samples[n]
            print('--- %s state: %s' % (n, json.dumps(samples[n][1]['state'])))
            for r in samples[n][1]['rows']:
                print('    %s' % json.dumps(r))

        def rows(n, direction, kind='video'):
            return [r for r in samples[n][1]['rows'] if r['direction'] == direction and r['kind'] == kind]

        first = [r for r in samples['p2'][0]['rows']]
        check('first sample has null rates', first and all(r['bitrate_kbps'] is None and r['fps'] is None for r in first),
              '%d rows' % len(first))
        r2 = rows('p2', 'recv')
        check('p2 recv video from p0,p1', sorted(r['peer'] for r in r2) == ['p0', 'p1'],
              str([(r['peer'], r['fps'], r['bitrate_kbps']) for r in r2]))
        check('p2 recv fps>0 and kbps>0', r2 and all((r['fps'] or 0) > 0 and (r['bitrate_kbps'] or 0) > 0 for r in r2))
        check('p2 sends nothing', not [r for r in samples['p2'][1]['rows'] if r['direction'] == 'send'])
        for me, other in (('p0', 'p1'), ('p1', 'p0')):
            rr = rows(me, 'recv')
            check('%s recv only from %s' % (me, other), [r['peer'] for r in rr] == [other],
                  str([(r['peer'], r['fps'], r['bitrate_kbps']) for r in rr]))
            ss = rows(me, 'send')
            check('%s one video send row' % me, len(ss) == 1 and (ss[0]['bitrate_kbps'] or 0) > 0,
                  str([(r['fps'], r['bitrate_kbps'], r['width'], r['height'], r['quality_limitation'], r['rtt_ms']) for r in ss]))
        allrows = [r for n, _, _ in specs for r in samples[n][1]['rows']]
        check('remote_address on 127.0.0.2', allrows and all((r['remote_address'] or '').startswith('127.0.0.2:') for r in allrows),
              str(sorted(set(r['remote_address'] for r in allrows))))
        keys = ['peer', 'direction', 'kind', 'bitrate_kbps', 'fps', 'width', 'height', 'packets_lost', 'loss_ratio',
                'jitter_ms', 'rtt_ms', 'freeze_count', 'freeze_ms', 'quality_limitation', 'remote_address', 'bytes']
        check('row keys exact', all(sorted(r.keys()) == sorted(keys) for r in allrows))
        check('sample keys exact', all(sorted(samples[n][1].keys()) == ['rows', 'state', 'ts'] for n, _, _ in specs))

        cnt, names = list_participants(a.admin, a.secret, a.room)
        res['listparticipants_joined'] = names
        check('admin listparticipants == 3', cnt == 3, str(names))
        sess = admin(a.admin, a.secret, 'list_sessions', {}).get('sessions')
        res['sessions_joined'] = len(sess or [])
        print('janus sessions while joined: %d' % len(sess or []))

        # orderly leave on all three, then the room must be empty right away
        leave_t = {}
        lt_threads = []

        def do_leave(n):
            t = time.time()
            st = browsers[n].async_('var d=arguments[arguments.length-1];'
                                    'window.__lt.leave().then(function(){d(window.__lt.state())},'
                                    'function(e){d({phase:"leave-rejected",error:String(e)})});')
            leave_t[n] = (round(time.time() - t, 2), st)
        for n, _, _ in specs:
            th = threading.Thread(target=do_leave, args=(n,))
            th.start()
            lt_threads.append(th)
        [t.join() for t in lt_threads]
        for n, _, _ in specs:
            took, st = leave_t[n]
            res['participants'][n]['leave'] = {'s': took, 'state': st}
            check('%s left' % n, st.get('phase') == 'left' and not st.get('ice'), '%.2fs %s' % (took, json.dumps(st)))
        cnt, names = list_participants(a.admin, a.secret, a.room)
        res['listparticipants_after_leave'] = names
        check('admin listparticipants == 0 right after leave', cnt == 0, str(names))
        sess = admin(a.admin, a.secret, 'list_sessions', {}).get('sessions')
        check('no janus sessions after leave', not sess, str(sess))
        for n, _, _ in specs:
            res['participants'][n]['console_tail'] = browsers[n].console()[-15:]
    finally:
        for n, b in browsers.items():
            try:
                b.quit()
            except Exception as e:  # noqa
                print('quit %s: %s' % (n, e))
    print('sessions deleted')

    # a participant pointed at a wrong server must fail
    b = Browser(a.wd, 'bad', a.chrome_arg)
    try:
        q = urllib.parse.urlencode({'server': 'http://127.0.0.1:9/janus', 'room': a.room, 'display': 'pbad',
                                    'audio': 0, 'video': 1})
        t = time.time()
        b.go(a.page + '?' + q)
        st, took = wait_phase(b, ('failed', 'joined'), 30)
        res['bad_server'] = {'state': st, 's': took, 'console_tail': b.console()[-10:]}
        check('wrong server -> failed', st and st.get('phase') == 'failed' and st.get('error'),
              '%s after %.2fs' % ((st or {}).get('error'), time.time() - t))
    finally:
        b.quit()

    # numeric room against a string_ids server: page retries with the string form
    b = Browser(a.wd, 'num', a.chrome_arg)
    try:
        q = urllib.parse.urlencode({'server': a.janus, 'room': '4242', 'display': 'pnum', 'audio': 0, 'video': 0})
        b.go(a.page + '?' + q)
        st, took = wait_phase(b, ('failed', 'joined'), 30)
        check('numeric room id on string_ids server joins', st and st.get('phase') == 'joined', json.dumps(st))
        st = b.async_('var d=arguments[arguments.length-1];window.__lt.leave().then(function(){d(window.__lt.state())});')
        check('numeric room leave', st.get('phase') == 'left')
    finally:
        b.quit()

    # churn: late joiners (subscriber 'update'), a publisher leaving ('unsubscribe'), rejoining
    # (mid reuse), audio receive; room loadtest1
    room = a.room + '-churn'
    cb = {}
    try:
        for n in ('c2', 'c0', 'c1'):
            cb[n] = Browser(a.wd, n, a.chrome_arg)
        params = {'c2': (0, 0, 1), 'c0': (0, 1, 0), 'c1': (1, 1, 0)}   # audio, video, recv_audio

        def enter(n):
            au, vi, ra = params[n]
            q = urllib.parse.urlencode({'server': a.janus, 'room': room, 'display': n,
                                        'audio': au, 'video': vi, 'recv_audio': ra})
            cb[n].go(a.page + '?' + q)
            st, _ = wait_phase(cb[n], ('joined', 'failed'), 30)
            return st

        def recv_peers(n, want, timeout=15):
            """poll stats until the set of (kind, peer) recv rows with bytes flowing == want"""
            t0 = time.time()
            got = None
            while time.time() - t0 < timeout:
                cb[n].stats()
                time.sleep(1)
                smp = cb[n].stats()
                got = sorted((r['kind'], r['peer']) for r in smp['rows']
                             if r['direction'] == 'recv' and (r['bitrate_kbps'] or 0) > 0)
                if got == sorted(want):
                    return True, got, smp, round(time.time() - t0, 1)
            return False, got, None, round(time.time() - t0, 1)

        st = enter('c2')
        check('churn c2 joined alone', st.get('phase') == 'joined', json.dumps(st))
        st = enter('c0')
        check('churn c0 joined', st.get('phase') == 'joined')
        ok, got, _, took = recv_peers('c2', [('video', 'c0')])
        check('churn c2 subscribes c0 (join)', ok, '%s after %ss' % (got, took))
        st = enter('c1')
        check('churn c1 joined (audio+video)', st.get('phase') == 'joined')
        ok, got, smp, took = recv_peers('c2', [('video', 'c0'), ('video', 'c1'), ('audio', 'c1')])
        check('churn c2 adds c1 audio+video (update)', ok, '%s after %ss' % (got, took))
        ok, got, _, took = recv_peers('c0', [('video', 'c1')])
        check('churn c0 gets only c1 video (recv_audio=0)', ok, '%s after %ss' % (got, took))
        cb['c0'].async_('var d=arguments[arguments.length-1];window.__lt.leave().then(function(){d(1)});')
        ok, got, smp, took = recv_peers('c2', [('video', 'c1'), ('audio', 'c1')])
        check('churn c2 drops c0 after it leaves (unsubscribe)', ok, '%s after %ss' % (got, took))
        st = cb['c2'].state()
        check('churn c2 members == 2', st.get('members') == 2, st.get('detail'))
        st = enter('c0')
        check('churn c0 rejoined', st.get('phase') == 'joined')
        ok, got, smp, took = recv_peers('c2', [('video', 'c0'), ('video', 'c1'), ('audio', 'c1')])
        check('churn c2 re-subscribes c0 with the right peer', ok, '%s after %ss' % (got, took))
        res['churn_c2_rows'] = smp and smp['rows']
        res['churn_c2_console'] = cb['c2'].console()
        cnt, names = list_participants(a.admin, a.secret, room)
        check('churn listparticipants == 3', cnt == 3, str(names))
        for n in cb:
            cb[n].async_('var d=arguments[arguments.length-1];window.__lt.leave().then(function(){d(1)});')
        cnt, names = list_participants(a.admin, a.secret, room)
        check('churn listparticipants == 0 after leave', cnt == 0, str(names))
    finally:
        for b in cb.values():
            b.quit()

    res['fails'] = fails
    with open(a.out, 'w') as f:
        json.dump(res, f, indent=1)
    print('%d passed, %d failed' % (len(res['checks']) - len(fails), len(fails)))
    return 1 if fails else 0


if __name__ == '__main__':
    sys.exit(main())
