"""The real gen3 SDK's Gen3File against weft's fence data endpoints, on local storage:
upload_file (POST /user/data/upload) then a PUT of the bytes to the signed URL (which
fills the blank record), get_presigned_url and download_single (GET
/user/data/download/{guid}), upload_file_to_guid (GET /user/data/upload/{guid}) and
delete_file_locations (DELETE /user/data/{guid}).

run.sh exports WEFT_URL, WEFT_BIN, WEFT_CLIENTS_DATA_DIR and WEFT_AUTHZ_ADMIN_TOKEN.
"""

import hashlib
import json
import os
import subprocess
import uuid

import pytest
import requests
from gen3.auth import Gen3Auth
from gen3.file import Gen3File
from gen3.index import Gen3Index

BASE = os.environ["WEFT_URL"]
ADMIN = {"Authorization": "bearer " + os.environ["WEFT_AUTHZ_ADMIN_TOKEN"]}
SFX = uuid.uuid4().hex[:8]
UPLOADER = "sdk-uploader-%s@example.org" % SFX
PROJECT = "/programs/files%s/projects/p" % SFX
DATA = bytes((i * 13 + 7) % 256 for i in range(70_001))


def admin(method, path, body=None):
    r = requests.request(method, BASE + "/authz" + path, json=body, headers=ADMIN, timeout=30)
    assert r.status_code in (200, 201, 204, 409), (method, path, r.status_code, r.text)
    return r


@pytest.fixture(scope="module")
def auth(tmp_path_factory):
    role = "sdk-files-" + SFX
    admin("POST", "/resource?p", {"path": PROJECT})
    admin("POST", "/role", {"id": role, "permissions": [
        {"id": m, "action": {"service": "fence", "method": m}}
        for m in ("create", "write-storage", "read-storage", "delete")]})
    admin("POST", "/policy", {"id": role, "role_ids": [role], "resource_paths": [PROJECT]})
    admin("POST", "/user", {"name": UPLOADER})
    admin("POST", "/user/%s/policy" % UPLOADER, {"policy": role})
    out = subprocess.run(
        [os.environ["WEFT_BIN"], "api-key", "create", "--user", UPLOADER,
         "--data-dir", os.environ["WEFT_CLIENTS_DATA_DIR"], "--base-url", BASE],
        check=True, capture_output=True, text=True)
    path = tmp_path_factory.mktemp("creds") / "credentials.json"
    path.write_text(out.stdout)
    return Gen3Auth(refresh_file=str(path))


def test_upload_download_delete(auth, tmp_path):
    files = Gen3File(auth)
    doc = files.upload_file("sdk file.bin", authz=[PROJECT], expires_in=600)
    assert set(doc) == {"guid", "url"}, doc
    guid = doc["guid"]
    assert doc["url"].startswith(BASE + "/user/data/local/" + guid + "/sdk%20file.bin?"), doc

    index = Gen3Index(auth)
    blank = index.get_record(guid)
    assert blank["size"] is None and blank["hashes"] == {}, blank
    assert blank["authz"] == [PROJECT] and blank["file_name"] == "sdk file.bin", blank

    put = requests.put(doc["url"], data=DATA, timeout=60)
    assert put.status_code == 200, put.text
    md5 = hashlib.md5(DATA).hexdigest()
    assert put.headers["ETag"] == '"%s"' % md5
    record = index.get_record(guid)
    assert record["size"] == len(DATA), record
    assert record["hashes"] == {"md5": md5}, record
    assert record["urls"] == ["file:///%s/sdk%%20file.bin" % guid], record

    signed = files.get_presigned_url(guid)
    got = requests.get(signed["url"], timeout=60)
    assert got.status_code == 200 and got.content == DATA
    assert files.download_single(guid, str(tmp_path)) is True
    assert (tmp_path / "sdk file.bin").read_bytes() == DATA

    again = files.upload_file_to_guid(guid, "second.bin")
    assert again["url"].startswith(BASE + "/user/data/local/" + guid + "/second.bin?"), again
    # the record is filled: its upload URL no longer takes bytes
    assert requests.put(again["url"], data=b"x", timeout=60).status_code == 409

    deleted = files.delete_file_locations(guid)
    assert deleted.status_code == 204, deleted.text
    assert index.get_record(guid) is None


def test_upload_needs_permission(tmp_path):
    stranger = "sdk-stranger-%s@example.org" % SFX
    out = subprocess.run(
        [os.environ["WEFT_BIN"], "api-key", "create", "--user", stranger,
         "--data-dir", os.environ["WEFT_CLIENTS_DATA_DIR"], "--base-url", BASE],
        check=True, capture_output=True, text=True)
    path = tmp_path / "credentials.json"
    path.write_text(out.stdout)
    files = Gen3File(Gen3Auth(refresh_file=str(path)))
    with pytest.raises(requests.HTTPError) as e:
        files.upload_file("x.bin", authz=[PROJECT])
    assert e.value.response.status_code == 403
    body = json.loads(e.value.response.text)
    assert "error" in body
