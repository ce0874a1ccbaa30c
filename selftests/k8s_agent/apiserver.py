#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A live stand-in for kube-apiserver's Node endpoints, for k8s_agent.sh.

Where selftests/k8s/fake_apiserver.py replays a fixed script to test the
Kubernetes backend alone, this one keeps a small store of Nodes so that the
whole agent can run against it: a list answers with the store as it is, a
watch streams every change after the resourceVersion asked for and then
stays open (quietly) for more, and a PATCH of a node's annotations changes
the store and is seen by the watchers as a MODIFIED event, as on a real
server. The HTTPS, bearer-token and request-log parts are fake_apiserver.py's
(its Handler, imported); every request goes to the --log file as one JSON
line before it is answered.

  --nodes FILE    the initial NodeList (its metadata.resourceVersion is the
                  store's first resourceVersion)
  --events FILE   scripted changes, one JSON object a line:
                    {"type": "MODIFIED", "name": N, "annotations": {...}}
                    (merged into the node's annotations, null deletes one)
                    {"type": "DELETED", "name": N}
  --go PREFIX     change number I (from 1) is made once the file PREFIX.I
                  exists, so the test says when

Standard library only; writes its port (127.0.0.1, chosen by the kernel) to
--port-file once it accepts connections.
"""
import argparse
import copy
import json
import os
import ssl
import sys
import threading

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'k8s'))
import fake_apiserver  # noqa: E402  (the shared HTTPS, auth and logging parts)


class Store:
    """Nodes by name, the resourceVersion, and the change log for watches.
    `lock`, `seq`, `args` and `token()` are what fake_apiserver's Handler
    needs of its state."""

    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.stopping = threading.Event()
        self.seq = 0
        with open(args.nodes) as f:
            first = json.load(f)
        self.rv = int(first['metadata']['resourceVersion'])
        self.nodes = {n['metadata']['name']: n for n in first['items']}
        self.log = []   # (resourceVersion, one watch-event line)
        with open(args.events) as f:
            self.script = [json.loads(line) for line in f if line.strip()]

    def token(self):
        with open(self.args.token_file) as f:
            return f.read().strip()

    def change(self, etype, name, annotations=None):
        """Apply one change (lock held): the node's new object, or None."""
        node = self.nodes.get(name)
        if node is None:
            return None
        node = copy.deepcopy(node)
        if etype == 'MODIFIED':
            ann = node['metadata'].setdefault('annotations', {})
            for k, v in (annotations or {}).items():
                if v is None:
                    ann.pop(k, None)
                else:
                    ann[k] = v
        self.rv += 1
        node['metadata']['resourceVersion'] = str(self.rv)
        if etype == 'DELETED':
            del self.nodes[name]
        else:
            self.nodes[name] = node
        event = {'type': etype, 'object': node}
        self.log.append((self.rv, json.dumps(event, separators=(',', ':')).encode() + b'\n'))
        self.changed.notify_all()
        return node

    def run_script(self):
        """Make scripted change I once PREFIX.I exists."""
        for i, step in enumerate(self.script, 1):
            while not os.path.exists('%s.%d' % (self.args.go, i)):
                if self.stopping.wait(0.05):
                    return
            with self.lock:
                self.change(step['type'], step['name'], step.get('annotations'))


class Handler(fake_apiserver.Handler):
    def do_GET(self):
        url, query = self.record(b'')
        if not self.authorized():
            return
        if url.path != '/api/v1/nodes':
            self.status(404, 'NotFound', 'the server could not find the requested resource')
            return
        st = self.server.state
        if query.get('watch') in ('1', 'true'):
            try:
                self.watch(int(query.get('resourceVersion') or 0))
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                self.close_connection = True   # the client went away
            return
        with st.lock:
            body = {'kind': 'NodeList', 'apiVersion': 'v1',
                    'metadata': {'resourceVersion': str(st.rv)},
                    'items': [st.nodes[n] for n in sorted(st.nodes)]}
        self.send_json(200, json.dumps(body).encode())

    def watch(self, since):
        st = self.server.state
        self.start_stream()
        while True:
            with st.lock:
                lines = [line for rv, line in st.log if rv > since]
                if not lines and not st.stopping.is_set():
                    st.changed.wait(0.5)
                    continue
                if lines:
                    since = st.log[-1][0]
            if not lines:   # stopping
                self.end_stream()
                return
            self.chunk(b''.join(lines))

    def do_PATCH(self):
        body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
        url, _ = self.record(body)
        if not self.authorized():
            return
        prefix = '/api/v1/nodes/'
        name = url.path[len(prefix):] if url.path.startswith(prefix) else ''
        ctype = self.headers.get('Content-Type', '')
        if ctype != 'application/merge-patch+json':
            self.status(415, 'UnsupportedMediaType', '415: Unsupported Media Type ("%s")' % ctype)
            return
        try:
            patch = json.loads(body)
            annotations = patch['metadata']['annotations']
            if set(patch) != {'metadata'} or set(patch['metadata']) != {'annotations'}:
                raise ValueError('this fake patches annotations only')
        except (ValueError, KeyError, TypeError) as e:
            self.status(400, 'BadRequest', 'error decoding patch: %s' % e)
            return
        st = self.server.state
        with st.lock:
            node = st.change('MODIFIED', name, annotations)
        if node is None:
            self.status(404, 'NotFound', 'nodes "%s" not found' % name)
            return
        self.send_json(200, json.dumps(node).encode())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for opt in ('--cert', '--key', '--token-file', '--log', '--port-file',
                '--nodes', '--events', '--go'):
        p.add_argument(opt, required=True)
    args = p.parse_args()
    store = Store(args)
    return fake_apiserver.serve(args, Handler, store, store.run_script)


if __name__ == '__main__':
    sys.exit(main())
