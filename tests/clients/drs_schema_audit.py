"""Diagnostic companion to the DRS compliance suite (not counted as tests).

The suite validates each response with `jsonschema.validate`, which reports
only one error per case.  This script re-fetches the same endpoints and lists
*every* violation of the suite's own bundled schemas, so that one run shows
all the fixes a response needs.  Run it with the drs venv's python:

  python drs_schema_audit.py BASE_DRS_URL OBJECT_ID [OBJECT_ID ...]
"""

import json
import os
import sys

import compliance_suite
import jsonschema
import requests

SCHEMA_DIR = os.path.join(os.path.dirname(compliance_suite.__file__), "schemas")


def violations(instance, schema_file):
    path = os.path.join(SCHEMA_DIR, schema_file)
    with open(path) as f:
        schema = json.load(f)
    resolver = jsonschema.RefResolver(base_uri="file://%s/" % os.path.dirname(path), referrer=None)
    validator = jsonschema.Draft7Validator(schema, resolver=resolver)
    out = []
    for err in validator.iter_errors(instance):
        where = "/".join(str(p) for p in err.absolute_path) or "<root>"
        out.append("%s: %s" % (where, err.message))
    return out


def audit(label, url, schema_file):
    resp = requests.get(url)
    try:
        body = resp.json()
    except ValueError:
        print("  %s: %s -> %s, body is not JSON: %r" % (label, url, resp.status_code, resp.text[:300]))
        return 1, None
    errs = violations(body, schema_file) if resp.status_code == 200 else ["status %s" % resp.status_code]
    if errs:
        print("  %s (%s) violates %s:" % (label, url, schema_file))
        for e in errs:
            print("    - %s" % e)
    return len(errs), body


def main():
    base = sys.argv[1].rstrip("/")
    total = 0
    n, _ = audit("service-info", base + "/service-info", "service_info.json")
    total += n
    for did in sys.argv[2:]:
        n, obj = audit("object " + did, base + "/objects/" + did, "v1.2.0/drs_object.json")
        total += n
        for method in (obj or {}).get("access_methods") or []:
            if "access_id" in method:
                n, _ = audit(
                    "access %s/%s" % (did, method["access_id"]),
                    "%s/objects/%s/access/%s" % (base, did, method["access_id"]),
                    "v1.2.0/access_url.json",
                )
                total += n
    print("  schema audit: %d violation(s) of the suite's DRS 1.2.0 schemas" % total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
