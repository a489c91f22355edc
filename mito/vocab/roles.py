"""Roles of a user in a group and of a group on a worker: Read < Write < Admin (the spec's names)."""

from __future__ import annotations

import enum
from typing import Any


class Role(enum.IntEnum):
    """UserGroupRole and GroupWorkerRole; ordered, so `role >= Role.Write` reads as the rule says."""

    Read = 0
    Write = 1
    Admin = 2

    @classmethod
    def parse(cls, value: Any) -> Role:
        """The member of a wire name (case-insensitive); ValueError otherwise."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            for member in cls:
                if member.name.lower() == value.strip().lower():
                    return member
        raise ValueError(f"unknown role {value!r} (expected Read, Write or Admin)")
