"""Helpers the SDK tests share: administering weft's policy engine (/authz) with the
harness's admin token, and an API key (credentials.json) for a user, made by `weft api-key
create`. run.sh exports WEFT_URL, WEFT_BIN, WEFT_CLIENTS_DATA_DIR and WEFT_AUTHZ_ADMIN_TOKEN.
"""

import os
import subprocess

import requests

BASE = os.environ["WEFT_URL"]
ADMIN = {"Authorization": "bearer " + os.environ["WEFT_AUTHZ_ADMIN_TOKEN"]}


def admin(method, path, body=None):
    r = requests.request(method, BASE + "/authz" + path, json=body, headers=ADMIN, timeout=30)
    assert r.status_code in (200, 201, 204, 409), (method, path, r.status_code, r.text)
    return r


def grant(tag, user, method, path, service):
    """Give `user` `method` of `service` on `path` (a role and policy named after `tag`)."""
    pid = "%s-%s-%s-%s" % (tag, service, method.replace("*", "star"), abs(hash(path)))
    admin("POST", "/resource?p", {"path": path})
    admin("POST", "/role", {"id": pid, "permissions": [
        {"id": pid, "action": {"service": service, "method": method}}]})
    admin("POST", "/policy", {"id": pid, "role_ids": [pid], "resource_paths": [path]})
    admin("POST", "/user", {"name": user})
    admin("POST", "/user/%s/policy" % user, {"policy": pid})


def credentials(user, directory):
    """The path of a credentials.json for `user`, written in `directory`."""
    out = subprocess.run(
        [os.environ["WEFT_BIN"], "api-key", "create", "--user", user,
         "--data-dir", os.environ["WEFT_CLIENTS_DATA_DIR"], "--base-url", BASE],
        check=True, capture_output=True, text=True)
    path = directory / "credentials.json"
    path.write_text(out.stdout)
    return str(path)
