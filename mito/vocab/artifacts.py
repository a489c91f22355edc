"""Artifact content types (result, exec-log, std-log) and the attachment content type."""

from __future__ import annotations

import enum


class ArtifactContentType(enum.IntEnum):
    Result = 0
    ExecLog = 1
    StdLog = 2

    @property
    def wire(self) -> str:
        return ("result", "exec-log", "std-log")[self.value]

    @property
    def filename(self) -> str:
        return f"{self.wire}.tar.gz"

    @classmethod
    def parse(cls, text: str) -> ArtifactContentType:
        """Accept the wire names and the upstream aliases (Result, exec, ExecLog, std, terminal...)."""
        key = text.strip().lower().replace("_", "-")
        aliases = {
            "result": cls.Result,
            "exec-log": cls.ExecLog, "execlog": cls.ExecLog, "exec": cls.ExecLog,
            "std-log": cls.StdLog, "stdlog": cls.StdLog, "std": cls.StdLog, "terminal": cls.StdLog,
        }  # fmt: skip
        if key not in aliases:
            raise ValueError(f"unknown artifact content type {text!r} (expected result, exec-log or std-log)")
        return aliases[key]


ATTACHMENT_CONTENT_TYPE = "application/octet-stream"
