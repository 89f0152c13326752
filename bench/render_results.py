#!/usr/bin/env python3
"""Render the rows collected by bench/run.sh (a TSV, one line per measurement)
as a Markdown report.  Every throughput is also given as a ratio to the
throughput of GET /_version measured in the same run at the same concurrency.

Row columns: backend kind workload conc requests secs rps ok_per_s p50_us
             p99_us rss_kb errors srv_cores note db_cores other_cores
kind is one of: import, version, read, list, write.
"""
import argparse
import datetime
import os
import platform
import subprocess
import sys

COLS = ["backend", "kind", "workload", "conc", "requests", "secs", "rps", "ok_per_s",
        "p50_us", "p99_us", "rss_kb", "errors", "srv_cores", "note", "db_cores", "other_cores"]

IMPORT_TARGET = 100_000
CREATE_TARGET_SQLITE = 10_000
# A row measured while processes other than weft, its database and the load generator
# used more than this many cores is marked as disturbed. Not 0: even on a quiet machine
# ~0.2-0.3 cores of kernel time at high request rates is charged to no process.
OTHER_CORES_LIMIT = 0.35


def num(x, default=None):
    try:
        return float(x)
    except (TypeError, ValueError):
        return default


def fmt_int(x):
    v = num(x)
    return "–" if v is None else f"{v:,.0f}"


def fmt_ms(us):
    v = num(us)
    if v is None:
        return "–"
    ms = v / 1000
    return f"{ms:.2f}" if ms < 10 else f"{ms:.1f}"


def fmt_ratio(r):
    if r is None:
        return "–"
    return f"{r:.2f}" if r >= 0.1 else f"{r:.2g}"


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=5).stdout.strip()
    except Exception:
        return ""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("rows")
    ap.add_argument("--backend", required=True)
    ap.add_argument("--records", required=True)
    ap.add_argument("--duration", required=True)
    ap.add_argument("--threads", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--git-rev", default="")
    ap.add_argument("--bin", default="")
    ap.add_argument("--version-body", default="")
    ap.add_argument("--peak-rss-kb", default="")
    ap.add_argument("--sanity", default="ok")
    args = ap.parse_args()

    rows = []
    with open(args.rows) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            parts += [""] * (len(COLS) - len(parts))
            rows.append(dict(zip(COLS, parts)))

    ceiling = {}
    for r in rows:
        if r["kind"] == "version":
            ceiling[r["conc"]] = num(r["rps"])
    top_conc = max((int(c) for c in ceiling), default=None)

    cpu = sh("awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo")
    wrk_ver = sh("wrk -v 2>&1 | head -1 | awk '{print $1, $2}'")
    out = []
    w = out.append
    w(f"## weft benchmark: {args.backend}, {int(num(args.records)):,} records, {datetime.date.today().isoformat()}")
    w("")
    w(f"- command: `{args.command}`")
    w(f"- machine: {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}; "
      f"load generator {wrk_ver} on the same machine, {args.threads} threads, {args.duration} per run")
    w(f"- weft: git {args.git_rev}, `{args.bin}`")
    if args.version_body:
        w(f"- `GET /_version`: `{args.version_body}`")
    if args.backend == "postgres":
        pg_version = sh("psql -X -A -t -h 127.0.0.1 -U postgres -c 'show server_version'")
        w(f"- PostgreSQL {pg_version} on the same machine "
          "(RSS below is the weft process only, not the PostgreSQL backends)")
    w(f"- sanity checks before measuring: {args.sanity}")
    w("")
    pg = args.backend == "postgres"
    w("| workload | c | req/s | records/s | × /_version | p50 ms | p99 ms | CPU weft | "
      + ("CPU postgres | " if pg else "") + "CPU other | weft RSS MiB | errors |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if pg else "") + "---:|---:|---:|")
    disturbed = []

    def cpu_cells(r):
        other = num(r["other_cores"])
        mark = ""
        if other is not None and other > OTHER_CORES_LIMIT:
            mark = " ⚠"
            disturbed.append(r["workload"] if r["kind"] in ("import", "list") else f"{r['workload']} c={r['conc']}")
        cells = [r["srv_cores"] or "–"]
        if pg:
            cells.append(r["db_cores"] or "–")
        cells.append((r["other_cores"] or "–") + mark)
        return " | ".join(cells)
    notes = []
    for r in rows:
        rps = num(r["rps"])
        ok = num(r["ok_per_s"])
        conc = r["conc"]
        if r["kind"] == "import":
            base = ceiling.get(str(top_conc)) if top_conc else None
            ratio = ok / base if (ok is not None and base) else None
            notes.append(f"import: {fmt_int(r['requests'])} records in {num(r['secs']):.1f}s; "
                         f"its ratio is to `GET /_version` at c={top_conc} (the import is an offline CLI run); "
                         f"peak import RSS {fmt_int(num(r['rss_kb'], 0) / 1024)} MiB")
            w(f"| {r['workload']} | – | – | {fmt_int(ok)} | {fmt_ratio(ratio)} | – | – | {cpu_cells(r)} | "
              f"{fmt_int(num(r['rss_kb'], 0) / 1024)} | {r['errors']} |")
            continue
        base = ceiling.get(conc)
        ratio = rps / base if (rps is not None and base) else None
        workload = r["workload"]
        if r["kind"] == "list":
            notes.append(f"listing: req/s are pages/s from one sequential client (bench/walk_list.py); "
                         f"{r['note']}; × /_version compares pages/s with `GET /_version` at c=1")
        w(f"| {workload} | {conc} | {fmt_int(rps)} | {fmt_int(ok)} | {fmt_ratio(ratio)} | {fmt_ms(r['p50_us'])} | "
          f"{fmt_ms(r['p99_us'])} | {cpu_cells(r)} | {fmt_int(num(r['rss_kb'], 0) / 1024)} | {r['errors']} |")
    w("")
    for n in notes:
        w(f"- {n}")
    w("- records/s: successful (status < 400) responses per second; for listing, records returned per second.")
    w("- server RSS: VmRSS of the weft process right after each run"
      + (f"; peak (VmHWM) over the whole run {fmt_int(num(args.peak_rss_kb, 0) / 1024)} MiB." if args.peak_rss_kb else "."))
    w("- errors: wrk socket errors (connect/read/write/timeout) plus responses with status >= 400.")
    w("- CPU columns: average cores used during the run by weft (for the import row: the import process)"
      + (", by the PostgreSQL backends serving the benchmark database" if pg else "")
      + ", and by everything else on the machine except the load generator (wrk / the listing client)."
      " The machine has 2 cores shared by all of them.")
    if disturbed:
        w(f"- ⚠ other processes used more than {OTHER_CORES_LIMIT} cores during: {', '.join(disturbed)}; "
          "those figures are disturbed and should be re-measured on a quiet machine.")

    # Targets from the issue.
    w("")
    w("Targets:")
    for r in rows:
        if r["kind"] == "import":
            v = num(r["ok_per_s"], 0)
            w(f"- import ≥ {IMPORT_TARGET:,} records/s: {v:,.0f} → {'met' if v >= IMPORT_TARGET else 'NOT met'}")
    creates = [r for r in rows if r["kind"] == "write" and r["conc"] == "64"]
    for r in creates:
        v = num(r["ok_per_s"], 0)
        verdict = ('met' if v >= CREATE_TARGET_SQLITE else 'NOT met') if args.backend == "sqlite" else "target is for SQLite; for reference"
        w(f"- POST create at c=64 ≥ {CREATE_TARGET_SQLITE:,} records/s (SQLite): {v:,.0f} → {verdict}")
    w("")
    sys.stdout.write("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
