#!/usr/bin/env python3
"""What SQLite alone needs for bench/mds_vs.sh's query: the floor under weft's rate.

    python3 bench/mds_floor.py /var/tmp/weft-bench/mds-vs/weft-sqlite/data/weft.db [RUNS]

Opens weft's database read-only (with `apsw`, whose bundled SQLite reads JSONB: `pip install
apsw`) and times, on one thread, with the page cache warm, the statements below, each RUNS
times (default 20), over random values of the same key list mds_vs.sh uses:

  query       the statement weft's store sends for
              /metadata?gen3_discovery.project.name=Project%20N&data=true&limit=100
              (the text_at() expression of crates/weft-store-sqlite/src/metadata.rs), rows read;
  scan        the same scan in GUID order with a filter that reads no JSON (length(data) = -1):
              what walking the table costs without looking inside any document;
  rowid-scan  the query's filter over a full-table scan in rowid order, then sorted (ORDER BY
              +guid), in case the planner's GUID-order walk is the cost;
  extract     json_extract() instead of the CASE expression, the simplest JSON filter.

Prints the median and minimum milliseconds of each, and the rate two cores could reach if
they did nothing else (2000 / median ms): the ceiling for weft's req/s on this machine.
"""

import random
import statistics
import sys
import time

import apsw

PATH = "'$.\"gen3_discovery\".\"project\".\"name\"'"
TEXT_AT = (
    f"(CASE json_type(data, {PATH}) WHEN 'text' THEN data ->> {PATH} "
    f"WHEN 'null' THEN NULL ELSE data -> {PATH} END)"
)
STATEMENTS = {
    "query": f"SELECT guid, json(data) FROM metadata WHERE ({TEXT_AT} IN (?)) "
    "ORDER BY guid LIMIT 100 OFFSET 0",
    "scan": "SELECT guid, json(data) FROM metadata WHERE (length(data) = -1 OR ? IS NULL) "
    "ORDER BY guid LIMIT 100 OFFSET 0",
    "rowid-scan": f"SELECT guid, json(data) FROM metadata WHERE ({TEXT_AT} IN (?)) "
    "ORDER BY +guid LIMIT 100 OFFSET 0",
    "extract": f"SELECT guid, json(data) FROM metadata WHERE json_extract(data, {PATH}) = ? "
    "ORDER BY guid LIMIT 100 OFFSET 0",
}


def main():
    db = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    conn = apsw.Connection(db, flags=apsw.SQLITE_OPEN_READONLY)
    conn.execute("PRAGMA cache_size = -400000")
    (records,) = conn.execute("SELECT count(*) FROM metadata").fetchone()
    groups = max(1, records // 100)
    lo = 10 ** (len(str(groups - 1)) - 1) if groups > 10 else 0
    values = [f"Project {n}" for n in range(lo, groups)]
    print(f"SQLite {apsw.sqlite_lib_version()}, {records} records, {runs} runs each")
    print("| statement | rows | median ms | min ms | 2 cores, req/s |")
    print("|---|---|---|---|---|")
    for name, sql in STATEMENTS.items():
        list(conn.execute(sql, (values[0],)))  # warm the cache
        times, rows = [], 0
        for _ in range(runs):
            value = random.choice(values)
            start = time.perf_counter()
            rows = len(list(conn.execute(sql, (value,))))
            times.append((time.perf_counter() - start) * 1000)
        med = statistics.median(times)
        print(f"| {name} | {rows} | {med:.1f} | {min(times):.1f} | {2000 / med:.1f} |")


if __name__ == "__main__":
    main()
