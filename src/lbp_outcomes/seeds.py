"""Seeds for every random step, derived from the one configured seed."""

from __future__ import annotations

import zlib


def derive_seed(base: int, *keys: object) -> int:
    """A stable 31-bit seed for one task (the same on every machine and Python run,
    unlike ``hash()``), so each fold/family/target has its own reproducible stream."""
    text = ":".join([str(base), *map(str, keys)])
    return zlib.crc32(text.encode()) & 0x7FFFFFFF
