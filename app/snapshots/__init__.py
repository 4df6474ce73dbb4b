"""Parquet snapshots of the event topics: exactly-once files, manifests and a reader."""
from app.snapshots.exceptions import (
    CorruptSnapshot,
    InvalidEvent,
    ManifestMismatch,
    NotASnapshotName,
    SnapshotError,
    UnknownTopic,
)
from app.snapshots.manifest import (
    Manifest,
    ManifestFile,
    SkippedFile,
    SnapshotRange,
    build_manifest,
)
from app.snapshots.naming import SnapshotName
from app.snapshots.reader import Snapshot, read_snapshot
from app.snapshots.resume import resume_offset, resume_offsets
from app.snapshots.schema import SCHEMAS, schema_for
from app.snapshots.sink import SnapshotSink
from app.snapshots.writer import Batch, PartitionBuffer

__all__ = [
    "SCHEMAS", "Batch", "CorruptSnapshot", "InvalidEvent", "Manifest", "ManifestFile", "ManifestMismatch",
    "NotASnapshotName", "PartitionBuffer", "SkippedFile", "Snapshot", "SnapshotError", "SnapshotName",
    "SnapshotRange", "SnapshotSink", "UnknownTopic", "build_manifest", "read_snapshot", "resume_offset",
    "resume_offsets", "schema_for",
]
