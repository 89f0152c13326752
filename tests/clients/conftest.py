"""Shared fixtures for the real-client compatibility tests.

The tests talk to a running weft over loopback.  run.sh starts weft and
exports:

  WEFT_URL             e.g. http://127.0.0.1:43121  (127.0.0.1, never
                       "localhost": Gen3Index drops its /index prefix for
                       http://localhost endpoints)
  WEFT_INDEX_USER      indexd basic-auth user created with
  WEFT_INDEX_PASSWORD  `weft index-user add`

Every HTTP exchange made through `requests` (which is what the Gen3 SDK and
indexclient use) is recorded per test; when a test fails, the exchanges are
attached to the failure report so that the request, status and body the
client got are visible without re-running anything.
"""

import json
import os

import pytest
import requests

_EXCHANGES = []
_MAX_BODY = 1200
_original_send = requests.sessions.Session.send


def _short(data):
    if data is None:
        return ""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            return "<%d bytes of binary>" % len(data)
    data = str(data)
    if len(data) > _MAX_BODY:
        return data[:_MAX_BODY] + "...<%d chars total>" % len(data)
    return data


def _recording_send(self, request, **kwargs):
    entry = {
        "method": request.method,
        "url": request.url,
        "body": _short(request.body),
        "auth": "basic" if (request.headers.get("Authorization") or "").lower().startswith("basic") else "",
    }
    try:
        response = _original_send(self, request, **kwargs)
    except Exception as exc:  # connection errors etc.
        entry["error"] = repr(exc)
        _EXCHANGES.append(entry)
        raise
    entry["status"] = response.status_code
    entry["content_type"] = response.headers.get("Content-Type", "")
    entry["response"] = _short(response.content)
    _EXCHANGES.append(entry)
    return response


requests.sessions.Session.send = _recording_send


def _format_exchanges():
    lines = []
    for i, e in enumerate(_EXCHANGES, 1):
        auth = " [basic auth]" if e.get("auth") else ""
        lines.append("#%d %s %s%s" % (i, e["method"], e["url"], auth))
        if e.get("body"):
            lines.append("    request body: %s" % e["body"])
        if "error" in e:
            lines.append("    -> %s" % e["error"])
        else:
            lines.append("    -> %s (%s)" % (e["status"], e["content_type"]))
            if e.get("response"):
                lines.append("    response: %s" % e["response"])
    return "\n".join(lines)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and _EXCHANGES:
        report.sections.append(("HTTP exchanges", _format_exchanges()))


@pytest.fixture(autouse=True)
def _reset_exchanges():
    del _EXCHANGES[:]
    yield


def pytest_report_header(config):
    return "weft under test: %s" % os.environ.get("WEFT_URL", "<WEFT_URL unset>")


@pytest.fixture(scope="session")
def base_url():
    url = os.environ.get("WEFT_URL")
    if not url:
        pytest.exit("WEFT_URL is not set; run tests/clients/run.sh", returncode=2)
    return url.rstrip("/")


@pytest.fixture(scope="session")
def creds():
    user = os.environ.get("WEFT_INDEX_USER")
    password = os.environ.get("WEFT_INDEX_PASSWORD")
    if not user or not password:
        pytest.exit("WEFT_INDEX_USER / WEFT_INDEX_PASSWORD are not set", returncode=2)
    return (user, password)


def pretty(obj):
    return json.dumps(obj, indent=2, sort_keys=True, default=str)
