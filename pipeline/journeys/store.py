"""A partition's state in memory: bytes at rest, live objects while touched, one
changelog record per changed key per flush.

Every record of partition p lives in one shared mapping (the Faust table's store, so
that Faust's recovery and standby replicas fill it) under a key that starts with p:

    <p>|c|<customer id>          CustomerState (JSON, pipeline.journeys.codec)
    <p>|i|<identifier key>       IdentifierRecord (JSON, pipeline.journeys.codec)
    <p>|w|<size>|<start>         one window's partial counts and emitted versions (JSON)
    <p>|meta                     the partition's clock and window progress (JSON)

A record is decoded on its first touch after a flush and kept as a live object until
the next flush, which encodes each changed one once (`drain`). Nothing here touches
Kafka; the agent writes what `drain` returns to the changelog.

    (partition, shared mapping) -> customers / identities / counts stores
    drain() -> [(key, bytes | None)]   the changelog records of everything changed
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from typing import Generic, TypeVar

import msgspec

from pipeline.errors import StateFormatError
from pipeline.journeys import codec
from pipeline.journeys.resolution import IdentifierRecord
from pipeline.journeys.state import CustomerState

V = TypeVar("V")
S = TypeVar("S", bound=msgspec.Struct)

#: What a flush writes: the changelog key and the new value (None: the key is deleted).
Change = tuple[str, bytes | None]


class Overlay(Generic[V]):
    """One kind of record of one partition: encoded at rest, decoded while in use."""

    def __init__(
        self,
        data: MutableMapping[str, bytes],
        prefix: str,
        decode: Callable[[bytes], V],
        encode: Callable[[V], bytes],
    ) -> None:
        self.data = data
        self.prefix = prefix
        self.decode = decode
        self.encode = encode
        self.live: dict[str, V] = {}
        self.dirty: set[str] = set()
        self.deleted: set[str] = set()

    def get(self, key: str) -> V | None:
        found = self.live.get(key)
        if found is None:
            raw = self.data.get(self.prefix + key)
            if raw is None:
                return None
            found = self.live[key] = self.decode(raw)
        return found

    def set(self, key: str, value: V) -> None:
        self.live[key] = value
        self.dirty.add(key)
        self.deleted.discard(key)

    def delete(self, key: str) -> None:
        self.live.pop(key, None)
        self.dirty.discard(key)
        if self.data.pop(self.prefix + key, None) is not None:
            self.deleted.add(key)

    def keys(self) -> Iterator[str]:
        """Every key held at rest or changed since the last drain."""
        n = len(self.prefix)
        at_rest = (key[n:] for key in list(self.data) if key.startswith(self.prefix))
        yield from dict.fromkeys([*at_rest, *self.dirty])

    def drain(self) -> list[Change]:
        """Encode every changed record once; forget the live objects."""
        changes: list[Change] = []
        for key in self.dirty:
            raw = self.encode(self.live[key])
            self.data[self.prefix + key] = raw
            changes.append((self.prefix + key, raw))
        changes.extend((self.prefix + key, None) for key in self.deleted)
        self.live.clear()
        self.dirty.clear()
        self.deleted.clear()
        return changes


class Records(Generic[S]):
    """Records of one kind on one partition, as the pure steps' store: the engine's
    StateStore (customers) and resolution's IdentityStore (identifiers)."""

    def __init__(
        self, data: MutableMapping[str, bytes], prefix: str, kind: type[S], key: Callable[[S], str]
    ) -> None:
        self.records = Overlay(data, prefix, _decoding(kind, prefix), codec.encode)
        self.key = key

    def get(self, key: str) -> S | None:
        return self.records.get(key)

    def put(self, record: S) -> None:
        self.records.set(self.key(record), record)

    def delete(self, key: str) -> None:
        self.records.delete(key)

    def values(self) -> Iterator[S]:
        for key in list(self.records.keys()):
            record = self.get(key)
            if record is not None:
                yield record


def _decoding(kind: type[S], prefix: str) -> Callable[[bytes], S]:
    decoder = codec.decoder(kind)

    def decode(raw: bytes) -> S:
        try:
            return decoder.decode(raw)
        except msgspec.DecodeError as error:
            raise StateFormatError(
                f"a {kind.__name__} record under {prefix!r} in the state changelog cannot be "
                f"read ({error}): another build of Journeys wrote it; start this one with a "
                "new KAFKA_CONSUMER_GROUP (a new state changelog, rebuilt from the raw topics)"
            ) from error

    return decode


class WindowCounts:
    """The WindowCounter's CountStore for one partition, one changelog record per window.

    Count keys (`c|<p>|<size>|<start>|...`) and version keys (`v|<p>|<size>|<start>`)
    are grouped by their window (`<size>|<start>`); the progress keys (`e|<p>|<size>`,
    `f|<p>`) travel in the partition's meta record (see `PartitionState`).
    """

    def __init__(self, data: MutableMapping[str, bytes], partition: int) -> None:
        self.data = data
        self.prefix = f"{partition}|w|"
        self.counts: dict[str, int] = {}
        self.windows: dict[str, set[str]] = {}  # window id -> its keys in `counts`
        self.changed: set[str] = set()  # window ids changed since the last drain
        for name in [name for name in data if name.startswith(self.prefix)]:
            for key, count in json.loads(data[name]).items():
                self.counts[key] = count
                self.windows.setdefault(name[len(self.prefix) :], set()).add(key)

    def get(self, key: str) -> int:
        return self.counts.get(key, 0)

    def add(self, key: str, amount: int) -> None:
        self.counts[key] = self.counts.get(key, 0) + amount
        window = _window_of(key)
        if window is not None:
            self.windows.setdefault(window, set()).add(key)
            self.changed.add(window)

    def delete(self, key: str) -> None:
        if self.counts.pop(key, None) is None:
            return
        window = _window_of(key)
        if window is not None:
            self.windows.get(window, set()).discard(key)
            self.changed.add(window)

    def keys(self, prefix: str) -> Iterable[str]:
        return [key for key in self.counts if key.startswith(prefix)]

    def progress(self) -> dict[str, int]:
        """The keys that are not per window (`e|...`, `f|...`), for the meta record."""
        return {key: n for key, n in self.counts.items() if _window_of(key) is None}

    def restore_progress(self, progress: dict[str, int]) -> None:
        self.counts.update(progress)

    def drain(self) -> list[Change]:
        changes: list[Change] = []
        for window in self.changed:
            name = self.prefix + window
            keys = self.windows.get(window, set())
            if keys:
                members = {key: self.counts[key] for key in sorted(keys)}
                raw = json.dumps(members, separators=(",", ":")).encode()
                self.data[name] = raw
                changes.append((name, raw))
            else:
                self.windows.pop(window, None)
                if self.data.pop(name, None) is not None:
                    changes.append((name, None))
        self.changed.clear()
        return changes


def _window_of(key: str) -> str | None:
    """`c|p|3600|1700000000|...` and `v|p|3600|1700000000` -> `3600|1700000000`."""
    if key[0] not in "cv":
        return None
    parts = key.split("|", 4)
    return f"{parts[2]}|{parts[3]}"


class PartitionState:
    """Everything partition p keeps, over the worker's shared mapping."""

    def __init__(self, data: MutableMapping[str, bytes], partition: int) -> None:
        self.data = data
        self.partition = partition
        self.customers = Records(
            data, f"{partition}|c|", CustomerState, lambda state: state.customer_id
        )
        self.identities = Records(
            data, f"{partition}|i|", IdentifierRecord, lambda record: record.key
        )
        self.counts = WindowCounts(data, partition)
        self.meta_key = f"{partition}|meta"

    def meta(self) -> dict[str, object]:
        raw = self.data.get(self.meta_key)
        return {} if raw is None else dict(json.loads(raw))

    def drain(self, meta: dict[str, object]) -> list[Change]:
        """The changelog records of everything changed since the last drain, with `meta`."""
        raw = json.dumps(meta, separators=(",", ":"), sort_keys=True).encode()
        changes = [
            *self.customers.records.drain(),
            *self.identities.records.drain(),
            *self.counts.drain(),
        ]
        if self.data.get(self.meta_key) != raw:
            self.data[self.meta_key] = raw
            changes.append((self.meta_key, raw))
        return changes

    def forget(self) -> None:
        """Drop this partition's records from the shared mapping (it moved elsewhere)."""
        mine = f"{self.partition}|"
        for key in [key for key in self.data if key.startswith(mine)]:
            del self.data[key]
