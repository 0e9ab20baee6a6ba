"""Which shard owns a device: stable across processes and restarts (Python's ``hash`` is not)."""

from zlib import crc32


def shard_of(device_id: str, shards: int) -> int:
    return crc32(device_id.encode()) % shards
