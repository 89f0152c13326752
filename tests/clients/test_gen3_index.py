"""Drive weft's indexd API with the unmodified Gen3 Python SDK (gen3.index.Gen3Index).

Run from the gen3 venv that run.sh prepares (Python 3.13, pinned `gen3`),
against a weft started by run.sh (see conftest.py for the environment).

Each test seeds its own records (through the SDK or a plain POST to
/index/index/) so that one broken endpoint fails only the tests that use it.
The last part checks the DRS object endpoint with plain `requests`.
"""

import asyncio
import os
import re
import uuid

# The SDK retries failed calls with exponential backoff (3 tries by default,
# read from the environment at import time).  One try keeps failures fast and
# the recorded HTTP exchanges short.
os.environ.setdefault("GEN3SDK_MAX_RETRIES", "1")

import pytest  # noqa: E402
import requests  # noqa: E402
from gen3.index import Gen3Index  # noqa: E402

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
REV_RE = re.compile(r"^[0-9a-f]{8}$")
# indexd dates: naive UTC ISO-8601 with microseconds, e.g. 2020-04-23T21:42:36.506404
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$")

DOC_KEYS = {
    "did", "baseid", "rev", "size", "file_name", "version", "uploader", "urls",
    "urls_metadata", "acl", "authz", "hashes", "metadata", "form",
    "created_date", "updated_date", "description", "content_created_date",
    "content_updated_date",
}


# --------------------------------------------------------------------------- helpers


def new_md5():
    return uuid.uuid4().hex


def unique_url(scheme="s3", bucket="weft-clients-test"):
    return "%s://%s/%s/data.bin" % (scheme, bucket, uuid.uuid4().hex)


@pytest.fixture(scope="module")
def index(base_url, creds):
    # auth_provider may be a Gen3Auth or an indexd basic-auth (user, password)
    # tuple; the tuple is handed straight to `requests` as `auth=`.
    idx = Gen3Index(base_url, auth_provider=creds)
    assert idx.endpoint == base_url + "/index", idx.endpoint
    return idx


@pytest.fixture(scope="module")
def anon_index(base_url):
    return Gen3Index(base_url)


@pytest.fixture
def seed(base_url, creds):
    """Create a record with a plain POST /index/index/ (what indexclient sends)."""

    def _seed(**fields):
        body = {
            "form": "object",
            "size": 1024,
            "hashes": {"md5": new_md5()},
            "urls": [unique_url()],
            "acl": ["*"],
            "authz": ["/open"],
            "file_name": "seed.bin",
        }
        body.update(fields)
        resp = requests.post(base_url + "/index/index/", json=body, auth=creds)
        assert resp.status_code == 200, (resp.status_code, resp.text)
        out = resp.json()
        assert set(out) >= {"did", "rev", "baseid"}, out
        body.update(out)
        return body

    return _seed


def assert_doc_shape(doc):
    missing = DOC_KEYS - set(doc)
    assert not missing, "record lacks keys %s: %r" % (sorted(missing), doc)
    assert REV_RE.match(doc["rev"]), doc["rev"]
    assert DATE_RE.match(doc["created_date"]), doc["created_date"]
    assert DATE_RE.match(doc["updated_date"]), doc["updated_date"]
    assert isinstance(doc["urls"], list)
    assert isinstance(doc["urls_metadata"], dict)
    for url in doc["urls"]:
        assert url in doc["urls_metadata"], "urls_metadata lacks key %s" % url


# --------------------------------------------------------------------------- service endpoints


def test_is_healthy(index):
    assert index.is_healthy() is True


def test_get_version(index):
    version = index.get_version()
    assert isinstance(version, dict), version
    assert "version" in version and "commit" in version, version
    assert isinstance(version["version"], str) and version["version"]


def test_get_stats(index, seed):
    seed(size=5)
    stats = index.get_stats()
    assert isinstance(stats.get("fileCount"), int), stats
    assert isinstance(stats.get("totalFileSize"), int), stats
    assert stats["fileCount"] >= 1 and stats["totalFileSize"] >= 5, stats


def test_get_valid_guids(index):
    guids = index.get_valid_guids(count=5)
    assert isinstance(guids, list) and len(guids) == 5, guids
    assert len(set(guids)) == 5
    for g in guids:
        assert UUID_RE.search(g), g
    one = index.get_valid_guids()
    assert isinstance(one, list) and len(one) == 1, one


def test_get_guids_prefix(index):
    prefix = index.get_guids_prefix()
    assert isinstance(prefix, str), prefix


# --------------------------------------------------------------------------- create / read


def test_create_record_full(index):
    md5 = new_md5()
    url = unique_url()
    url2 = unique_url("gs", "weft-gs-bucket")
    rec = index.create_record(
        hashes={"md5": md5, "sha256": uuid.uuid4().hex * 2},
        size=123456,
        urls=[url, url2],
        authz=["/programs/weft/projects/clients"],
        acl=["weft", "clients"],
        file_name="sample.bam",
        metadata={"state": "validated", "pairs": "7"},
        urls_metadata={url: {"state": "uploaded"}, url2: {}},
        version="1",
        description="created by the gen3 SDK",
    )
    assert_doc_shape(rec)
    assert UUID_RE.search(rec["did"]), rec["did"]
    assert UUID_RE.match(rec["baseid"]), rec["baseid"]
    assert rec["size"] == 123456
    assert rec["hashes"]["md5"] == md5
    assert "sha256" in rec["hashes"]
    assert rec["urls"] == [url, url2]
    assert rec["urls_metadata"][url].get("state") == "uploaded"
    assert sorted(rec["acl"]) == ["clients", "weft"]
    assert rec["authz"] == ["/programs/weft/projects/clients"]
    assert rec["file_name"] == "sample.bam"
    assert rec["metadata"] == {"state": "validated", "pairs": "7"}
    assert rec["version"] == "1"
    assert rec["description"] == "created by the gen3 SDK"
    assert rec["form"] == "object"
    assert rec["uploader"] is None
    assert rec["content_created_date"] is None


def test_create_record_minimal_and_explicit_did(index):
    did = index.get_valid_guids(1)[0]
    md5 = new_md5()
    rec = index.create_record(hashes={"md5": md5}, size=0, did=did)
    assert_doc_shape(rec)
    assert rec["did"] == did
    assert rec["size"] == 0
    assert rec["urls"] == []
    assert rec["acl"] == [] and rec["authz"] == []
    assert rec["file_name"] is None and rec["version"] is None
    assert rec["metadata"] == {}


def test_create_record_duplicate_did_conflicts(index, seed):
    existing = seed()
    with pytest.raises(requests.HTTPError) as err:
        index.create_record(hashes={"md5": new_md5()}, size=1, did=existing["did"])
    assert err.value.response.status_code == 409


def test_create_record_requires_auth(anon_index, base_url):
    with pytest.raises(requests.HTTPError) as err:
        anon_index.create_record(hashes={"md5": new_md5()}, size=1)
    assert err.value.response.status_code in (401, 403)
    bad = Gen3Index(base_url, auth_provider=("nobody", "wrong-password"))
    with pytest.raises(requests.HTTPError) as err:
        bad.create_record(hashes={"md5": new_md5()}, size=1)
    assert err.value.response.status_code in (401, 403)


def test_create_record_rejects_bad_hash(index):
    with pytest.raises(requests.HTTPError) as err:
        index.create_record(hashes={"md5": "not-a-hash"}, size=1)
    assert err.value.response.status_code == 400


def test_get_record(index, anon_index, seed):
    s = seed(metadata={"k": "v"}, file_name="a.txt")
    rec = anon_index.get_record(s["did"])  # reads need no auth
    assert_doc_shape(rec)
    assert rec["did"] == s["did"]
    assert rec["rev"] == s["rev"]
    assert rec["baseid"] == s["baseid"]
    assert rec["hashes"] == s["hashes"]
    assert rec["size"] == s["size"]
    assert rec["urls"] == s["urls"]
    assert rec["metadata"] == {"k": "v"}
    assert rec["file_name"] == "a.txt"
    doc = index.get_record_doc(s["did"])
    assert doc.did == s["did"] and doc.rev == s["rev"]


def test_get_record_missing_is_none(index):
    assert index.get_record(str(uuid.uuid4())) is None


def test_get_record_by_baseid_returns_latest(index, seed):
    s = seed()
    rec = index.get_record(s["baseid"])
    assert rec is not None and rec["did"] == s["did"], rec


def test_get_root_resolver(index, seed):
    s = seed(file_name="resolved.txt")
    # Gen3Index.get -> GET /index/{did}?no_dist= (global resolver)
    rec = index.get(s["did"])
    assert rec is not None, "global resolver returned 404"
    assert rec["did"] == s["did"]
    assert rec["file_name"] == "resolved.txt"
    assert rec["hashes"] == s["hashes"]
    # dist_resolution=False -> GET /index/{did} without no_dist
    rec2 = index.get(s["did"], dist_resolution=False)
    assert rec2 is not None and rec2["did"] == s["did"]
    assert index.get(str(uuid.uuid4())) is None


def test_get_with_params(index, seed):
    md5 = new_md5()
    s = seed(hashes={"md5": md5}, size=4242, metadata={"flavor": "mint"})
    rec = index.get_with_params({"hashes": {"md5": md5}, "size": 4242})
    assert rec is not None and rec["did"] == s["did"], rec
    rec = index.get_with_params({"hashes": {"md5": md5}, "metadata": {"flavor": "mint"}})
    assert rec is not None and rec["did"] == s["did"], rec
    rec = index.get_with_params({"file_name": s["file_name"], "hashes": {"md5": md5}})
    assert rec is not None and rec["did"] == s["did"], rec
    assert index.get_with_params({"hashes": {"md5": md5}, "size": 4243}) is None
    assert index.get_with_params({"hashes": {"md5": new_md5()}}) is None


def test_get_all_records(index, seed):
    seeded = {seed()["did"] for _ in range(5)}
    everything = index.get_all_records()
    dids = [r["did"] for r in everything]
    assert seeded <= set(dids)
    assert len(dids) == len(set(dids))
    assert dids == sorted(dids), "GET /index/ should be ordered by did"
    for r in everything:
        assert_doc_shape(r)

    limited = index.get_all_records(limit=2)
    assert len(limited) == 2, [r["did"] for r in limited]

    paged = index.get_all_records(limit=2, paginate=True)
    paged_dids = [r["did"] for r in paged]
    assert len(paged_dids) == len(set(paged_dids)), "duplicates across pages"
    assert set(paged_dids) == set(dids)


def test_get_records_on_page(index, seed):
    for _ in range(3):
        seed()
    total = {r["did"] for r in index.get_all_records(limit=1024)}
    assert len(total) >= 3
    seen = []
    page = 0
    while True:
        records = index.get_records_on_page(limit=2, page=page)
        assert isinstance(records, list)
        assert len(records) <= 2
        if not records:
            break
        seen.extend(r["did"] for r in records)
        page += 1
        assert page < 1000, "pagination does not terminate"
    assert len(seen) == len(set(seen)), "duplicates across pages"
    assert set(seen) == total


def test_get_records_bulk(index, seed):
    a, b = seed(), seed()
    missing = str(uuid.uuid4())
    docs = index.get_records([a["did"], b["did"], missing])
    assert isinstance(docs, list), docs
    assert sorted(d["did"] for d in docs) == sorted([a["did"], b["did"]])
    for d in docs:
        assert_doc_shape(d)


# --------------------------------------------------------------------------- update / versions


def test_update_record(index, seed):
    s = seed(file_name="old.txt", metadata={"k": "v1"}, version="1")
    new_url = unique_url("gs", "weft-updated")
    rec = index.update_record(
        s["did"],
        file_name="new.txt",
        urls=[new_url],
        urls_metadata={new_url: {"state": "moved"}},
        version="2",
        metadata={"k": "v2"},
        acl=["phs000001"],
        authz=["/programs/updated"],
        description="updated by the SDK",
    )
    assert rec["did"] == s["did"]
    assert rec["rev"] != s["rev"], "rev must change on update"
    assert rec["file_name"] == "new.txt"
    assert rec["urls"] == [new_url]
    assert rec["urls_metadata"][new_url].get("state") == "moved"
    assert rec["version"] == "2"
    assert rec["metadata"] == {"k": "v2"}
    assert rec["acl"] == ["phs000001"]
    assert rec["authz"] == ["/programs/updated"]
    assert rec["description"] == "updated by the SDK"
    # immutable fields are untouched
    assert rec["size"] == s["size"] and rec["hashes"] == s["hashes"]
    again = index.get_record(s["did"])
    assert again["rev"] == rec["rev"] and again["file_name"] == "new.txt"


def test_update_record_single_field_keeps_others(index, seed):
    s = seed(file_name="keep.txt", metadata={"a": "b"})
    rec = index.update_record(s["did"], file_name="renamed.txt")
    assert rec["file_name"] == "renamed.txt"
    assert rec["urls"] == s["urls"]
    assert rec["metadata"] == {"a": "b"}
    assert rec["acl"] == s["acl"] and rec["authz"] == s["authz"]


def test_update_record_stale_rev_conflicts(index, seed):
    s = seed()
    first = index.get_record_doc(s["did"])
    second = index.get_record_doc(s["did"])
    first.file_name = "first.txt"
    first.patch()
    second.file_name = "second.txt"
    with pytest.raises(requests.HTTPError) as err:
        second.patch()
    assert err.value.response.status_code == 409


def test_update_missing_record_raises(index):
    with pytest.raises(ValueError):
        index.update_record(str(uuid.uuid4()), file_name="x")


def test_create_new_version_and_versions(index, seed):
    s = seed(version="1", file_name="v1.txt")
    new_md5_value = new_md5()
    v2 = index.create_new_version(
        s["did"],
        hashes={"md5": new_md5_value},
        size=2048,
        urls=[unique_url()],
        file_name="v2.txt",
        metadata={"v": "2"},
        acl=["*"],
        authz=["/open"],
    )
    assert v2 is not None
    assert_doc_shape(v2)
    assert v2["did"] != s["did"]
    assert v2["baseid"] == s["baseid"], "new version must share the baseid"
    assert v2["hashes"]["md5"] == new_md5_value and v2["size"] == 2048
    assert v2["file_name"] == "v2.txt" and v2["version"] is None

    versions = index.get_versions(s["did"])
    assert [v["did"] for v in versions] == [s["did"], v2["did"]], versions
    versions_by_baseid = index.get_versions(s["baseid"])
    assert [v["did"] for v in versions_by_baseid] == [s["did"], v2["did"]]

    latest = index.get_latest_version(s["did"])
    assert latest["did"] == v2["did"], latest
    latest_versioned = index.get_latest_version(s["did"], has_version=True)
    assert latest_versioned["did"] == s["did"], latest_versioned
    # the record route resolves a baseid to its newest version
    assert index.get_record(s["baseid"])["did"] == v2["did"]


def test_create_new_version_with_explicit_did(index, seed):
    s = seed()
    did = str(uuid.uuid4())
    v2 = index.create_new_version(s["did"], hashes={"md5": new_md5()}, size=1, did=did, version="b")
    assert v2["did"] == did and v2["baseid"] == s["baseid"] and v2["version"] == "b"


# --------------------------------------------------------------------------- blank records, aliases


def test_create_blank_and_update_blank(index):
    # the upload flow: fence creates a blank record, then size/hashes/urls are filled in
    blank = index.create_blank(uploader="clients-harness", file_name="upload.bin")
    assert_doc_shape(blank)
    assert blank["uploader"] == "clients-harness"
    assert blank["file_name"] == "upload.bin"
    assert blank["size"] is None and blank["hashes"] == {} and blank["urls"] == []
    md5 = new_md5()
    url = unique_url()
    filled = index.update_blank(
        blank["did"], blank["rev"], hashes={"md5": md5}, size=99, urls=[url],
        authz=["/programs/uploads"],
    )
    assert filled["did"] == blank["did"]
    assert filled["rev"] != blank["rev"]
    assert filled["size"] == 99 and filled["hashes"] == {"md5": md5}
    assert filled["urls"] == [url] and filled["authz"] == ["/programs/uploads"]
    # a filled record can no longer be updated as blank
    with pytest.raises(requests.HTTPError) as err:
        index.update_blank(filled["did"], filled["rev"], hashes={"md5": new_md5()}, size=1)
    assert err.value.response.status_code == 400


def test_alias_and_global_resolver(index, seed):
    s = seed(file_name="aliased.txt")
    alias = "weft-alias-%s" % uuid.uuid4().hex
    out = index.client.add_alias_for_did(alias, s["did"])
    assert out == {"aliases": [{"value": alias}]}, out
    rec = index.get(alias)  # global resolver consults aliases
    assert rec is not None and rec["file_name"] == "aliased.txt", rec


# --------------------------------------------------------------------------- async readers (aiohttp)


def test_async_readers(index, seed):
    md5 = new_md5()
    marker = uuid.uuid4().hex
    s = seed(hashes={"md5": md5}, urls=["s3://weft-async/%s/f" % marker])

    async def run():
        rec = await index.async_get_record(s["did"])
        page = await index.async_get_records_on_page(limit=1024, page=0)
        by_sum = await index.async_get_records_from_checksum(md5)
        hits = await index.async_query_urls(marker)
        return rec, page, by_sum, hits

    rec, page, by_sum, hits = asyncio.run(run())
    assert rec["did"] == s["did"]
    assert s["did"] in [r["did"] for r in page]
    assert [r["did"] for r in by_sum] == [s["did"]]
    assert [h["did"] for h in hits] == [s["did"]]


# --------------------------------------------------------------------------- url queries


def test_query_urls(index, seed):
    marker = uuid.uuid4().hex
    url = "s3://weft-query/%s/file.vcf" % marker
    s = seed(urls=[url, "https://example.org/%s" % uuid.uuid4().hex])
    hits = index.query_urls(marker)
    assert isinstance(hits, list), hits
    assert [h["did"] for h in hits] == [s["did"]], hits
    assert url in hits[0]["urls"]
    assert index.query_urls(uuid.uuid4().hex) == []


def _urls_from_get_urls(result):
    # Gen3Index.get_urls returns the *values* of the /urls response object:
    # [urls-list, limit, start, size, hashes] in the server's key order.
    lists = [v for v in result if isinstance(v, list) and v and isinstance(v[0], dict)]
    assert lists, "no list of {url, metadata} in %r" % (result,)
    return lists[0]


def test_get_urls(index, seed):
    md5 = new_md5()
    url = unique_url()
    s = seed(hashes={"md5": md5}, size=777, urls=[url], urls_metadata={url: {"k": "v"}})
    by_hash = _urls_from_get_urls(index.get_urls(hashes="md5:%s" % md5))
    assert [u["url"] for u in by_hash] == [url], by_hash
    assert by_hash[0]["metadata"] == {"k": "v"}, by_hash
    by_ids = _urls_from_get_urls(index.get_urls(guids=[s["did"]]))
    assert [u["url"] for u in by_ids] == [url], by_ids
    by_size_hash = _urls_from_get_urls(index.get_urls(size=777, hashes="md5:%s" % md5))
    assert [u["url"] for u in by_size_hash] == [url]


# --------------------------------------------------------------------------- delete


def test_delete_record(index, seed):
    s = seed()
    deleted = index.delete_record(s["did"])
    assert deleted is not None and deleted.did == s["did"]
    assert index.get_record(s["did"]) is None
    assert index.get(s["did"]) is None
    assert index.delete_record(s["did"]) is None  # already gone: SDK sees 404 -> None


def test_delete_requires_auth(anon_index, seed):
    s = seed()
    with pytest.raises(requests.HTTPError) as err:
        anon_index.delete_record(s["did"])
    assert err.value.response.status_code in (401, 403)


# --------------------------------------------------------------------------- DRS (plain requests)


DRS = "/ga4gh/drs/v1"


def test_drs_service_info(base_url):
    resp = requests.get(base_url + DRS + "/service-info")
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    info = resp.json()
    for key in ("id", "name", "type", "organization", "version"):
        assert key in info, "service-info lacks %s: %r" % (key, info)
    assert info["type"].get("artifact") == "drs", info["type"]


def test_drs_object(base_url, seed):
    md5 = new_md5()
    url = unique_url()
    https_url = "https://weft-downloads.example.org/%s/sample.cram" % uuid.uuid4().hex
    s = seed(hashes={"md5": md5}, size=31337, urls=[url, https_url], file_name="sample.cram",
             description="drs test object")
    resp = requests.get(base_url + DRS + "/objects/" + s["did"])
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    obj = resp.json()
    assert obj["id"] == s["did"]
    assert isinstance(obj["self_uri"], str) and obj["self_uri"].startswith("drs://"), obj["self_uri"]
    assert obj["self_uri"].endswith(s["did"].split("/")[-1]), obj["self_uri"]
    assert obj["size"] == 31337
    assert isinstance(obj.get("created_time"), str) and obj["created_time"], obj.get("created_time")
    assert obj.get("name") == "sample.cram"
    assert {"checksum": md5, "type": "md5"} in obj["checksums"], obj["checksums"]
    methods = obj["access_methods"]
    assert isinstance(methods, list) and len(methods) == 2, methods
    types = sorted(m["type"] for m in methods)
    assert types == ["https", "s3"], types
    for m in methods:
        assert "access_url" in m or "access_id" in m, m
        if "access_url" in m:
            assert m["access_url"]["url"] in (url, https_url), m


def test_drs_object_missing(base_url):
    resp = requests.get(base_url + DRS + "/objects/" + str(uuid.uuid4()))
    assert resp.status_code == 404, (resp.status_code, resp.text)
    body = resp.json()
    assert body.get("status_code") == 404 and "msg" in body, body


def test_drs_bulk_objects(base_url, seed):
    a = seed()
    missing = str(uuid.uuid4())
    resp = requests.post(base_url + DRS + "/objects", json={"bulk_object_ids": [a["did"], missing]})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["summary"] == {"requested": 2, "resolved": 1, "unresolved": 1}, body["summary"]
    assert [o["id"] for o in body["resolved_drs_objects"]] == [a["did"]]
    unresolved = [i for u in body["unresolved_drs_objects"] for i in u["object_ids"]]
    assert unresolved == [missing], body["unresolved_drs_objects"]


def test_drs_access_public_https(base_url, seed):
    https_url = "https://weft-downloads.example.org/%s/open.txt" % uuid.uuid4().hex
    s = seed(urls=[https_url], acl=["*"], authz=["/open"])
    obj = requests.get(base_url + DRS + "/objects/" + s["did"]).json()
    access_ids = [m["access_id"] for m in obj["access_methods"] if "access_id" in m]
    assert access_ids, obj["access_methods"]
    resp = requests.get(base_url + DRS + "/objects/%s/access/%s" % (s["did"], access_ids[0]))
    assert resp.status_code == 200, (resp.status_code, resp.text)
    assert isinstance(resp.json().get("url"), str) and resp.json()["url"], resp.text
