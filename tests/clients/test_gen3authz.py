"""Drive weft's policy engine (arborist API under /authz) with the unmodified
PyPI `gen3authz` client (gen3authz.client.arborist.client.ArboristClient).

Run from the gen3authz venv that run.sh prepares, against a weft started by
run.sh with a bootstrap admin in `[authz] admin_users`.  Environment (on top
of conftest.py's WEFT_URL):

  WEFT_AUTHZ_ADMIN_TOKEN  access token of that admin (`weft token create`)
  WEFT_BIN                the weft binary, to mint tokens for other users
  WEFT_CLIENTS_DATA_DIR   the data dir of the running weft (same keys)
  WEFT_DATABASE_URL       set in postgres mode, so `weft token create` uses
                          the same database as the server

How the admin token reaches weft without modifying gen3authz
-----------------------------------------------------------
arborist is an internal service, so gen3authz sends no Authorization header
on admin calls; weft requires a bearer token for everything but the decision
endpoints.  gen3authz has a supported hook for per-request keyword
arguments: `ArboristClient.context(**kwargs)` pushes kwargs (contextvar
stack) that `BaseArboristClient.request` merges into every
`httpx.Client.request(...)` call it makes -- fence uses it for
`authz_provider`.  The `admin` fixture enters
`client.context(headers={"Authorization": "bearer <token>"})` for the whole
module.  A call that passes its own `headers` (only `auth_mapping(jwt=...)`)
replaces the context's headers for that call, so the user's token wins there.
The `anon` fixture is a second client without the context (what a service
that only asks for decisions looks like).

Every httpx exchange is recorded and shown in the failure report (conftest.py
does the same for `requests`, which gen3authz does not use).
"""

import datetime
import os
import re
import subprocess
import uuid

import httpx
import pytest
from gen3authz.client.arborist.client import ArboristClient
from gen3authz.client.arborist.errors import ArboristError

import conftest

# --------------------------------------------------------------------------- exchange log

_original_httpx_send = httpx.Client.send


def _recording_httpx_send(self, request, **kwargs):
    bearer = (request.headers.get("Authorization") or "").lower().startswith("bearer")
    entry = {
        "method": request.method,
        "url": str(request.url) + (" [bearer]" if bearer else ""),
        "body": conftest._short(request.content),
    }
    try:
        response = _original_httpx_send(self, request, **kwargs)
    except Exception as exc:
        entry["error"] = repr(exc)
        conftest._EXCHANGES.append(entry)
        raise
    entry["status"] = response.status_code
    entry["content_type"] = response.headers.get("Content-Type", "")
    entry["response"] = conftest._short(response.content)
    conftest._EXCHANGES.append(entry)
    return response


httpx.Client.send = _recording_httpx_send

# --------------------------------------------------------------------------- names

SFX = uuid.uuid4().hex[:8]
ROOT = "/gen3authz-%s" % SFX
A = ROOT + "/projects/A"
B = ROOT + "/projects/B"
OPEN = ROOT + "/open"  # granted to the `anonymous` group
LEAF = OPEN + "/deep/leaf"
LI = ROOT + "/li"  # granted to the `logged-in` group

READER = "reader-" + SFX
WRITER = "writer-" + SFX
P_A = "a-read-" + SFX
P_B = "b-write-" + SFX
P_OPEN = "open-read-" + SFX
P_LI = "li-read-" + SFX

ALICE = "alice-" + SFX  # holds P_A directly
BOB = "bob-" + SFX  # holds nothing (member of a group in some tests)

TAG_RE = re.compile(r"^[A-Za-z0-9_-]{8}$")
FAR_FUTURE = 4102444800  # 2100-01-01T00:00:00Z
PAST = 946684800  # 2000-01-01T00:00:00Z


def ts_z(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def reader_role(role_id, service="peregrine", method="read"):
    return {
        "id": role_id,
        "description": "role " + role_id,
        "permissions": [
            {"id": "%s-%s" % (service, method), "action": {"service": service, "method": method}}
        ],
    }


def policy(pid, roles, paths, description=""):
    return {"id": pid, "description": description, "role_ids": roles, "resource_paths": paths}


def within_root(mapping):
    return {k: v for k, v in mapping.items() if k == ROOT or k.startswith(ROOT + "/")}


def actions(*pairs):
    return [{"service": s, "method": m} for s, m in pairs]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def authz_url(base_url):
    return base_url + "/authz"


@pytest.fixture(scope="module")
def admin_token():
    tok = os.environ.get("WEFT_AUTHZ_ADMIN_TOKEN")
    if not tok:
        pytest.exit("WEFT_AUTHZ_ADMIN_TOKEN is not set; run tests/clients/run.sh", returncode=2)
    return tok


@pytest.fixture(scope="module")
def mint(base_url):
    """mint(user) -> an access token for `user`, from `weft token create`."""
    weft_bin = os.environ.get("WEFT_BIN")
    data_dir = os.environ.get("WEFT_CLIENTS_DATA_DIR")
    if not weft_bin or not data_dir:
        pytest.exit("WEFT_BIN / WEFT_CLIENTS_DATA_DIR are not set", returncode=2)
    cache = {}

    def _mint(user):
        if user not in cache:
            out = subprocess.run(
                [weft_bin, "token", "create", "--user", user, "--data-dir", data_dir,
                 "--base-url", base_url],
                capture_output=True, text=True, timeout=60,
            )
            assert out.returncode == 0, out.stderr
            cache[user] = out.stdout.strip()
        return cache[user]

    return _mint


def with_token(url, token, **kwargs):
    """An unmodified ArboristClient whose every request carries `token` (see module doc)."""
    client = ArboristClient(arborist_base_url=url, **kwargs)
    ctx = client.context(headers={"Authorization": "bearer " + token})
    ctx.__enter__()
    return client, ctx


@pytest.fixture(scope="module")
def admin(authz_url, admin_token):
    client, ctx = with_token(authz_url, admin_token)
    yield client
    ctx.__exit__(None, None, None)


@pytest.fixture(scope="module")
def anon(authz_url):
    return ArboristClient(arborist_base_url=authz_url)


@pytest.fixture(scope="module")
def world(admin):
    """The policy set the decision tests use, built through gen3authz."""
    out = {}
    created = admin.create_resource(
        "/",
        {
            "name": ROOT[1:],
            "description": "gen3authz test root",
            "subresources": [
                {"name": "projects", "subresources": [{"name": "A"}, {"name": "B"}]},
                {"name": "li"},
            ],
        },
    )
    assert created is not None, "root resource already existed"
    out["root"] = created["created"]
    # a nested resource whose parents do not exist yet
    out["leaf"] = admin.create_resource(OPEN + "/deep", {"name": "leaf"}, create_parents=True)
    out["A"] = admin.get_resource(A)
    assert admin.create_role(reader_role(READER)) is not None
    assert admin.create_role(
        {
            "id": WRITER,
            "permissions": [
                {"id": "create", "action": {"service": "peregrine", "method": "create"}},
                {"id": "update", "action": {"service": "peregrine", "method": "update"},
                 "constraints": {"k": "v"}},
            ],
        }
    ) is not None
    for p in (
        policy(P_A, [READER], [A], "read A"),
        policy(P_B, [WRITER], [B], "write B"),
        policy(P_OPEN, [READER], [OPEN]),
        policy(P_LI, [READER], [LI]),
    ):
        assert admin.create_policy(p) is not None, p["id"]
    assert admin.grant_group_policy("anonymous", P_OPEN) is True
    assert admin.grant_group_policy("logged-in", P_LI) is True
    assert admin.create_user({"name": ALICE, "email": ALICE + "@example.org"}) is None
    assert admin.create_user({"name": BOB}) is None
    assert admin.grant_user_policy(ALICE, P_A) == 204
    return out


# --------------------------------------------------------------------------- health and gating


def test_healthy(admin, anon):
    assert admin.healthy() is True
    assert anon.healthy() is True  # /health needs no token


def test_admin_calls_without_token_are_401(anon):
    # list_policies returns the body as is: arborist's error shape, 401
    body = anon.list_policies()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == 401
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    with pytest.raises(ArboristError) as e:
        anon.create_role(reader_role("nope-" + SFX))
    assert e.value.code == 401
    with pytest.raises(ArboristError) as e:
        anon.list_resources()
    assert e.value.code == 401


def test_admin_calls_with_a_plain_user_token_are_403(authz_url, mint, world):
    bob, ctx = with_token(authz_url, mint(BOB))
    try:
        with pytest.raises(ArboristError) as e:
            bob.create_role(reader_role("nope-" + SFX))
        assert e.value.code == 403
        body = bob.list_roles()
        assert body["error"]["code"] == 403
        with pytest.raises(ArboristError) as e:
            bob.get_user(ALICE)
        assert e.value.code == 403
    finally:
        ctx.__exit__(None, None, None)


def test_delegated_admin_through_policies(admin, authz_url, mint):
    """Service `arborist` on /services/arborist/{area} grants administration of that area."""
    admin.create_resource("/services/arborist", {"name": "policy"}, create_parents=True)
    role = "arborist-policy-reader-" + SFX
    assert admin.create_role(reader_role(role, service="arborist", method="read")) is not None
    pid = "arborist-policy-read-" + SFX
    assert admin.create_policy(policy(pid, [role], ["/services/arborist/policy"])) is not None
    dave = "dave-" + SFX
    admin.create_user({"name": dave})
    assert admin.grant_user_policy(dave, pid) == 204
    client, ctx = with_token(authz_url, mint(dave))
    try:
        listed = client.list_policies()
        assert pid in [p["id"] for p in listed["policies"]]
        assert client.get_policy(pid)["id"] == pid
        assert client.list_roles()["error"]["code"] == 403  # another area
        with pytest.raises(ArboristError) as e:  # another method
            client.create_policy(policy("x-" + SFX, [role], ["/services/arborist/policy"]))
        assert e.value.code == 403
    finally:
        ctx.__exit__(None, None, None)


# --------------------------------------------------------------------------- resources


def test_resource_create_nested(world, admin):
    root = world["root"]
    assert root["name"] == ROOT[1:]
    assert root["path"] == ROOT
    assert root["description"] == "gen3authz test root"
    assert TAG_RE.match(root["tag"]), root
    assert sorted(root["subresources"]) == sorted([ROOT + "/projects", LI])
    projects = admin.get_resource(ROOT + "/projects")
    assert sorted(projects["subresources"]) == [A, B]
    assert projects["name"] == "projects"


def test_resource_create_parents(world, admin):
    leaf = world["leaf"]["created"]
    assert leaf["path"] == LEAF and leaf["name"] == "leaf" and leaf["subresources"] == []
    assert admin.get_resource(OPEN)["subresources"] == [OPEN + "/deep"]
    assert admin.get_resource(OPEN + "/deep")["subresources"] == [LEAF]


def test_resource_missing_parent_is_400(world, admin):
    with pytest.raises(ArboristError) as e:
        admin.create_resource(ROOT + "/nope/nope", {"name": "x"})
    assert e.value.code == 400


def test_resource_duplicate_returns_none(world, admin):
    # arborist answers 409 {"error", "exists"}; gen3authz treats 409 as "already there"
    assert admin.create_resource(ROOT + "/projects", {"name": "A"}) is None


def test_resource_get_list_and_missing(world, admin):
    a = admin.get_resource(A)
    assert a == {"name": "A", "path": A, "tag": a["tag"], "description": "", "subresources": []}
    assert admin.get_resource(ROOT + "/does-not-exist") is None
    listed = admin.list_resources()
    paths = {r["path"]: r for r in listed["resources"]}
    for p in (ROOT, ROOT + "/projects", A, B, LI, OPEN, OPEN + "/deep", LEAF):
        assert p in paths, p
    assert paths[A]["tag"] == a["tag"]


def test_resource_update_merge_and_replace(world, admin):
    base = ROOT + "/upd"
    admin.create_resource(ROOT, {"name": "upd", "subresources": [{"name": "x"}, {"name": "y"}]})
    # merge: keeps children not listed
    out = admin.update_resource(ROOT, {"name": "upd", "description": "merged",
                                       "subresources": [{"name": "z"}]}, merge=True)
    assert out["created"]["path"] == base
    r = admin.get_resource(base)
    assert r["description"] == "merged"
    assert sorted(r["subresources"]) == [base + "/x", base + "/y", base + "/z"]
    # no merge: children not listed are deleted
    admin.update_resource(ROOT, {"name": "upd", "subresources": [{"name": "y"}]})
    assert admin.get_resource(base)["subresources"] == [base + "/y"]
    assert admin.get_resource(base + "/x") is None
    # create_parents on PUT
    out = admin.update_resource(ROOT + "/put/new", {"name": "leaf"}, create_parents=True)
    assert out["created"]["path"] == ROOT + "/put/new/leaf"


def test_resource_put_without_subresources_drops_children(world, admin):
    admin.create_resource(ROOT, {"name": "bare", "subresources": [{"name": "kid"}]})
    admin.update_resource(ROOT, {"name": "bare", "description": "no list"})
    assert admin.get_resource(ROOT + "/bare")["description"] == "no list"
    assert admin.get_resource(ROOT + "/bare")["subresources"] == []


def test_resource_delete(world, admin):
    admin.create_resource(ROOT, {"name": "gone", "subresources": [{"name": "child"}]})
    assert admin.delete_resource(ROOT + "/gone") is True
    assert admin.get_resource(ROOT + "/gone") is None
    assert admin.get_resource(ROOT + "/gone/child") is None
    # 404 counts as done for gen3authz
    assert admin.delete_resource(ROOT + "/gone") is True


# --------------------------------------------------------------------------- roles


def test_roles_create_list_update(world, admin):
    rid = "role-" + SFX
    role = reader_role(rid)
    created = admin.create_role(role)
    assert created["created"]["id"] == rid
    assert created["created"]["permissions"][0]["action"] == {"service": "peregrine", "method": "read"}
    assert admin.create_role(role) is None  # 409 is "already there"
    listed = {r["id"]: r for r in admin.list_roles()["roles"]}
    assert listed[rid]["description"] == "role " + rid
    assert listed[rid]["permissions"] == [
        {"id": "peregrine-read", "description": "", "action": {"service": "peregrine", "method": "read"},
         "constraints": {}}
    ]
    assert listed[WRITER]["permissions"][1]["constraints"] == {"k": "v"}
    # overwrite an existing role: 200 {"updated"}
    role["permissions"].append({"id": "dl", "action": {"service": "fence", "method": "read-storage"}})
    resp = admin.update_role(rid, role)
    assert resp.code == 200
    assert len(resp.json["updated"]["permissions"]) == 2
    # PUT of a new role creates it: 201 {"created"}
    new = "role2-" + SFX
    resp = admin.update_role(new, reader_role(new))
    assert resp.code == 201 and resp.json["created"]["id"] == new
    # URL id and body id must agree
    with pytest.raises(ArboristError) as e:
        admin.update_role(new, reader_role("other-" + SFX))
    assert e.value.code == 400


def test_role_delete(world, admin):
    rid = "role-del-" + SFX
    admin.create_role(reader_role(rid))
    # weft answers 204 with no body, as arborist does; gen3authz's delete_role
    # parses every response as JSON and so raises on arborist's 204 too.
    with pytest.raises(ArboristError) as e:
        admin.delete_role(rid)
    assert e.value.code == 204
    assert rid not in [r["id"] for r in admin.list_roles()["roles"]]


# --------------------------------------------------------------------------- policies


def test_policy_get_and_list(world, admin):
    assert admin.get_policy(P_A) == {"id": P_A, "description": "read A", "role_ids": [READER],
                                     "resource_paths": [A]}
    assert admin.get_policy("missing-" + SFX) is None
    listed = {p["id"]: p for p in admin.list_policies()["policies"]}
    assert listed[P_B] == {"id": P_B, "description": "write B", "role_ids": [WRITER],
                           "resource_paths": [B]}
    expanded = {p["id"]: p for p in admin.list_policies(expand=True)["policies"]}
    e = expanded[P_B]
    assert "role_ids" not in e
    assert e["resource_paths"] == [B] and e["description"] == "write B"
    assert [r["id"] for r in e["roles"]] == [WRITER]
    assert [p["action"]["method"] for p in e["roles"][0]["permissions"]] == ["create", "update"]


def test_policy_create_errors(world, admin):
    assert admin.create_policy(policy(P_A, [READER], [A])) is None  # 409 skipped
    with pytest.raises(ArboristError) as e:
        admin.create_policy(policy(P_A, [READER], [A]), skip_if_exists=False)
    assert e.value.code == 409
    with pytest.raises(ArboristError) as e:
        admin.create_policy(policy("bad-" + SFX, [READER], [ROOT + "/no-such-resource"]))
    assert e.value.code == 400
    with pytest.raises(ArboristError) as e:
        admin.create_policy(policy("bad-" + SFX, ["no-such-role-" + SFX], [A]))
    assert e.value.code == 400


def test_policy_update(world, admin):
    pid = "upd-" + SFX
    admin.create_policy(policy(pid, [READER], [A]))
    resp = admin.update_policy(pid, policy(pid, [READER, WRITER], [A, B], "two"))
    assert resp.code == 201
    assert resp.json["updated"]["id"] == pid
    assert admin.get_policy(pid) == {"id": pid, "description": "two", "role_ids": [READER, WRITER],
                                     "resource_paths": [A, B]}
    # a missing policy: 404, or created when asked to
    missing = "upd-missing-" + SFX
    with pytest.raises(ArboristError) as e:
        admin.update_policy(missing, policy(missing, [READER], [A]))
    assert e.value.code == 404
    created = admin.update_policy(missing, policy(missing, [READER], [A]), create_if_not_exist=True)
    assert created["created"]["id"] == missing
    assert admin.get_policy(missing)["resource_paths"] == [A]


def test_policy_bulk_update(world, admin):
    p1, p2 = "bulk1-" + SFX, "bulk2-" + SFX
    admin.create_policy(policy(p1, [READER], [A]))
    admin.create_policy(policy(p2, [READER], [A]))
    resp = admin.update_bulk_policy([policy(p1, [WRITER], [B], "b1"), policy(p2, [READER], [B], "b2")])
    assert resp.code == 201
    assert sorted(p["id"] for p in resp.json["updated"]) == [p1, p2]
    assert admin.get_policy(p1)["role_ids"] == [WRITER]
    assert admin.get_policy(p2)["resource_paths"] == [B]


def test_policy_delete(world, admin):
    pid = "del-" + SFX
    admin.create_policy(policy(pid, [READER], [A]))
    # 204 with no body, as arborist; gen3authz's delete_policy returns
    # `.json` and raises on it (it does the same against arborist).
    with pytest.raises(ArboristError) as e:
        admin.delete_policy(pid)
    assert e.value.code == 204
    assert admin.get_policy(pid) is None


# --------------------------------------------------------------------------- users


def test_user_create_get_list(world, admin):
    u = admin.get_user(ALICE)
    assert u == {"name": ALICE, "email": ALICE + "@example.org", "groups": [],
                 "policies": [{"policy": P_A, "expires_at": None}]}
    assert admin.create_user({"name": ALICE}) is None  # 409
    name = "new-" + SFX
    created = admin.create_user_if_not_exist(name)
    assert created["created"]["name"] == name
    assert admin.create_user_if_not_exist(name) is None
    resp = admin.get_users()
    assert resp.code == 200
    names = [x["name"] for x in resp.json["users"]]
    assert ALICE in names and BOB in names and name in names
    with pytest.raises(ArboristError) as e:
        admin.get_user("nobody-" + SFX)
    assert e.value.code == 404


def test_user_names_are_case_insensitive(world, admin):
    assert admin.get_user(ALICE.upper())["name"] == ALICE


def test_user_update(world, admin):
    name = "upd-user-" + SFX
    admin.create_user({"name": name})
    assert admin.update_user(name, new_email="x@example.org").code == 204
    assert admin.get_user(name)["email"] == "x@example.org"
    renamed = name + "-2"
    assert admin.update_user(name, new_username=renamed).code == 204
    assert admin.get_user(renamed)["email"] == "x@example.org"
    with pytest.raises(ArboristError) as e:
        admin.get_user(name)
    assert e.value.code == 404
    with pytest.raises(ArboristError) as e:
        admin.update_user("nobody-" + SFX, new_email="y@example.org")
    assert e.value.code == 404


def test_user_delete(world, admin):
    name = "del-user-" + SFX
    admin.create_user({"name": name})
    assert admin.delete_user(name) is None
    with pytest.raises(ArboristError) as e:
        admin.get_user(name)
    assert e.value.code == 404
    with pytest.raises(ArboristError) as e:
        admin.delete_user(name)
    assert e.value.code == 404


def test_user_grant_with_expiry_and_revoke(world, admin):
    name = "grant-" + SFX
    admin.create_user({"name": name})
    assert admin.grant_user_policy(name, P_A, expires_at=FAR_FUTURE) == 204
    assert admin.get_user(name)["policies"] == [{"policy": P_A, "expires_at": ts_z(FAR_FUTURE)}]
    assert admin.auth_request(None, "peregrine", "read", A, user_id=name) is True
    # re-grant with an expiry in the past: no longer allowed
    assert admin.grant_user_policy(name, P_A, expires_at=PAST) == 204
    assert admin.get_user(name)["policies"] == [{"policy": P_A, "expires_at": ts_z(PAST)}]
    assert admin.auth_request(None, "peregrine", "read", A, user_id=name) is False
    # grant of an unknown policy fails (gen3authz returns None on non-204)
    assert admin.grant_user_policy(name, "no-such-policy-" + SFX) is None
    assert admin.revoke_user_policy(name, P_A) is True
    assert admin.get_user(name)["policies"] == []
    # not granted directly: 400, gen3authz returns None
    assert admin.revoke_user_policy(name, P_A) is None


def test_user_bulk_grant_and_revoke_all(world, admin):
    name = "bulk-" + SFX
    admin.create_user({"name": name})
    assert admin.grant_bulk_user_policy(name, [P_A, P_B], expires_at=FAR_FUTURE) == 204
    got = sorted(admin.get_user(name)["policies"], key=lambda p: p["policy"])
    assert got == sorted([{"policy": P_A, "expires_at": ts_z(FAR_FUTURE)},
                          {"policy": P_B, "expires_at": ts_z(FAR_FUTURE)}], key=lambda p: p["policy"])
    assert admin.auth_request(None, "peregrine", ["create", "update"], B, user_id=name) is True
    assert admin.revoke_all_policies_for_user(name) is True
    assert admin.get_user(name)["policies"] == []
    assert admin.auth_request(None, "peregrine", "read", A, user_id=name) is False


def test_authz_provider_scopes_revocation(world, admin, authz_url, admin_token):
    """X-AuthZ-Provider (gen3authz's `authz_provider`): a provider revokes only its own grants."""
    name = "prov-" + SFX
    admin.create_user({"name": name})
    synced, ctx = with_token(authz_url, admin_token, authz_provider="weft-test-sync")
    try:
        assert synced.grant_user_policy(name, P_A) == 204
        assert admin.grant_user_policy(name, P_B) == 204
        # another provider's grant: 401 from weft and arborist, None from gen3authz
        assert synced.revoke_user_policy(name, P_B) is None
        assert synced.revoke_all_policies_for_user(name) is True
        assert [p["policy"] for p in admin.get_user(name)["policies"]] == [P_B]
    finally:
        ctx.__exit__(None, None, None)


def test_list_resources_for_user(world, admin):
    got = [p for p in admin.list_resources_for_user(ALICE) if p.startswith(ROOT)]
    # own grant, plus the anonymous and logged-in groups' grants, descendants included
    assert sorted(got) == sorted([A, LI, OPEN, OPEN + "/deep", LEAF])
    got = [p for p in admin.list_resources_for_user(BOB) if p.startswith(ROOT)]
    assert sorted(got) == sorted([LI, OPEN, OPEN + "/deep", LEAF])
    with pytest.raises(ArboristError) as e:
        admin.list_resources_for_user("nobody-" + SFX)
    assert e.value.code == 404


# --------------------------------------------------------------------------- groups


def test_group_lifecycle(world, admin):
    g = "group-" + SFX
    carol = "carol-" + SFX
    admin.create_user({"name": carol})
    created = admin.create_group(g, users=[BOB], policies=[P_B])
    assert created == {"created": {"name": g, "users": [BOB], "policies": [P_B]}}
    assert admin.create_group(g) is None  # 409: gen3authz returns None
    groups = {x["name"]: x for x in admin.list_groups()["groups"]}
    assert {"anonymous", "logged-in", g} <= set(groups)
    assert P_OPEN in groups["anonymous"]["policies"]
    assert groups[g] == {"name": g, "users": [BOB], "policies": [P_B]}
    assert admin.get_user(BOB)["groups"] == [g]
    assert admin.auth_request(None, "peregrine", "create", B, user_id=BOB) is True

    # membership with an expiry (RFC 3339 with offset, as gen3authz sends isoformat())
    future = datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc)
    assert admin.add_user_to_group(carol, g, expires_at=future) is True
    assert admin.auth_request(None, "peregrine", "create", B, user_id=carol) is True
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    assert admin.add_user_to_group(carol, g, expires_at=past) is True
    assert admin.auth_request(None, "peregrine", "create", B, user_id=carol) is False
    # a naive datetime is not RFC 3339: 400 in arborist and weft, None from gen3authz
    assert admin.add_user_to_group(carol, g, expires_at=datetime.datetime(2100, 1, 1)) is None

    assert admin.remove_user_from_group(BOB, g) is True
    assert admin.auth_request(None, "peregrine", "create", B, user_id=BOB) is False
    assert admin.remove_user_from_group(BOB, g) is None  # not a member

    assert admin.grant_group_policy(g, P_A) is True
    assert admin.add_user_to_group(BOB, g) is True
    assert admin.auth_request(None, "peregrine", "read", A, user_id=BOB) is True

    # PUT overwrites users and policies
    put = admin.put_group(g, users=[carol], policies=[P_A])
    assert put["created"]["name"] == g
    got = {x["name"]: x for x in admin.list_groups()["groups"]}[g]
    assert got == {"name": g, "users": [carol], "policies": [P_A]}
    assert admin.auth_request(None, "peregrine", "read", A, user_id=BOB) is False
    # arborist's Group has no description: an unexpected field is a 400 in both
    with pytest.raises(ArboristError) as e:
        admin.put_group(g, description="d", users=[carol], policies=[P_A])
    assert e.value.code == 400

    assert admin.delete_group(g) is True
    assert g not in [x["name"] for x in admin.list_groups()["groups"]]
    assert admin.delete_group(g) is None


def test_builtin_groups_are_protected(world, admin):
    assert admin.add_user_to_group(BOB, "anonymous") is None
    assert admin.add_user_to_group(BOB, "logged-in") is None
    assert admin.delete_group("anonymous") is None
    assert "anonymous" in [x["name"] for x in admin.list_groups()["groups"]]


# --------------------------------------------------------------------------- clients


def test_client_lifecycle(world, admin):
    cid = "client-" + SFX
    created = admin.create_client(cid, [P_A])
    assert created == {"created": {"clientID": cid, "policies": [P_A]}}
    with pytest.raises(ArboristError) as e:
        admin.create_client(cid, [P_A])
    assert e.value.code == 409
    # a client's mapping: its own policies only (no anonymous / logged-in grants)
    assert within_root(admin.client_auth_mapping(cid)) == {A: actions(("peregrine", "read"))}
    # update_client: GET, DELETE …/policy (revoke all), POST …/policy per new policy
    assert admin.update_client(cid, [P_B]) is None
    assert within_root(admin.client_auth_mapping(cid)) == {
        B: actions(("peregrine", "create"), ("peregrine", "update"))
    }
    # adding only: no revoke
    assert admin.update_client(cid, [P_B, P_A]) is None
    assert set(within_root(admin.client_auth_mapping(cid))) == {A, B}
    # update_client of a missing client creates it
    cid2 = "client2-" + SFX
    assert admin.update_client(cid2, [P_LI]) is None
    assert within_root(admin.client_auth_mapping(cid2)) == {LI: actions(("peregrine", "read"))}
    assert admin.delete_client(cid) is True
    assert admin.delete_client(cid) is False  # 404
    assert within_root(admin.client_auth_mapping(cid)) == {}


# --------------------------------------------------------------------------- decisions


def test_auth_request_with_token(world, anon, mint):
    tok = mint(ALICE)
    assert anon.auth_request(tok, "peregrine", "read", A) is True
    # descendants, existing or not
    assert anon.auth_request(tok, "peregrine", "read", A + "/sub/file") is True
    assert anon.auth_request(tok, "peregrine", "read", B) is False
    assert anon.auth_request(tok, "peregrine", "create", A) is False
    assert anon.auth_request(tok, "sheepdog", "read", A) is False
    # every (resource, method) pair must pass
    assert anon.auth_request(tok, "peregrine", ["read", "create"], A) is False
    assert anon.auth_request(tok, "peregrine", "read", [A, LI, LEAF]) is True
    assert anon.auth_request(tok, "peregrine", "read", [A, B]) is False
    # resource by tag
    assert anon.auth_request(tok, "peregrine", "read", world["A"]["tag"]) is True
    # the logged-in group applies to any token with a user name
    assert anon.auth_request(mint(BOB), "peregrine", "read", LI) is True
    assert anon.auth_request(mint(BOB), "peregrine", "read", A) is False
    # an unknown user with a valid token still gets anonymous + logged-in
    stranger = mint("stranger-" + SFX)
    assert anon.auth_request(stranger, "peregrine", "read", LI) is True


def test_auth_request_bad_token_is_401(world, anon):
    with pytest.raises(ArboristError) as e:
        anon.auth_request("not-a-jwt", "peregrine", "read", A)
    assert e.value.code == 401


def test_auth_request_by_user_id(world, admin):
    assert admin.auth_request(None, "peregrine", "read", A, user_id=ALICE) is True
    assert admin.auth_request(None, "peregrine", "read", A, user_id=ALICE.upper()) is True
    assert admin.auth_request(None, "peregrine", "read", B, user_id=ALICE) is False
    assert admin.auth_request(None, "peregrine", "read", LI, user_id=BOB) is True
    assert admin.auth_request(None, "peregrine", "read", A, user_id="nobody-" + SFX) is False


def test_auth_request_by_user_id_needs_admin(world, anon, authz_url, mint):
    # weft: a decision about another user is administration (arborist answers anyone)
    with pytest.raises(ArboristError) as e:
        anon.auth_request(None, "peregrine", "read", A, user_id=ALICE)
    assert e.value.code == 401
    bob, ctx = with_token(authz_url, mint(BOB))
    try:
        with pytest.raises(ArboristError) as e:
            bob.auth_request(None, "peregrine", "read", A, user_id=ALICE)
        assert e.value.code == 403
        # about oneself it is allowed
        assert bob.auth_request(None, "peregrine", "read", LI, user_id=BOB) is True
    finally:
        ctx.__exit__(None, None, None)


def test_auth_request_anonymous(world, anon):
    assert anon.auth_request(None, "peregrine", "read", OPEN) is True
    assert anon.auth_request(None, "peregrine", "read", LEAF) is True
    assert anon.auth_request(None, "peregrine", "read", LI) is False
    assert anon.auth_request(None, "peregrine", "read", A) is False


def test_auth_request_without_user_uses_the_authorization_header(world, admin):
    # gen3authz omits `user` when neither jwt nor user_id is given. The admin client's context
    # adds the admin's bearer header; weft then decides as that user (a weft extension the
    # issue asks for; arborist ignores the header and decides as anonymous). Without a
    # header (the `anon` client) it stays anonymous: see the test above.
    assert admin.auth_request(None, "peregrine", "read", LI) is True


# --------------------------------------------------------------------------- mappings


def test_auth_mapping_by_token(world, anon, mint):
    m = within_root(anon.auth_mapping(jwt=mint(ALICE)))
    read = actions(("peregrine", "read"))
    assert m == {A: read, LI: read, OPEN: read, OPEN + "/deep": read, LEAF: read}


def test_auth_mapping_by_username(world, admin, mint):
    by_name = admin.auth_mapping(username=ALICE)
    by_token = admin.auth_mapping(jwt=mint(ALICE))
    assert within_root(by_name) == within_root(by_token)
    assert A in by_name


def test_auth_mapping_anonymous(world, anon):
    read = actions(("peregrine", "read"))
    assert within_root(anon.auth_mapping()) == {OPEN: read, OPEN + "/deep": read, LEAF: read}


def test_auth_mapping_of_another_user_needs_admin(world, anon):
    # weft: another principal's mapping is administration (arborist answers anyone)
    with pytest.raises(ArboristError) as e:
        anon.auth_mapping(username=ALICE)
    assert e.value.code == 401


def test_can_user_access_resources(world, anon, mint):
    got = anon.can_user_access_resources(
        {
            A + "/x": {"service": "peregrine", "method": "read"},
            B: {"service": "peregrine", "method": "read"},
            LEAF: {"service": "peregrine", "method": "read"},
            A: {"service": "peregrine", "method": "create"},
        },
        jwt=mint(ALICE),
    )
    assert got == {A + "/x": True, B: False, LEAF: True, A: False}


def test_changes_are_visible_at_once(world, admin, anon, mint):
    """A grant made through gen3authz decides the very next request."""
    name = "quick-" + SFX
    admin.create_user({"name": name})
    tok = mint(name)
    assert anon.auth_request(tok, "peregrine", "read", A) is False
    admin.grant_user_policy(name, P_A)
    assert anon.auth_request(tok, "peregrine", "read", A) is True
    admin.revoke_user_policy(name, P_A)
    assert anon.auth_request(tok, "peregrine", "read", A) is False
