#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A scripted stand-in for kube-apiserver's Node endpoints, for k8s_api.sh.

HTTPS (the test's own CA and certificate), bearer-token auth, and a replay
of the fixture files beside this script, in this order:

  list #1   GET /api/v1/nodes            -> list1-page1.json (with a continue token)
            GET ...?continue=TOKEN       -> list1-page2.json
  watch #1  ADDED, MODIFIED, DELETED, BOOKMARK (watch1.jsonl; the first
            event split across two writes, then two events in one write),
            then the stream ends
  watch #2  ERROR 410 Expired (watch2.jsonl), the stream then kept open
            (up to 5 s): the client must act on the event itself
  list #2   -> list2.json (differs from what the watch built); the token
            file then gets a new token (a projected token rotating): every
            later request must carry the new one
  watch #3  MODIFIED (watch3.jsonl), then the connection drops mid-stream
  watch #4  HTTP 410 Gone (status-410.json)
  list #3+  -> list3.json
  watch #5  one event line longer than the client's 1 MiB cap
  watch #6+ a stream that stays silent until the client goes

PATCH /api/v1/nodes/NAME takes an application/merge-patch+json body and
answers with the patched Node; the first PATCH gets a 500 (etcd leader
change) to be retried. A bearer token other than the token file's gets 401
(status-401.json). Every request (method, path, query, headers, body, and
whether its token was accepted) is appended to the --log file as one JSON
line, before it is answered.

Standard library only. Writes the port it listens on (127.0.0.1, chosen by
the kernel) to --port-file once it accepts connections.
"""
import argparse
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))


def fixture(name):
    with open(os.path.join(HERE, name), 'rb') as f:
        return f.read()


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.lists = 0
        self.watches = 0
        self.seq = 0
        self.patches = 0
        self.stopping = threading.Event()
        page1 = json.loads(fixture('list1-page1.json'))
        self.continue_token = page1['metadata']['continue']

    def token(self):
        with open(self.args.token_file) as f:
            return f.read().strip()

    def rotate_token(self):
        new = self.token() + '-rotated'
        tmp = self.args.token_file + '.tmp'
        with open(tmp, 'w') as f:
            f.write(new + '\n')
        os.rename(tmp, self.args.token_file)


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'fake-kube-apiserver'

    def log_message(self, fmt, *args):
        pass

    def record(self, body):
        st = self.server.state
        url = urlsplit(self.path)
        with st.lock:
            st.seq += 1
            self.auth_ok = self.headers.get('Authorization') == 'Bearer ' + st.token()
            entry = {
                'seq': st.seq,
                'method': self.command,
                'path': url.path,
                'query': {k: v[0] for k, v in parse_qs(url.query).items()},
                'headers': {k.lower(): v for k, v in self.headers.items()},
                'body': body.decode('utf-8', 'replace'),
                'auth': 'ok' if self.auth_ok else 'refused',
            }
            with open(st.args.log, 'a') as f:
                f.write(json.dumps(entry, sort_keys=True) + '\n')
        return url, entry['query']

    def send_json(self, code, body):
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def status(self, code, reason, message):
        self.send_json(code, json.dumps({
            'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
            'message': message, 'reason': reason, 'code': code}).encode())

    def authorized(self):
        if self.auth_ok:
            return True
        self.send_json(401, fixture('status-401.json'))
        return False

    # Watch streams use chunked transfer encoding, as the real server does.
    def start_stream(self):
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Transfer-Encoding', 'chunked')
        self.end_headers()
        self.wfile.flush()

    def chunk(self, data):
        self.wfile.write(b'%x\r\n%s\r\n' % (len(data), data))
        self.wfile.flush()

    def end_stream(self):
        self.wfile.write(b'0\r\n\r\n')
        self.wfile.flush()

    def do_GET(self):
        url, query = self.record(b'')
        if not self.authorized():
            return
        if url.path != '/api/v1/nodes':
            self.status(404, 'NotFound', 'the server could not find the requested resource')
            return
        st = self.server.state
        if query.get('watch') in ('1', 'true'):
            with st.lock:
                st.watches += 1
                n = st.watches
            self.watch(n)
            return
        if 'continue' in query:
            if query['continue'] != st.continue_token:
                self.status(410, 'Expired', 'The provided continue parameter is too old.')
                return
            self.send_json(200, fixture('list1-page2.json'))
            return
        with st.lock:
            st.lists += 1
            n = st.lists
            if n == 2:
                st.rotate_token()
        self.send_json(200, fixture({1: 'list1-page1.json', 2: 'list2.json'}.get(n, 'list3.json')))

    def watch(self, n):
        try:
            self.replay_watch(n)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True   # the client cut the stream

    def replay_watch(self, n):
        st = self.server.state
        if n == 1:
            lines = fixture('watch1.jsonl').splitlines(keepends=True)
            self.start_stream()
            # One event in two pieces, so the client must join them ...
            self.chunk(lines[0][:100])
            time.sleep(0.05)
            # ... and the rest of it with a whole second event in one piece.
            self.chunk(lines[0][100:] + lines[1])
            time.sleep(0.05)
            self.chunk(lines[2] + lines[3])
            self.end_stream()
        elif n == 2:
            self.start_stream()
            self.chunk(fixture('watch2.jsonl'))
            st.stopping.wait(5)
            self.end_stream()
        elif n == 3:
            self.start_stream()
            self.chunk(fixture('watch3.jsonl'))
            # No last chunk: the connection just drops.
            self.close_connection = True
        elif n == 4:
            self.send_json(410, fixture('status-410.json'))
        elif n == 5:
            # A MODIFIED event with an annotation past the client's cap
            # (the real server limits annotations to 256 KiB in all).
            event = json.loads(fixture('watch1.jsonl').splitlines()[0])
            event['type'] = 'MODIFIED'
            event['object']['metadata']['annotations']['example.com/blob'] = 'x' * (1 << 20)
            line = json.dumps(event, separators=(',', ':')).encode() + b'\n'
            self.start_stream()
            for i in range(0, len(line), 65536):
                self.chunk(line[i:i + 65536])
            self.end_stream()
        else:
            self.start_stream()
            st.stopping.wait(60)
            self.end_stream()

    def do_PATCH(self):
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length)
        url, _ = self.record(body)
        if not self.authorized():
            return
        prefix = '/api/v1/nodes/'
        name = url.path[len(prefix):] if url.path.startswith(prefix) else ''
        if not name or '/' in name:
            self.status(404, 'NotFound', 'the server could not find the requested resource')
            return
        st = self.server.state
        with st.lock:
            st.patches += 1
            first = st.patches == 1
        if first:
            self.status(500, 'InternalError', 'etcdserver: leader changed')
            return
        ctype = self.headers.get('Content-Type', '')
        if ctype != 'application/merge-patch+json':
            self.status(415, 'UnsupportedMediaType',
                        '415: Unsupported Media Type ("%s")' % ctype)
            return
        try:
            patch = json.loads(body)
            annotations = patch['metadata']['annotations']
        except (ValueError, KeyError, TypeError) as e:
            self.status(400, 'BadRequest', 'error decoding patch: %s' % e)
            return
        node = {'kind': 'Node', 'apiVersion': 'v1',
                'metadata': {'name': name, 'resourceVersion': '1030',
                             'annotations': annotations}}
        self.send_json(200, json.dumps(node).encode())


def serve(args, handler, state, background=None):
    """Serves HTTPS on 127.0.0.1 (a free port, written to args.port_file)
    with args.cert/args.key until SIGINT; server.state is state, and
    background (a function of no arguments), if given, runs in a thread
    beside it. Returns 0 for the caller's exit status."""
    server = ThreadingHTTPServer(('127.0.0.1', 0), handler)
    server.daemon_threads = True
    server.state = state
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    if background:
        threading.Thread(target=background, daemon=True).start()
    tmp = args.port_file + '.tmp'
    with open(tmp, 'w') as f:
        f.write('%d\n' % server.server_address[1])
    os.rename(tmp, args.port_file)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        state.stopping.set()
        server.server_close()
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for opt in ('--cert', '--key', '--token-file', '--log', '--port-file'):
        p.add_argument(opt, required=True)
    args = p.parse_args()
    return serve(args, Handler, State(args))


if __name__ == '__main__':
    sys.exit(main())
