"""Run the GA4GH DRS compliance suite (drs-compliance-suite 1.0.3) against weft.

Usage (run.sh does this):
  python drs_compliance.py --suite /path/to/drs-venv/bin/drs-compliance-suite \
      --counts-file FILE

Environment: WEFT_URL, WEFT_INDEX_USER, WEFT_INDEX_PASSWORD (see conftest.py).

What the suite needs (read from its source, compliance_suite/report_runner.py
and helper.py):
  * --server_base_url: the DRS root, here http://127.0.0.1:PORT/ga4gh/drs/v1;
    it appends /service-info, /objects/{id}, /objects/{id}/access/{access_id}.
  * --drs_version: must be one of supported_drs_versions.SUPPORTED_DRS_VERSIONS
    (a module the 1.0.3 wheel lacks; run.sh adds it holding ["1.2.0"], the only
    version whose schemas the wheel ships).
  * --platform_name / --platform_description: free text for the report.
  * --config_file: JSON with
      "service_info":      {"auth_type", "auth_token"}
      "drs_object_info":   [{"drs_id", "auth_type", "auth_token", "is_bundle"}]
      "drs_object_access": [{"drs_id", "auth_type", "auth_token"}]
    auth_type is none|basic|bearer|passport.  Every drs_object_access id must
    also be listed in drs_object_info: the access phase calls
    /objects/{id}/access/{access_id} for each access_id found in that object's
    access_methods.
  * It writes the report (--report_path, default ./output/...) and always
    creates ./output in its working directory, so it is run in a temp dir.
  * It expects 200 + application/json on every call and validates bodies with
    jsonschema against its bundled DRS 1.2.0 schemas (service-info and access
    methods/access URLs are additionalProperties:false; created_time must be a
    string).  It sends GETs with a JSON body "{}".  It exits 0 even when cases
    fail, so the report's case statuses are what we count.
  * Never pass --serve (binds 0.0.0.0).

The objects are seeded here through the indexd API (POST /index/index/ with
basic auth): public records (acl ["*"], authz ["/open"]) with an https URL and
an s3 URL.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid

import requests

HERE = os.path.dirname(os.path.abspath(__file__))


def seed(base_url, auth, urls, file_name):
    body = {
        "form": "object",
        "size": 4096,
        "hashes": {"md5": uuid.uuid4().hex, "sha256": uuid.uuid4().hex * 2},
        "urls": urls,
        "acl": ["*"],
        "authz": ["/open"],
        "file_name": file_name,
        "metadata": {"seeded_by": "drs_compliance.py"},
    }
    resp = requests.post(base_url + "/index/index/", json=body, auth=auth)
    if resp.status_code != 200:
        raise SeedError(
            "seeding failed: POST /index/index/ -> %s %s" % (resp.status_code, resp.text[:500])
        )
    return resp.json()["did"]


class SeedError(Exception):
    pass


def write_counts(path, passed, failed):
    if path:
        with open(path, "w") as f:
            f.write("%d %d\n" % (passed, failed))


def seed_objects(base_url, auth):
    https_did = seed(
        base_url, auth,
        ["https://weft-downloads.example.org/%s/reads.bam" % uuid.uuid4().hex],
        "reads.bam",
    )
    # A second access method of another type: weft's local storage (`file:///<key>`),
    # whose URLs weft signs itself; s3:// would need S3 credentials to presign.
    s3_did = seed(
        base_url, auth,
        ["file:///drs-suite/%s/variants.vcf.gz" % uuid.uuid4().hex,
         "https://weft-downloads.example.org/%s/variants.vcf.gz" % uuid.uuid4().hex],
        "variants.vcf.gz",
    )
    return https_did, s3_did


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", required=True, help="path of the drs-compliance-suite script")
    ap.add_argument("--counts-file", help="write 'passed failed' here")
    ap.add_argument("--keep", help="copy the suite's JSON report here")
    args = ap.parse_args()

    base_url = os.environ["WEFT_URL"].rstrip("/")
    auth = (os.environ["WEFT_INDEX_USER"], os.environ["WEFT_INDEX_PASSWORD"])

    try:
        https_did, s3_did = seed_objects(base_url, auth)
    except SeedError as exc:
        print(exc)
        print("drs-compliance-suite: 0 passed, 1 failed")
        write_counts(args.counts_file, 0, 1)
        return 1
    none = {"auth_type": "none", "auth_token": ""}
    config = {
        "service_info": dict(none),
        "drs_object_info": [
            dict(none, drs_id=https_did, is_bundle=False),
            dict(none, drs_id=s3_did, is_bundle=False),
        ],
        "drs_object_access": [dict(none, drs_id=https_did), dict(none, drs_id=s3_did)],
    }

    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="weft-drs-suite-") as work:
        config_path = os.path.join(work, "config.json")
        report_path = os.path.join(work, "output", "report.json")
        with open(config_path, "w") as f:
            json.dump(config, f, indent=2)
        cmd = [
            args.suite,
            "--server_base_url", base_url + "/ga4gh/drs/v1",
            "--platform_name", "weft",
            "--platform_description", "weft indexd/DRS on loopback",
            "--drs_version", "1.2.0",
            "--config_file", config_path,
            "--report_path", report_path,
        ]
        print("+ " + " ".join(cmd), flush=True)
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
        if proc.returncode != 0 or not os.path.exists(report_path):
            print("DRS compliance suite crashed (exit %s) before writing its report" % proc.returncode)
            print(proc.stdout[-4000:])
            print(proc.stderr[-4000:])
            failed = 1
        else:
            with open(report_path) as f:
                report = json.load(f)
            if args.keep:
                with open(args.keep, "w") as f:
                    json.dump(report, f, indent=2)
            for phase in report.get("phases", []):
                for test in phase.get("tests", []):
                    for case in test.get("cases", []):
                        status = case.get("status")
                        label = "%s :: %s" % (test.get("test_name"), case.get("case_name"))
                        if status == "PASS":
                            passed += 1
                            print("PASS  %s" % label)
                        elif status == "SKIP":
                            print("SKIP  %s" % label)
                        else:
                            failed += 1
                            print("%s  %s\n      %s" % (status, label, case.get("message")))
                            for msg in case.get("log_messages") or []:
                                lines = str(msg).splitlines()
                                for line in lines[:12]:
                                    print("      | %s" % line[:300])
            print("DRS compliance report summary: %s" % json.dumps(report.get("summary")))

        if failed:
            # The suite shows one schema error per case; list them all (diagnostic only).
            print("Full schema audit of the same responses (drs_schema_audit.py):", flush=True)
            suite_python = os.path.join(os.path.dirname(args.suite), "python")
            subprocess.run(
                [suite_python, os.path.join(HERE, "drs_schema_audit.py"),
                 base_url + "/ga4gh/drs/v1", https_did, s3_did],
                cwd=work,
            )

    print("drs-compliance-suite: %d passed, %d failed" % (passed, failed))
    write_counts(args.counts_file, passed, failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
