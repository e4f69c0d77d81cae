"""Bulk writes the notify adapter shares, shaped for the local store (FerretDB v1 on SQLite):
ordered inserts that store a prefix, inserts where a duplicate is success, `$in` lists it pushes
down. Never decides anything; only used inside `repository/`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.errors import BulkWriteError

from shared.db import Document, insert_new

DUPLICATE_KEY = 11000
# FerretDB v1 inserts an ordered insert 100 documents at a time and, after a duplicate key in one
# hundred, goes on with the next: an ordered insert of more than this many documents may store
# some after the duplicate. Sent in chunks of this size, an ordered insert stores a prefix.
ORDERED_CHUNK = 100
ID_LIST_MAX = 900  # ids in one `_id $in` (the local store pushes down at most 1000)


async def insert_many_ordered(collection: Any, docs: Sequence[Document]) -> int:
    """Inserts the documents in order, stopping at the first duplicate key; returns how many were
    stored (a prefix of `docs`). Other errors raise."""
    stored = 0
    for start in range(0, len(docs), ORDERED_CHUNK):
        chunk = list(docs[start : start + ORDERED_CHUNK])
        try:
            await collection.insert_many(chunk, ordered=True)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if not errors or errors[0].get("code") != DUPLICATE_KEY:
                raise
            index = int(errors[0]["index"])
            if int(exc.details.get("nInserted", index)) != index:
                raise  # documents after the duplicate went in too: no prefix, never guess one
            return stored + index
        stored += len(chunk)
    return stored


async def insert_many_new(collection: Any, docs: Sequence[Document]) -> set[str]:
    """Inserts every document whose `_id` is new, in one round trip; returns the `_id`s that were
    already there (a duplicate is success). Other errors raise."""
    if not docs:
        return set()
    return {str(d["_id"]) for d in docs} - {str(i) for i in await insert_new(collection, docs)}


def chunks(ids: Sequence[str]) -> list[list[str]]:
    return [list(ids[i : i + ID_LIST_MAX]) for i in range(0, len(ids), ID_LIST_MAX)]
