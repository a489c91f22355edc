"""Request bodies of the coordinator API, built from Python values (the SDK and the CLI share them).

Each builder returns the JSON body (or the part of one) that spec/openapi.yaml describes: a TaskSpec, a
SubmitTaskReq, the task and worker filters shared by queries, cancels and batch operations, the
RemoteResourceDownload of a task's inputs. Enum values are spelled by `mito.vocab`, never by hand.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

from mito.vocab import ArtifactContentType, Role, ShutdownOp, TaskState

Json = dict[str, Any]


def drop_none(**fields: Any) -> Json:
    """The fields that are set: the API treats a missing optional field as "no filter"."""
    return {k: v for k, v in fields.items() if v is not None}


def as_list(value: Iterable[str] | str | None) -> list[str] | None:
    """A list from a list, or from a comma list given as one string; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        return [v for v in value.split(",") if v]
    return list(value)


def artifact_type(name: str | ArtifactContentType) -> str:
    """The wire name of an artifact content type (`result`, `exec-log`/`exec`, `std-log`/`std`/`terminal`)."""
    if isinstance(name, ArtifactContentType):
        return name.wire
    try:
        return ArtifactContentType.parse(name).wire
    except ValueError:
        names = ", ".join(t.wire for t in ArtifactContentType)
        raise ValueError(f"unknown artifact type {name!r}: use one of {names}") from None


def _names(values: Iterable[str | enum.Enum] | str | None) -> list[str] | None:
    """Enum members by their wire name; strings go as they are (the coordinator validates them)."""
    if values is None or isinstance(values, str):
        return as_list(values)
    return [v.name if isinstance(v, enum.Enum) else v for v in values]


def relations_body(relations: Mapping[str, str | Role]) -> dict[str, str]:
    """The `relations` of a role update: {user or group name: Read|Write|Admin}."""
    return {name: role.name if isinstance(role, Role) else role for name, role in relations.items()}


def shutdown_op(op: str | ShutdownOp) -> str:
    """The wire name of a worker shutdown op; a string goes as it is (the coordinator validates it)."""
    return op.name if isinstance(op, ShutdownOp) else op


def task_filter(
    *,
    creator_usernames: Iterable[str] | None = None,
    group_name: str | None = None,
    tags: Iterable[str] | None = None,
    labels: Iterable[str] | None = None,
    states: Iterable[str | TaskState] | None = None,
    exit_status: str | int | None = None,
    priority: str | int | None = None,
    reporter_uuid: str | None = None,
) -> Json:
    """The task filter shared by query, cancel, and the artifact batch operations."""
    return drop_none(
        creator_usernames=as_list(creator_usernames),
        group_name=group_name,
        tags=as_list(tags),
        labels=as_list(labels),
        states=_names(states),
        exit_status=None if exit_status is None else str(exit_status),
        priority=None if priority is None else str(priority),
        reporter_uuid=reporter_uuid,
    )


def worker_filter(
    *,
    group_name: str | None = None,
    role: Iterable[str | Role] | None = None,
    tags: Iterable[str] | None = None,
    labels: Iterable[str] | None = None,
    creator_username: str | None = None,
) -> Json:
    """The worker filter shared by the worker query and the batch shutdown."""
    return drop_none(
        group_name=group_name,
        role=_names(role),
        tags=as_list(tags),
        labels=as_list(labels),
        creator_username=creator_username,
    )


def task_spec(
    args: Iterable[str],
    *,
    envs: Mapping[str, str] | None = None,
    resources: Iterable[Mapping[str, Any]] | None = None,
    terminal_output: bool = False,
    watch: tuple[str, str] | list[str] | None = None,
) -> Json:
    """A TaskSpec body: the command, its environment, its inputs, and an optional upstream to watch."""
    spec: Json = {
        "args": list(args),
        "envs": dict(envs or {}),
        "resources": [dict(r) for r in resources or ()],
        "terminal_output": terminal_output,
    }
    if watch is not None:
        spec["watch"] = list(watch)
    return spec


def submit_request(
    group_name: str,
    spec: Mapping[str, Any],
    tags: Iterable[str] = (),
    labels: Iterable[str] = (),
    timeout: str = "10m",
    priority: int = 0,
    retry: Mapping[str, Any] | None = None,
) -> Json:
    """A SubmitTaskReq body (submit_task sends one; submit_tasks sends a list); `retry`: a retry_policy()."""
    body = {
        "group_name": group_name,
        "tags": list(tags),
        "labels": list(labels),
        "timeout": timeout,
        "priority": priority,
        "task_spec": dict(spec),
    }
    if retry is not None:
        body["retry"] = dict(retry)
    return body


def retry_policy(
    retries: int, on: Iterable[str] | None = None, delay: str | None = None, backoff: str | None = None
) -> Json:
    """The `retry` extension of a SubmitTaskReq: `retries` more attempts on the failures `on` names
    (`exit`, `exit:1,2`, `signal:9`, `timeout`, `lost`; all of them when None), after `delay`."""
    return drop_none(retries=retries, on=None if on is None else list(on), delay=delay, backoff=backoff)


def attachment_resource(key: str, local_path: str) -> Json:
    """A RemoteResourceDownload for a group attachment."""
    return {"remote_file": {"Attachment": {"key": key}}, "local_path": local_path}


def artifact_resource(uuid: str, content_type: str | ArtifactContentType, local_path: str) -> Json:
    """A RemoteResourceDownload for another task's artifact."""
    return {
        "remote_file": {"Artifact": {"uuid": uuid, "content_type": artifact_type(content_type)}},
        "local_path": local_path,
    }


def campaign_request(
    group_name: str,
    task: Mapping[str, Any],
    *,
    parameters: Mapping[str, Iterable[object]] | None = None,
    points: Iterable[Mapping[str, object]] | None = None,
    repeat: int = 1,
    name: str | None = None,
) -> Json:
    """A CreateCampaignReq body (extension): the swept `parameters` ({name: values}, in order), explicit
    `points` (rows of {name: value}, every row naming the same parameters), `repeat` tasks per point, and
    the task template (a SubmitTaskReq; its group_name is dropped). Values are sent as strings."""
    body: Json = {
        "group_name": group_name,
        "parameters": [{"name": n, "values": [str(v) for v in vs]} for n, vs in (parameters or {}).items()],
        "repeat": repeat,
        "task": {k: v for k, v in task.items() if k != "group_name"},
    }
    if points is not None:
        rows = [{str(k): str(v) for k, v in row.items()} for row in points]
        names = list(rows[0]) if rows else []
        for number, row in enumerate(rows, start=1):
            if set(row) != set(names):
                raise ValueError(f"point {number} names {', '.join(row)}; point 1 names {', '.join(names)}")
        body["points"] = {"names": names, "rows": [[row[n] for n in names] for row in rows]}
    if name is not None:
        body["name"] = name
    return body
