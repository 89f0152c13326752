#!/usr/bin/env python3
"""Generate a deterministic Gen3 indexing manifest for the weft benchmarks.

Writes, into OUT_DIR:
  manifest.tsv  header: guid md5 size authz acl url file_name
                (authz / acl / url hold several space-separated values)
  dids.txt      one guid per line, same order as the manifest
  md5s.txt      one md5 per line, same order as the manifest

The same --records and --seed always give byte-identical files, so runs on
different days or backends query exactly the same keys.
"""

import argparse
import os
import random
import sys
import time
import uuid

PROJECTS = 16


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--out-dir", required=True)
    args = ap.parse_args()

    os.makedirs(args.out_dir, exist_ok=True)
    rng = random.Random(args.seed)
    t0 = time.monotonic()

    paths = {name: os.path.join(args.out_dir, name) for name in ("manifest.tsv", "dids.txt", "md5s.txt")}
    tmp = {name: path + ".tmp" for name, path in paths.items()}
    seen_md5 = set()
    with open(tmp["manifest.tsv"], "w", buffering=1 << 20) as man, \
            open(tmp["dids.txt"], "w", buffering=1 << 20) as dids, \
            open(tmp["md5s.txt"], "w", buffering=1 << 20) as md5s:
        man.write("guid\tmd5\tsize\tauthz\tacl\turl\tfile_name\n")
        getrandbits = rng.getrandbits
        for i in range(args.records):
            guid = str(uuid.UUID(int=getrandbits(128), version=4))
            md5 = "%032x" % getrandbits(128)
            while md5 in seen_md5:  # keep hash lookups unambiguous
                md5 = "%032x" % getrandbits(128)
            seen_md5.add(md5)
            size = getrandbits(34) + 1
            p = i % PROJECTS
            authz = f"/programs/bench/projects/p{p} /programs/bench"
            acl = f"bench p{p}"
            url = f"s3://weft-bench/p{p}/{guid}/file-{i}.bam gs://weft-bench-mirror/p{p}/{guid}/file-{i}.bam"
            man.write(f"{guid}\t{md5}\t{size}\t{authz}\t{acl}\t{url}\tfile-{i}.bam\n")
            dids.write(guid + "\n")
            md5s.write(md5 + "\n")
    for name in paths:
        os.replace(tmp[name], paths[name])
    print(f"generated {args.records} records in {time.monotonic() - t0:.1f}s into {args.out_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
