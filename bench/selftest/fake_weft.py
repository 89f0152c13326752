#!/usr/bin/env python3
"""A tiny, slow stand-in for the `weft` binary, used only to self-test the
benchmark harness (run.sh, the Lua scripts, kill9_check.sh) when the real
binary is not built.  It speaks just enough of the CLI and HTTP API:

  fake_weft.py serve --listen HOST:PORT --data-dir DIR
  fake_weft.py index-user add NAME --password-stdin --data-dir DIR
  fake_weft.py index import MANIFEST.tsv --data-dir DIR

Numbers measured against it mean nothing.  Use:  WEFT_BIN=bench/selftest/fake_weft.py
With FAKE_WEFT_LOSSY=1 it acknowledges creates before committing them, so
bench/kill9_check.sh must report missing dids (a negative test of the check).
"""
import base64
import json
import os
import sqlite3
import sys
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def db(data_dir):
    os.makedirs(data_dir, exist_ok=True)
    c = sqlite3.connect(os.path.join(data_dir, "fake.sqlite"), check_same_thread=False, isolation_level=None)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("CREATE TABLE IF NOT EXISTS rec (did TEXT PRIMARY KEY, md5 TEXT, size INT, body TEXT)")
    c.execute("CREATE INDEX IF NOT EXISTS rec_md5 ON rec(md5)")
    c.execute("CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, pw TEXT)")
    return c


def record(did, md5, size, urls, authz, acl, name):
    return {"did": did, "baseid": did, "rev": did[:8], "size": size, "hashes": {"md5": md5},
            "urls": urls, "authz": authz, "acl": acl, "file_name": name, "form": "object"}


def cmd_import(path, data_dir):
    c = db(data_dir)
    rows = []
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            r = dict(zip(header, line.rstrip("\n").split("\t")))
            did = r["guid"] or str(uuid.uuid4())
            rows.append((did, r["md5"], int(r["size"]), json.dumps(record(
                did, r["md5"], int(r["size"]), r["url"].split(), r["authz"].split(), r["acl"].split(), r["file_name"]))))
    c.execute("BEGIN")
    c.executemany("INSERT INTO rec VALUES (?,?,?,?)", rows)
    c.execute("COMMIT")
    print(f"imported {len(rows)} records")


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    lock = threading.Lock()

    def log_message(self, *a):
        pass

    def send(self, code, obj, ctype="application/json"):
        body = obj.encode() if isinstance(obj, str) else json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        c = self.server.conn
        with H.lock:
            if u.path == "/_version":
                return self.send(200, {"version": "fake", "commit": "fake"})
            if u.path == "/metrics":
                return self.send(200, "# fake\nfake_up 1\n", "text/plain")
            if u.path in ("/index/index/", "/index/index", "/index/"):
                limit = int(q.get("limit", "100"))
                if "hash" in q:
                    md5 = q["hash"].split(":", 1)[1]
                    rows = c.execute("SELECT body FROM rec WHERE md5=? ORDER BY did LIMIT ?", (md5, limit)).fetchall()
                else:
                    rows = c.execute("SELECT body FROM rec WHERE did>? ORDER BY did LIMIT ?",
                                     (q.get("start", ""), limit)).fetchall()
                return self.send(200, {"records": [json.loads(r[0]) for r in rows], "limit": limit})
            for prefix in ("/index/index/", "/ga4gh/drs/v1/objects/", "/index/"):
                if u.path.startswith(prefix):
                    did = u.path[len(prefix):]
                    row = c.execute("SELECT body FROM rec WHERE did=?", (did,)).fetchone()
                    if row:
                        return self.send(200, row[0])
                    return self.send(404, {"error": "no record found"})
        self.send(404, {"error": "not found"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(n))
        auth = self.headers.get("Authorization", "")
        c = self.server.conn
        with H.lock:
            try:
                user, pw = base64.b64decode(auth.split(" ", 1)[1]).decode().split(":", 1)
            except Exception:
                return self.send(401, {"error": "auth"})
            if c.execute("SELECT 1 FROM users WHERE name=? AND pw=?", (user, pw)).fetchone() is None:
                return self.send(403, {"error": "auth"})
            did = str(uuid.uuid4())
            rec = record(did, body["hashes"]["md5"], body["size"], body.get("urls", []), body.get("authz", []),
                         body.get("acl", []), body.get("file_name"))
            row = (did, rec["hashes"]["md5"], rec["size"], json.dumps(rec))
            if os.environ.get("FAKE_WEFT_LOSSY"):  # acks before commit: kill9_check.sh must fail
                self.server.pending.append(row)
                if len(self.server.pending) >= 200:
                    c.executemany("INSERT INTO rec VALUES (?,?,?,?)", self.server.pending)
                    self.server.pending = []
            else:
                c.execute("INSERT INTO rec VALUES (?,?,?,?)", row)
        self.send(200, {"did": did, "rev": rec["rev"], "baseid": did})


def main(argv):
    def opt(name, default=None):
        return argv[argv.index(name) + 1] if name in argv else default
    data_dir = opt("--data-dir", ".")
    if argv[:1] == ["serve"]:
        host, port = opt("--listen").rsplit(":", 1)
        srv = ThreadingHTTPServer((host, int(port)), H)
        srv.conn = db(data_dir)
        srv.pending = []
        srv.serve_forever()
    elif argv[:2] == ["index-user", "add"]:
        pw = sys.stdin.readline().strip()
        db(data_dir).execute("INSERT OR REPLACE INTO users VALUES (?,?)", (argv[2], pw))
    elif argv[:2] == ["index", "import"]:
        cmd_import(argv[2], data_dir)
    else:
        sys.exit("usage: see docstring")


if __name__ == "__main__":
    main(sys.argv[1:])
