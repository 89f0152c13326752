#!/usr/bin/env python3
"""A stand-in notebook for the portal's browser tests (Python 3 stdlib only).

Commons A's workspace kind "stand-in" runs it as `python3 fake_notebook.py {port}`, in the
user's workspace home, with JUPYTER_TOKEN in its environment, as weft's local backend runs
JupyterLab. It serves under the base URL JupyterLab gets (/lw-workspace/proxy/), and every
request must carry `Authorization: token $JUPYTER_TOKEN` (weft's proxy adds it):

  GET /lw-workspace/proxy/api/status  Jupyter's status: {"last_activity": <ISO time>, "kernels": 0}
                                      (weft polls it: Running once it answers)
  GET /lw-workspace/proxy/lab         a small page with "stand-in notebook" and the files the
                                      workspace holds in manifests/
  GET /lw-workspace/proxy/            302 to lab, as JupyterLab
"""

import html
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BASE = "/lw-workspace/proxy/"
PORT = int(sys.argv[1])
TOKEN = os.environ["JUPYTER_TOKEN"]
STARTED = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


def lab_page():
    try:
        names = sorted(os.listdir(os.path.join(os.environ.get("HOME", "."), "manifests")))
    except OSError:
        names = []
    items = "".join(f'<li class="manifest">{html.escape(n)}</li>' for n in names)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>stand-in notebook</title></head><body><main>"
        "<h1>stand-in notebook</h1>"
        "<p>This stands in for JupyterLab in weft's portal browser tests.</p>"
        f'<h2>manifests/</h2><ul id="manifests">{items}</ul>'
        "</main></body></html>"
    ).encode()


class Handler(BaseHTTPRequestHandler):
    def send(self, status, body=b"", content_type="text/plain; charset=utf-8", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        if self.headers.get("Authorization") != "token " + TOKEN:
            self.send(403, b"a token is needed\n")
            return
        path = self.path.split("?", 1)[0]
        if path == BASE + "api/status":
            body = json.dumps({"last_activity": STARTED, "kernels": 0}).encode()
            self.send(200, body, "application/json")
        elif path in (BASE + "lab", BASE + "lab/"):
            self.send(200, lab_page(), "text/html; charset=utf-8")
        elif path == BASE:
            self.send(302, headers=[("Location", BASE + "lab")])
        else:
            self.send(404, b"not found\n")

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
