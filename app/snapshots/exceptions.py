"""Errors raised by the snapshot writer, manifest and reader."""
from __future__ import annotations


class SnapshotError(Exception):
    """Base of every snapshot error."""


class UnknownTopic(SnapshotError, ValueError):
    """No Parquet schema is defined for this topic."""


class InvalidEvent(SnapshotError, ValueError):
    """An event lacks a field or holds a value its column cannot; dead-letter it."""


class NotASnapshotName(SnapshotError, ValueError):
    """A key that is not ``topic=<t>/date=<d>/hour=<h>/part-<p>-<first>-<last>.parquet``."""


class CorruptSnapshot(SnapshotError):
    """A file with a snapshot name that cannot be served: unreadable, truncated, or lying."""


class ManifestMismatch(SnapshotError):
    """A manifest and the files it names disagree, so its snapshot_id cannot be honoured."""
