"""The real gen3 SDK's Gen3Metadata against weft's metadata service: reads under /mds/,
writes under /mds-admin/ (as the SDK sends them), with the caller's own token checked
there (policy: mds_gateway access on /mds_gateway).

run.sh exports WEFT_URL, WEFT_BIN, WEFT_CLIENTS_DATA_DIR and WEFT_AUTHZ_ADMIN_TOKEN.
"""

import os
import subprocess
import uuid

import pytest
import requests
from gen3.auth import Gen3Auth
from gen3.metadata import Gen3Metadata

BASE = os.environ["WEFT_URL"]
ADMIN = {"Authorization": "bearer " + os.environ["WEFT_AUTHZ_ADMIN_TOKEN"]}
SFX = uuid.uuid4().hex[:8]
CURATOR = "sdk-curator-%s@example.org" % SFX
KIND = "sdk_discovery_%s" % SFX


def admin(method, path, body=None):
    r = requests.request(method, BASE + "/authz" + path, json=body, headers=ADMIN, timeout=30)
    assert r.status_code in (200, 201, 204, 409), (method, path, r.status_code, r.text)
    return r


def api_key_auth(user, tmp_path):
    out = subprocess.run(
        [os.environ["WEFT_BIN"], "api-key", "create", "--user", user,
         "--data-dir", os.environ["WEFT_CLIENTS_DATA_DIR"], "--base-url", BASE],
        check=True, capture_output=True, text=True)
    path = tmp_path / ("credentials-%s.json" % uuid.uuid4().hex[:6])
    path.write_text(out.stdout)
    return Gen3Auth(refresh_file=str(path))


@pytest.fixture(scope="module")
def mds(tmp_path_factory):
    role = "sdk-mds-" + SFX
    admin("POST", "/resource?p", {"path": "/mds_gateway"})
    admin("POST", "/role", {"id": role, "permissions": [
        {"id": role, "action": {"service": "mds_gateway", "method": "access"}}]})
    admin("POST", "/policy", {"id": role, "role_ids": [role], "resource_paths": ["/mds_gateway"]})
    admin("POST", "/user", {"name": CURATOR})
    admin("POST", "/user/%s/policy" % CURATOR, {"policy": role})
    return Gen3Metadata(api_key_auth(CURATOR, tmp_path_factory.mktemp("creds")))


def study(n):
    return {
        "_guid_type": KIND,
        "gen3_discovery": {
            "study_id": "S%d" % n,
            "subjects": n * 10,
            "site": {"name": "north" if n % 2 else "south"},
        },
    }


def test_endpoints_are_mds_and_mds_admin(mds):
    assert mds.endpoint == BASE + "/mds"
    assert mds.admin_endpoint == BASE + "/mds-admin"
    assert mds.is_healthy() is True
    assert mds.get_version().strip('"')


def test_create_get_update_delete(mds):
    guid = "dg.SDK0/%s-one" % SFX
    created = mds.create(guid, study(1), aliases=["alias-%s" % SFX])
    assert created == study(1)
    assert mds.get(guid) == study(1)
    assert mds.get("alias-%s" % SFX) == study(1)
    assert mds.get_aliases(guid) == {"guid": guid, "aliases": ["alias-%s" % SFX]}
    with pytest.raises(requests.HTTPError) as e:
        mds.create(guid, {"again": True})
    assert e.value.response.status_code == 409
    assert mds.create(guid, {"v": 2}, overwrite=True) == {"v": 2}
    assert mds.update(guid, {"v": 3}) == {"v": 3}
    assert mds.get(guid) == {"v": 3}
    assert mds.update_aliases(guid, ["b-%s" % SFX], merge=True)["aliases"] == sorted(
        ["alias-%s" % SFX, "b-%s" % SFX])
    mds.delete_alias(guid, "alias-%s" % SFX)
    assert mds.get_aliases(guid)["aliases"] == ["b-%s" % SFX]
    mds.delete_aliases(guid)
    assert mds.get_aliases(guid)["aliases"] == []
    assert mds.delete(guid) == {"v": 3}
    with pytest.raises(requests.HTTPError) as e:
        mds.get(guid)
    assert e.value.response.status_code == 404


def test_batch_create_and_query(mds):
    rows = [{"guid": "%s-%d" % (SFX, n), "data": study(n)} for n in range(1, 7)]
    out = mds.batch_create(rows)
    assert sorted(out["created"]) == sorted(r["guid"] for r in rows), out
    assert out["conflict"] == [] and out["updated"] == []
    guids = mds.query("_guid_type=%s" % KIND, limit=100)
    assert guids == sorted(r["guid"] for r in rows)
    north = mds.query(
        "_guid_type=%s&gen3_discovery.site.name=north" % KIND,
        return_full_metadata=True, limit=100)
    assert north == {"%s-%d" % (SFX, n): study(n) for n in (1, 3, 5)}
    # values compare as text: a number matches its digits
    assert mds.query("_guid_type=%s&gen3_discovery.subjects=40" % KIND) == ["%s-4" % SFX]
    assert mds.query("_guid_type=%s" % KIND, limit=2, offset=1) == ["%s-2" % SFX, "%s-3" % SFX]
    again = mds.batch_create(rows[:2], overwrite=True)
    assert sorted(again["updated"]) == sorted(r["guid"] for r in rows[:2])


def test_index_key_paths(mds):
    path = "gen3_discovery.site.name"
    assert path not in mds.get_index_key_paths()
    assert mds.create_index_key_path(path) == path
    assert path in mds.get_index_key_paths()
    assert "_guid_type" in mds.get_index_key_paths()
    assert mds.delete_index_key_path(path).status_code == 204
    assert path not in mds.get_index_key_paths()


def test_reads_are_open_and_writes_need_permission(mds, tmp_path):
    guid = "%s-open" % SFX
    mds.create(guid, {"public": True})
    anonymous = Gen3Metadata(BASE)
    assert anonymous.get(guid) == {"public": True}
    assert guid in anonymous.query("public=true", limit=100)
    # without an auth provider the SDK does not even try admin calls
    assert anonymous.create(guid + "-x", {"a": 1}) is None
    stranger = Gen3Metadata(api_key_auth("sdk-stranger-%s@example.org" % SFX, tmp_path))
    with pytest.raises(requests.HTTPError) as e:
        stranger.create(guid + "-y", {"a": 1})
    assert e.value.response.status_code == 403
    assert "detail" in e.value.response.json()
    with pytest.raises(requests.HTTPError) as e:
        stranger.delete(guid)
    assert e.value.response.status_code == 403
    assert anonymous.get(guid) == {"public": True}
