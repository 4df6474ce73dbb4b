"""Read a snapshot (a manifest, or a range) into one Arrow table per topic for training."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from app.snapshots.exceptions import CorruptSnapshot, ManifestMismatch
from app.snapshots.manifest import (
    Manifest,
    ManifestFile,
    SnapshotRange,
    fetch_file,
    gather_bounded,
    scan,
)
from app.snapshots.naming import SnapshotName
from app.snapshots.schema import schema_for
from app.storage import KeyNotFound, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """The data a training run reads, and the manifest (with its id) that names it."""

    manifest: Manifest
    tables: dict[str, pa.Table]
    """One table per topic, rows in file-key order; each offset appears once."""

    def frame(self, topic: str) -> pd.DataFrame:
        """The topic's rows as a pandas DataFrame."""
        return self.tables[topic].to_pandas()


async def read_snapshot(store: Store, source: Manifest | SnapshotRange) -> Snapshot:
    """Read a snapshot for training.

    Given a range, files that are corrupt, truncated or not ours are skipped with a warning
    and listed in the manifest's ``skipped``. Given a manifest, exactly its files are read
    and each must still hash to what the manifest says, else ``ManifestMismatch``.
    """
    if isinstance(source, SnapshotRange):
        manifest, tables = await scan(store, source)
    else:
        manifest, tables = source, await _fetch_exact(store, source)
    return Snapshot(manifest, await asyncio.to_thread(_per_topic, manifest, tables))


async def _fetch_exact(store: Store, manifest: Manifest) -> dict[str, pa.Table]:
    async def one(expected: ManifestFile) -> tuple[str, pa.Table]:
        try:
            found, table = await fetch_file(store, SnapshotName.parse(expected.key))
        except (CorruptSnapshot, KeyNotFound) as err:
            raise ManifestMismatch(f"{expected.key}: {err}") from err
        if found != expected:
            raise ManifestMismatch(f"{expected.key} changed since the manifest was made: {found}")
        return expected.key, table

    return dict(await gather_bounded([one(entry) for entry in manifest.files]))


def _overlaps(files: Sequence[ManifestFile]) -> bool:
    """Whether two files of one partition share offsets (two writers cut differently)."""
    last_seen: dict[int, int] = {}
    for entry in sorted(files, key=lambda f: (f.partition, f.first_offset)):
        if entry.first_offset <= last_seen.get(entry.partition, -1):
            return True
        last_seen[entry.partition] = entry.last_offset
    return False


def first_of_each_offset(table: pa.Table) -> pa.Table:
    """Each (partition, offset) once, its first row kept, in the table's order."""
    numbered = table.append_column("_row", pa.array(np.arange(table.num_rows)))
    firsts = numbered.group_by(["partition", "offset"], use_threads=False).aggregate([("_row", "min")])
    return table.take(np.sort(firsts["_row_min"].to_numpy()))


def _per_topic(manifest: Manifest, tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
    combined = {}
    for topic in manifest.topics:
        files = [entry for entry in manifest.files if entry.topic == topic]
        table = pa.concat_tables([tables[f.key] for f in files]) if files else schema_for(topic).empty_table()
        if _overlaps(files):
            before = table.num_rows
            table = first_of_each_offset(table)
            log.warning("%s: overlapping files, %d replayed rows dropped", topic, before - table.num_rows)
        combined[topic] = table
    return combined
