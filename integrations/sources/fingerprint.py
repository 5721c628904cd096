"""The alert fingerprint: FNV-1a 64 over a label set, as Prometheus Alertmanager computes it.

prometheus/common ``model.labelSetToFingerprint`` sorts the label names and hashes, for each
label, the UTF-8 bytes of the name, a 0xFF separator byte, the bytes of the value and another
0xFF; the 64-bit FNV-1a sum is printed as 16 lowercase hex digits. Computing the same value for
senders that send none (the generic webhook) makes one alert seen through Alertmanager and
through another sender dedupe to one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_OFFSET64 = 0xCBF29CE484222325
_PRIME64 = 0x100000001B3
_MASK64 = 0xFFFFFFFFFFFFFFFF
_SEPARATOR = 0xFF
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
FINGERPRINT_RE = re.compile(r"^[0-9a-f]{16}$")


def _utf8(text: str) -> bytes:
    # A JSON body may carry an unpaired surrogate escape ("\ud800"); Go's decoder reads it as
    # U+FFFD, so we do the same instead of failing to encode.
    return _LONE_SURROGATE.sub("\ufffd", text).encode("utf-8")


def labelset_fingerprint_int(labels: Mapping[str, str]) -> int:
    """FNV-1a 64 of the sorted label names and values, each followed by byte 0xFF."""
    digest = _OFFSET64
    # Go sorts label names by their bytes; sorting the UTF-8 encodings gives the same order.
    for name_bytes, name in sorted((_utf8(name), name) for name in labels):
        for part in (name_bytes, _utf8(labels[name])):
            for byte in part:
                digest = ((digest ^ byte) * _PRIME64) & _MASK64
            digest = ((digest ^ _SEPARATOR) * _PRIME64) & _MASK64
    return digest


def labelset_fingerprint(labels: Mapping[str, str]) -> str:
    """The fingerprint as Alertmanager prints it: 16 lowercase hex digits."""
    return f"{labelset_fingerprint_int(labels):016x}"


def is_fingerprint(value: str) -> bool:
    return FINGERPRINT_RE.fullmatch(value) is not None
