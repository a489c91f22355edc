"""Durations (humantime style) and sizes (decimal and binary units), shared by every program."""

from __future__ import annotations

import re

_DURATION_UNITS: dict[str, float] = {}
for names, seconds in (
    (("ns", "nsec", "nanos"), 1e-9),
    (("us", "usec", "micros"), 1e-6),
    (("ms", "msec", "millis"), 1e-3),
    (("s", "sec", "secs", "second", "seconds"), 1.0),
    (("m", "min", "mins", "minute", "minutes"), 60.0),
    (("h", "hr", "hrs", "hour", "hours"), 3600.0),
    (("d", "day", "days"), 86400.0),
    (("w", "week", "weeks"), 7 * 86400.0),
    (("M", "month", "months"), 30.44 * 86400.0),
    (("y", "year", "years"), 365.25 * 86400.0),
):
    for name in names:
        _DURATION_UNITS[name] = seconds

_DURATION_PART = re.compile(r"\s*(\d+)\s*([A-Za-z]+)")


def parse_duration(text: str) -> float:
    """Parse `2h 30m`, `10min`, `7d` into seconds; a bare number or unknown unit raises ValueError."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty duration")
    pos, total, s = 0, 0.0, text.strip()
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m:
            raise ValueError(f"invalid duration {text!r}: expected parts like '10m' or '2h 30m'")
        unit = m.group(2)
        factor = _DURATION_UNITS.get(unit) or _DURATION_UNITS.get(unit.lower() if unit != "M" else unit)
        if factor is None:
            raise ValueError(f"invalid duration {text!r}: unknown unit {unit!r}")
        total += int(m.group(1)) * factor
        pos = m.end()
    return total


def format_duration(seconds: float | int) -> str:
    """Render seconds humantime style: `10m`, `2h 30m`, `7days`, `0s`."""
    secs = int(seconds)
    if secs <= 0:
        return "0s"
    parts = []
    days, secs = divmod(secs, 86400)
    if days:
        parts.append(f"{days}day" if days == 1 else f"{days}days")
    hours, secs = divmod(secs, 3600)
    if hours:
        parts.append(f"{hours}h")
    minutes, secs = divmod(secs, 60)
    if minutes:
        parts.append(f"{minutes}m")
    if secs:
        parts.append(f"{secs}s")
    return " ".join(parts)


_SIZE = re.compile(r"^\s*([0-9][0-9_ ]*(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*$")
_SIZE_UNITS = {
    "": 1,
    "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15, "e": 10**18,
    "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40, "pi": 2**50, "ei": 2**60,
}  # fmt: skip


def parse_size(text: str) -> int:
    """Parse `2GB` (2*10^9), `1GiB` (2^30), `500mb`, `2ki`, `1024` into bytes."""
    m = _SIZE.match(text) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"invalid size {text!r}: expected a number with an optional unit like 2GB or 1GiB")
    unit = m.group(2).lower()
    if unit.endswith("b"):
        unit = unit[:-1]
    if unit not in _SIZE_UNITS:
        raise ValueError(f"invalid size {text!r}: unknown unit {m.group(2)!r}")
    return round(float(m.group(1).replace("_", "").replace(" ", "")) * _SIZE_UNITS[unit])
