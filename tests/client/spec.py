"""Find the wire contract (spec/openapi.yaml) in the repository or next to it."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
METHODS = {"get", "post", "put", "delete", "patch"}


def spec_path() -> Path | None:
    for base in (ROOT, *ROOT.parents):
        for candidate in (base / "spec" / "openapi.yaml", base / "shared" / "spec" / "openapi.yaml"):
            if candidate.is_file():
                return candidate
    return None


def spec_operation_ids() -> list[str] | None:
    path = spec_path()
    if path is None:
        return None
    doc = yaml.safe_load(path.read_text())
    return [op["operationId"] for ops in doc["paths"].values() for m, op in ops.items() if m in METHODS]
