"""A campaign's results gathered into one table: one row per task, its parameters, how it ended, and the
values it wrote to `$MITO_RESULT_DIR/result.json` (nested keys flattened with dots: `{"a": {"b": 1}}` is
the column `a.b`; lists stay JSON text).

Each committed task's `result` artifact is downloaded (several at once) and unpacked under
`results_dir/<task uuid>/` (its files stay there: `result/result.json` and whatever else the task wrote),
with a stamp naming the version fetched. A later run fetches only what is new or changed (a task re-run
since), so collecting a running campaign again and again costs only its new results.

Columns: task_uuid, task_id, repeat, the parameters in the campaign's order, state, outcome, exit_status,
msg, worker_uuid, then the result keys in order of first appearance. A parameter or result key that
would take an earlier column's name gets a `param.` or `result.` prefix.
"""

from __future__ import annotations

import csv
import json
import shutil
import tarfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from client.bodies import Json
from mito.vocab import ArtifactContentType

STAMP = ".mito-result.json"
RESULT_FILE = Path(ArtifactContentType.Result.wire) / "result.json"  # inside the unpacked artifact
BEFORE_PARAMS = ("task_uuid", "task_id", "repeat")
AFTER_PARAMS = ("state", "outcome", "exit_status", "msg", "worker_uuid")
Progress = Callable[[int, int], None]  # (results fetched, results to fetch)


class CampaignReader(Protocol):
    """What collecting needs of the SDK (client.sdk.Mitosis)."""

    def get_campaign(self, group_name: str, name: str) -> Json: ...

    def iter_campaign_tasks(self, group_name: str, name: str) -> Iterator[Json]: ...

    def download_artifact(self, uuid: str, content_type: str) -> Json: ...

    def fetch_bytes(
        self, url: str, dest: Path | str, *, size: int | None = None, progress: Progress | None = None
    ) -> int: ...


@dataclass
class Collected:
    """The merged rows, their columns in order, and what this run fetched."""

    rows: list[dict[str, Any]]
    columns: list[str]
    fetched: int = 0  # results downloaded by this run
    reused: int = 0  # results found already fetched in results_dir
    without_result: list[str] = field(default_factory=list)  # committed tasks that left no result.json


class CollectError(Exception):
    """Some results could not be fetched (the others were, and a new run resumes from there)."""


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested objects as dotted keys; lists (and objects inside them) as JSON text."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}{key}."))
        return out
    name = prefix[:-1] or "result"
    return {name: json.dumps(value) if isinstance(value, list) else value}


def _stamp_of(task: Json) -> Json:
    """What identifies the result a committed task has now (a re-run task commits a new one)."""
    return {"uuid": task["uuid"], "updated_at": task["updated_at"], "size": task["result_size"]}


def _is_fetched(directory: Path, task: Json) -> bool:
    try:
        return bool(json.loads((directory / STAMP).read_text()) == _stamp_of(task))
    except (OSError, ValueError):
        return False


def _fetch(client: CampaignReader, task: Json, results_dir: Path) -> None:
    """Download and unpack one result artifact into results_dir/<uuid>, replacing an older one whole."""
    uuid = task["uuid"]
    partial = results_dir / ".partial"
    tarball, unpacked = partial / f"{uuid}.tar.gz", partial / uuid
    shutil.rmtree(unpacked, ignore_errors=True)
    link = client.download_artifact(uuid, ArtifactContentType.Result.wire)
    client.fetch_bytes(link["url"], tarball, size=link.get("size"))
    unpacked.mkdir(parents=True)
    with tarfile.open(tarball) as archive:
        archive.extractall(unpacked, filter="data")
    (unpacked / STAMP).write_text(json.dumps(_stamp_of(task)))
    target = results_dir / uuid
    shutil.rmtree(target, ignore_errors=True)
    unpacked.rename(target)
    tarball.unlink()


def _committed_with_result(task: Json) -> bool:
    return task.get("outcome") is not None and task.get("result_size") is not None


def collect(
    client: CampaignReader,
    group_name: str,
    name: str,
    results_dir: Path,
    *,
    jobs: int = 8,
    progress: Progress | None = None,
) -> Collected:
    """Fetch what is new of the campaign's results (`jobs` at a time) and merge one row per task."""
    campaign = client.get_campaign(group_name, name)
    tasks = list(client.iter_campaign_tasks(group_name, name))
    results_dir.mkdir(parents=True, exist_ok=True)
    wanted = [t for t in tasks if _committed_with_result(t)]
    missing = [t for t in wanted if not _is_fetched(results_dir / t["uuid"], t)]
    failures: list[str] = []
    if missing:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(_fetch, client, t, results_dir): t["uuid"] for t in missing}
            for done, future in enumerate(as_completed(futures), start=1):
                error = future.exception()
                if error is not None:
                    failures.append(f"{futures[future]}: {error}")
                if progress is not None:
                    progress(done, len(missing))
    shutil.rmtree(results_dir / ".partial", ignore_errors=True)
    if failures:
        raise CollectError(
            f"{len(failures)} of {len(missing)} results could not be fetched (run again to resume); "
            f"first: {failures[0]}"
        )
    collected = _merge(campaign["parameter_names"], tasks, results_dir)
    collected.fetched, collected.reused = len(missing), len(wanted) - len(missing)
    return collected


def _merge(parameters: list[str], tasks: Iterable[Json], results_dir: Path) -> Collected:
    columns: dict[str, None] = dict.fromkeys(BEFORE_PARAMS)
    param_columns = {p: f"param.{p}" if p in columns or p in AFTER_PARAMS else p for p in parameters}
    columns.update(dict.fromkeys(param_columns.values()))
    columns.update(dict.fromkeys(AFTER_PARAMS))
    rows, without_result = [], []
    for task in tasks:
        row: dict[str, Any] = {
            "task_uuid": task["uuid"],
            "task_id": task["task_id"],
            "repeat": task["repeat"],
        }
        row.update({param_columns[p]: task["params"].get(p) for p in parameters})
        row.update({k: task.get(k) for k in AFTER_PARAMS})
        if task.get("outcome") is not None:
            values = _read_result(results_dir / task["uuid"]) if _committed_with_result(task) else None
            if values is None:
                without_result.append(task["uuid"])
            for key, value in (values or {}).items():
                column = f"result.{key}" if key in row or key in param_columns.values() else key
                columns.setdefault(column)
                row[column] = value
        rows.append(row)
    return Collected(rows=rows, columns=list(columns), without_result=without_result)


def _read_result(directory: Path) -> dict[str, Any] | None:
    try:
        return flatten(json.loads((directory / RESULT_FILE).read_text()))
    except (OSError, ValueError):
        return None


def write_csv(collected: Collected, path: Path) -> None:
    """The rows as CSV (every column; a cell a task has no value for is empty)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=collected.columns, restval="")
        writer.writeheader()
        writer.writerows(collected.rows)


def as_frame(rows: list[dict[str, Any]], columns: list[str]) -> Any:
    """The rows as a pandas DataFrame when pandas is installed, else the rows themselves."""
    try:
        # Imported here, not at the top: pandas takes a second to import, and every `mito` command
        # would pay it; it is optional (never a dependency of this package).
        import pandas  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        return rows
    return pandas.DataFrame(rows, columns=columns)
