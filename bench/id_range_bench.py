"""The page read behind issue 15's read models, as history grows: the newest 100 entries of one
key by an `_id` range in `_id` order (patch 0005 on the local store, the `_id` index on MongoDB),
beside the same page through an ordinary field index on (key, at), in the same run and store.

    .venv/bin/python -m bench.id_range_bench [--steps 1000,10000,30000] [--uri mongodb://...]

It fills a scratch database step by step with 300-byte documents spread over 90 keys, prints a
Markdown table of median milliseconds per page read, and drops the database at the end. Not a
timed test: the figures go in docs/scaling.md and the commit that changes them.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.collection import Collection

Doc = dict[str, Any]

KEYS = [f"50011400{i:04d}" for i in range(90)]
PROBED = KEYS[7]  # the key whose newest page is read


def median_ms(fn: Callable[[], Any], reps: int) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def newest_by_id(entries: Collection[Doc], key: str) -> list[Doc]:
    page = {"_id": {"$gte": f"{key}|", "$lt": f"{key}}}"}}
    return list(entries.find(page).sort("_id", DESCENDING).limit(100))


def newest_by_field(fields: Collection[Doc], key: str) -> list[Doc]:
    return list(fields.find({"key": key}).sort("at", DESCENDING).limit(100))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--uri", default="mongodb://127.0.0.1:27017/")
    ap.add_argument("--steps", default="1000,10000,30000")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    client: MongoClient[Doc] = MongoClient(args.uri, serverSelectionTimeoutMS=5000)
    name = f"bench_id_range_{uuid.uuid4().hex[:8]}"
    db = client[name]
    entries, fields = db["entries"], db["fields"]
    fields.create_index([("key", ASCENDING), ("at", DESCENDING)])
    stored, n = 0, 0
    rows: list[tuple[int, float, float]] = []
    try:
        for step in (int(s) for s in args.steps.split(",")):
            e_batch: list[Doc] = []
            f_batch: list[Doc] = []
            while stored < step:
                key, at = KEYS[n % len(KEYS)], f"2026-01-01T00:00:00.{n:09d}Z"
                e_batch.append({"_id": f"{key}|{at}|{n}", "pad": "x" * 300})
                f_batch.append({"_id": str(n), "key": key, "at": at, "pad": "x" * 300})
                stored, n = stored + 1, n + 1
            for start in range(0, len(e_batch), 1000):
                entries.insert_many(e_batch[start : start + 1000])
                fields.insert_many(f_batch[start : start + 1000])
            time.sleep(1.5)  # our FerretDB main indexes a new table's `_id` within a second
            by_id = median_ms(lambda: newest_by_id(entries, PROBED), args.reps)
            by_field = median_ms(lambda: newest_by_field(fields, PROBED), args.reps)
            rows.append((step, by_id, by_field))
    finally:
        client.drop_database(name)
    print("| documents | newest 100 by `_id` range | same page by field index (baseline) |")
    print("|---:|---:|---:|")
    for step, by_id, by_field in rows:
        print(f"| {step:,} | {by_id:.1f} ms | {by_field:.1f} ms |")


if __name__ == "__main__":
    main()
