"""The real gen3 SDK's Gen3Auth against weft: a credentials.json from
`weft api-key create`, exchanged for access tokens by the SDK itself, then used
for index writes that the policy engine allows or denies.

run.sh exports WEFT_URL, WEFT_BIN, WEFT_CLIENTS_DATA_DIR and
WEFT_AUTHZ_ADMIN_TOKEN (a bootstrap admin of the policy engine).
"""

import base64
import json
import os
import subprocess
import uuid

import pytest
import requests
from gen3.auth import Gen3Auth, Gen3AuthError, get_access_token_with_key
from gen3.index import Gen3Index

BASE = os.environ["WEFT_URL"]
ADMIN = {"Authorization": "bearer " + os.environ["WEFT_AUTHZ_ADMIN_TOKEN"]}
SFX = uuid.uuid4().hex[:8]
WRITER = "sdk-writer-%s@example.org" % SFX
PROJECT = "/programs/sdk%s/projects/p" % SFX


def admin(method, path, body=None):
    r = requests.request(method, BASE + "/authz" + path, json=body, headers=ADMIN, timeout=30)
    assert r.status_code in (200, 201, 204, 409), (method, path, r.status_code, r.text)
    return r


@pytest.fixture(scope="module")
def credentials(tmp_path_factory):
    admin("POST", "/resource?p", {"path": PROJECT})
    admin("POST", "/role", {"id": "sdk-creator-" + SFX, "permissions": [
        {"id": "c", "action": {"service": "indexd", "method": "create"}}]})
    admin("POST", "/policy", {"id": "sdk-writes-" + SFX, "role_ids": ["sdk-creator-" + SFX],
                              "resource_paths": [PROJECT]})
    admin("POST", "/user", {"name": WRITER})
    admin("POST", "/user/%s/policy" % WRITER, {"policy": "sdk-writes-" + SFX})
    out = subprocess.run(
        [os.environ["WEFT_BIN"], "api-key", "create", "--user", WRITER,
         "--data-dir", os.environ["WEFT_CLIENTS_DATA_DIR"], "--base-url", BASE],
        check=True, capture_output=True, text=True)
    creds = json.loads(out.stdout)
    assert set(creds) == {"api_key", "key_id"}
    path = tmp_path_factory.mktemp("creds") / "credentials.json"
    path.write_text(json.dumps(creds))
    return path


def test_gen3auth_exchanges_the_api_key(credentials):
    auth = Gen3Auth(refresh_file=str(credentials))
    assert auth.endpoint == BASE
    token = auth.get_access_token()
    info = requests.get(BASE + "/user/user", headers={"Authorization": "bearer " + token}, timeout=30)
    assert info.status_code == 200, info.text
    assert info.json()["username"] == WRITER
    assert info.json()["authz"][PROJECT] == [{"service": "indexd", "method": "create"}]
    # Gen3Auth as a requests auth handler (what every SDK class uses).
    r = requests.get(BASE + "/user/user", auth=auth, timeout=30)
    assert r.status_code == 200 and r.json()["username"] == WRITER


def test_gen3index_writes_where_the_policy_allows(credentials):
    auth = Gen3Auth(refresh_file=str(credentials))
    index = Gen3Index(auth_provider=auth)
    rec = index.create_record(hashes={"md5": "0123456789abcdef0123456789abcdef"}, size=7,
                              urls=["s3://sdk-bucket/%s" % SFX], authz=[PROJECT],
                              file_name="sdk-%s.bin" % SFX)
    assert rec["did"]
    assert index.get_record(rec["did"])["authz"] == [PROJECT]
    with pytest.raises(requests.HTTPError) as e:
        index.create_record(hashes={"md5": "fedcba9876543210fedcba9876543210"}, size=1,
                            urls=["s3://sdk-bucket/denied"], authz=["/programs/elsewhere"])
    assert e.value.response.status_code == 403


def test_a_revoked_key_no_longer_exchanges(credentials):
    creds = json.loads(credentials.read_text())
    session = subprocess.run(
        [os.environ["WEFT_BIN"], "token", "create", "--user", WRITER, "--scopes",
         "openid,user,credentials", "--data-dir", os.environ["WEFT_CLIENTS_DATA_DIR"],
         "--base-url", BASE], check=True, capture_output=True, text=True).stdout.strip()
    h = {"Authorization": "bearer " + session}
    listed = requests.get(BASE + "/user/credentials/api", headers=h, timeout=30).json()["jtis"]
    assert creds["key_id"] in [k["jti"] for k in listed]
    r = requests.delete(BASE + "/user/credentials/api/" + creds["key_id"], headers=h, timeout=30)
    assert r.status_code == 204, r.text
    # Gen3Auth caches access tokens on disk, so ask the exchange the way it does, uncached.
    with pytest.raises(Gen3AuthError) as e:
        get_access_token_with_key(creds)
    assert "401" in str(e.value) or "revoked" in str(e.value), str(e.value)


def test_gen3auth_with_oidc_client_credentials(credentials):
    """An OIDC client from `weft client create --grant-types client_credentials`: the SDK
    gets its own tokens at /user/oauth2/token, and the policy engine judges the client by
    the policies the client was given (arborist's clients)."""
    out = subprocess.run(
        [os.environ["WEFT_BIN"], "client", "create", "sdk-robot-" + SFX,
         "--grant-types", "client_credentials",
         "--data-dir", os.environ["WEFT_CLIENTS_DATA_DIR"]],
        check=True, capture_output=True, text=True)
    client = json.loads(out.stdout)
    assert client["client_secret"]
    admin("POST", "/client", {"clientID": client["client_id"], "policies": ["sdk-writes-" + SFX]})

    auth = Gen3Auth(endpoint=BASE, client_credentials=(client["client_id"], client["client_secret"]))
    token = auth.get_access_token()
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["azp"] == client["client_id"]
    assert "user" not in claims["context"]
    assert sorted(claims["scope"]) == ["data", "openid", "user"]

    index = Gen3Index(auth_provider=auth)
    rec = index.create_record(hashes={"md5": "00112233445566778899aabbccddeeff"}, size=3,
                              urls=["s3://sdk-bucket/robot-%s" % SFX], authz=[PROJECT])
    assert index.get_record(rec["did"])["authz"] == [PROJECT]
    with pytest.raises(requests.HTTPError) as e:
        index.create_record(hashes={"md5": "ffeeddccbbaa99887766554433221100"}, size=1,
                            urls=["s3://sdk-bucket/robot-denied"], authz=["/programs/elsewhere"])
    assert e.value.response.status_code == 403

    with pytest.raises(Exception):
        Gen3Auth(endpoint=BASE, client_credentials=(client["client_id"], "wrong")).get_access_token()
