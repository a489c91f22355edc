"""Campaigns (extension, tag Campaigns): parameter sweeps submitted in one request, and read back as one.

A campaign is created with its grid and a task template (sweep.py expands and fills them); its tasks are
submitted in the same transaction through the lifecycle's Submit event, like any batch. Campaigns follow
the group rules of tasks: creating, cancelling and retrying need Write or Admin in the group, reading
needs membership (site admins exempt).

Counts. A campaign's status is one statement over the partial indexes `ix_*_tasks_campaign_state`
(campaign_id, state[, exit_status]): the active tasks by state, the archived ones by state and success,
read from the indexes alone, plus the user-cancelled archived tasks (the only part that reads rows, and
only Cancelled ones). Its cost follows the campaign's size, never the number of tasks stored.

A committed task's outcome (mito.vocab.PointOutcome): succeeded when Finished with exit status 0,
cancelled when its user cancelled it, failed otherwise (an exit code, a signal, a timeout, a lost worker,
a missing resource). `retry_campaign` re-runs the failed (and, if asked, the cancelled) points as new
attempts of the same tasks (rerun.py).
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import uuid as uuid_mod
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa

from app import db
from app.errors import AlreadyExists, InvalidRequest, NotFound
from app.models import (
    ActiveTask,
    ArchivedTask,
    Artifact,
    ArtifactContentType,
    Campaign,
    Group,
    Role,
    TaskState,
    User,
)
from app.services import access, lifecycle, rerun, sweep
from app.services import task as task_service
from app.services.lifecycle import Event
from mito.vocab import PointOutcome, TaskResultMessage

FAILURES_SHOWN = 20  # the failed tasks a status lists (the count covers them all)
CHUNK = 2000  # tasks made and written at a time by create_campaign (one transaction for all of them)
_NOT_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_USER_CANCELLATION = TaskResultMessage.UserCancellation.value
_T = TypeVar("_T", ActiveTask, ArchivedTask)


@dataclass(frozen=True)
class CampaignStatus:
    """CampaignStatusResp: the campaign, its task counts by state and outcome, and its first failures."""

    campaign: Campaign
    counts: dict[str, int]  # TaskState name -> tasks in that state (active and archived)
    outcomes: dict[str, int]  # PointOutcome value -> committed tasks that ended so
    failures: list[ArchivedTask]

    @property
    def committed(self) -> int:
        """How many tasks have a final result."""
        return sum(self.outcomes.values())

    @property
    def done(self) -> bool:
        """Whether every task has a final result."""
        return self.committed == self.campaign.task_count


@dataclass(frozen=True)
class CampaignPage:
    """CampaignsResp: one page of a group's campaigns, newest first."""

    campaigns: list[Campaign]
    group_name: str
    next_cursor: str | None


@dataclass(frozen=True)
class CampaignTask:
    """CampaignTaskInfo: one task of a campaign, with its outcome and its result artifact's size."""

    task: ActiveTask | ArchivedTask
    outcome: PointOutcome | None
    result_size: int | None

    @property
    def exit_status(self) -> int | None:
        """The committed exit status (None while active)."""
        return self.task.exit_status if isinstance(self.task, ArchivedTask) else None

    @property
    def msg(self) -> str | None:
        """Why a committed task did not succeed (TaskResultMessage), if it says."""
        return (self.task.result or {}).get("msg")

    @property
    def worker_uuid(self) -> uuid_mod.UUID | None:
        """The worker that committed the task's result."""
        return self.task.reporter_uuid


@dataclass(frozen=True)
class CampaignTaskPage:
    """CampaignTasksResp: one page of a campaign's tasks in submission order."""

    tasks: list[CampaignTask]
    next_cursor: str | None


@dataclass(frozen=True)
class CampaignChange:
    """CampaignCancelResp / CampaignRetryResp: how many tasks a cancel or a retry changed."""

    name: str
    group_name: str
    count: int


# ---------------------------------------------------------------- creation


@db.transactional
def create_campaign(*, actor: User, req: dict[str, Any]) -> Campaign:
    """Create a campaign and submit its tasks (Write or Admin in the group); nothing is made on bad input."""
    group = access.require_group(req["group_name"])
    access.require_role(actor, group, Role.Write)
    points = req.get("points")
    grid = sweep.Grid(
        parameters=[(p["name"], p["values"]) for p in req.get("parameters") or []],
        row_names=points["names"] if points else (),
        rows=points["rows"] if points else None,
        repeat=req["repeat"],
    )
    sweep.check(grid)
    template: dict[str, Any] = req["task"]
    sweep.check_placeholders(template, grid.names)
    name = req.get("name") or _free_name(group, template["task_spec"]["args"][0])
    if _find(group, name) is not None:
        raise AlreadyExists(f"Campaign {name} already exists in group {group.group_name}")
    campaign = Campaign(
        uuid=uuid_mod.uuid4(),
        name=name,
        group_id=group.id,
        creator_id=actor.id,
        parameters=[{"name": n, "values": list(v)} for n, v in grid.parameters],
        points=points,
        repeat=grid.repeat,
        template=template,
        task_count=grid.task_count,
    )
    db.session.add(campaign)
    db.session.flush()
    every_point = list(sweep.points(grid))
    made = ((repeat, point) for repeat in range(1, grid.repeat + 1) for point in every_point)
    while chunk := list(itertools.islice(made, CHUNK)):
        reqs = [sweep.fill(template, point, repeat) for repeat, point in chunk]
        columns = [
            {"campaign_id": campaign.id, "params": point, "campaign_repeat": repeat}
            for repeat, point in chunk
        ]
        for task in task_service.create_tasks(creator=actor, group=group, reqs=reqs, columns=columns):
            db.session.expunge(task)  # written: the session need not hold 100,000 of them until the commit
    return campaign


def _free_name(group: Group, program: str) -> str:
    """A name nobody in the group uses yet: the program's name and a random suffix (`iperf3-1a2b3c`)."""
    stem = _NOT_NAME.sub("-", os.path.basename(program)).strip(".-_")[:40] or "campaign"
    while True:
        name = f"{stem}-{secrets.token_hex(3)}"
        if _find(group, name) is None:
            return name


# ---------------------------------------------------------------- reads


def _find(group: Group, name: str) -> Campaign | None:
    return db.session.scalar(sa.select(Campaign).where(Campaign.group_id == group.id, Campaign.name == name))


def _require(actor: User, group_name: str, name: str, minimum: Role) -> Campaign:
    """The named campaign if the caller holds `minimum` in its group (reads: site admins exempt)."""
    group = access.require_group(group_name)
    access.require_role(actor, group, minimum, admin_exempt=minimum is Role.Read)
    campaign = _find(group, name)
    if campaign is None:
        raise NotFound(f"Campaign {name} not found in group {group_name}")
    return campaign


def get_campaign(*, actor: User, group_name: str, name: str) -> Campaign:
    """A campaign with its grid and task template (membership in its group; site admins exempt)."""
    return _require(actor, group_name, name, Role.Read)


def _cursor(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or len(text) > 18:
        raise InvalidRequest(f"Invalid cursor {text!r}: pass the next_cursor of the previous page")
    return int(text)


def list_campaigns(*, actor: User, group_name: str | None, limit: int, cursor: str | None) -> CampaignPage:
    """A group's campaigns, newest first, one keyset page (default group: the caller's personal one)."""
    group = access.require_group_role(actor, group_name, Role.Read, admin_exempt=True)
    after = _cursor(cursor)
    stmt = sa.select(Campaign).where(Campaign.group_id == group.id)
    if after is not None:
        stmt = stmt.where(Campaign.id < after)
    campaigns = list(db.session.scalars(stmt.order_by(Campaign.id.desc()).limit(limit + 1)))
    more = len(campaigns) > limit
    campaigns = campaigns[:limit]
    return CampaignPage(
        campaigns=campaigns,
        group_name=group.group_name,
        next_cursor=str(campaigns[-1].id) if more else None,
    )


def _msg() -> sa.ColumnElement[str]:
    return sa.func.coalesce(ArchivedTask.result["msg"].as_string(), "")


def _succeeded() -> sa.ColumnElement[bool]:
    return sa.and_(
        ArchivedTask.state == TaskState.Finished, sa.func.coalesce(ArchivedTask.exit_status, -1) == 0
    )


def _user_cancelled() -> sa.ColumnElement[bool]:
    return sa.and_(ArchivedTask.state == TaskState.Cancelled, _msg() == _USER_CANCELLATION)


def outcome_of(task: ActiveTask | ArchivedTask) -> PointOutcome | None:
    """How a committed task ended (None while it is active): the Python twin of the SQL above."""
    if not isinstance(task, ArchivedTask):
        return None
    result = task.result or {}
    if task.state is TaskState.Finished and task.exit_status == 0:
        return PointOutcome.Succeeded
    if task.state is TaskState.Cancelled and result.get("msg") == _USER_CANCELLATION:
        return PointOutcome.Cancelled
    return PointOutcome.Failed


def _failed(campaign: Campaign) -> list[sa.ColumnElement[bool]]:
    return [ArchivedTask.campaign_id == campaign.id, sa.not_(sa.or_(_succeeded(), _user_cancelled()))]


def status_counts(campaign: Campaign) -> sa.CompoundSelect[int, int, int | None, int]:
    """The one statement behind a status: (part, state, exit status, count) rows.

    Part 0: active tasks by state; part 1: archived tasks by state and exit status (both streamed from
    the indexes alone, in index order); part 2: archived tasks cancelled by their user (it reads the
    Cancelled rows only).
    """
    active, archived = ActiveTask, ArchivedTask
    return sa.union_all(
        sa.select(sa.literal(0), active.state, sa.null(), sa.func.count())
        .where(active.campaign_id == campaign.id)
        .group_by(active.state),
        sa.select(sa.literal(1), archived.state, archived.exit_status, sa.func.count())
        .where(archived.campaign_id == campaign.id)
        .group_by(archived.state, archived.exit_status),
        sa.select(sa.literal(2), archived.state, sa.null(), sa.func.count())
        .where(archived.campaign_id == campaign.id, _user_cancelled())
        .group_by(archived.state),
    )


def campaign_status(*, actor: User, group_name: str, name: str) -> CampaignStatus:
    """Task counts by state and outcome in one indexed statement, and the first failures."""
    campaign = _require(actor, group_name, name, Role.Read)
    counts: Counter[str] = Counter({state.name: 0 for state in TaskState if state is not TaskState.Unknown})
    succeeded = cancelled = committed = 0
    for part, state, exit_status, count in db.session.execute(status_counts(campaign)):
        if part == 2:
            cancelled += count
            continue
        counts[TaskState(state).name] += count
        if part == 1:
            committed += count
            succeeded += count if state == TaskState.Finished and exit_status == 0 else 0
    outcomes = {
        PointOutcome.Succeeded.value: succeeded,
        PointOutcome.Failed.value: committed - succeeded - cancelled,
        PointOutcome.Cancelled.value: cancelled,
    }
    failures = db.session.scalars(
        sa.select(ArchivedTask).where(*_failed(campaign)).order_by(ArchivedTask.id).limit(FAILURES_SHOWN)
    ).all()
    return CampaignStatus(campaign=campaign, counts=dict(counts), outcomes=outcomes, failures=list(failures))


def campaign_tasks(
    *, actor: User, group_name: str, name: str, limit: int, cursor: str | None
) -> CampaignTaskPage:
    """A campaign's tasks in submission order, one keyset page, with outcomes and result sizes."""
    campaign = _require(actor, group_name, name, Role.Read)
    after = _cursor(cursor)

    def part(model: type[ActiveTask] | type[ArchivedTask]) -> sa.Select[int, int]:
        # Each table's own first limit+1 ids (a range of its campaign index), then the union's first ones.
        archived = sa.literal(1 if model is ArchivedTask else 0)
        conditions = [model.campaign_id == campaign.id]
        if after is not None:
            conditions.append(model.id > after)
        head = sa.select(model.id, archived.label("archived")).where(*conditions)
        head_ids = head.order_by(model.id).limit(limit + 1).subquery()
        return sa.select(head_ids.c.id, head_ids.c.archived)

    union = sa.union_all(part(ActiveTask), part(ArchivedTask)).subquery()
    page = db.session.execute(
        sa.select(union.c.id, union.c.archived).order_by(union.c.id).limit(limit + 1)
    ).all()
    more = len(page) > limit
    page = page[:limit]
    tasks: dict[int, ActiveTask | ArchivedTask] = {}
    tasks.update(_load(ActiveTask, [i for i, archived in page if not archived]))
    tasks.update(_load(ArchivedTask, [i for i, archived in page if archived]))
    ordered = [tasks[i] for i, _ in page if i in tasks]
    results = sa.select(Artifact.task_uuid, Artifact.size).where(
        Artifact.task_uuid.in_([t.uuid for t in ordered]),
        Artifact.content_type == ArtifactContentType.Result,
        Artifact.current.is_(True),
    )
    sizes = {task_uuid: size for task_uuid, size in db.session.execute(results)}
    rows = [CampaignTask(task=t, outcome=outcome_of(t), result_size=sizes.get(t.uuid)) for t in ordered]
    return CampaignTaskPage(tasks=rows, next_cursor=str(page[-1][0]) if more else None)


def _load(model: type[_T], ids: Sequence[int]) -> dict[int, _T]:
    if not ids:
        return {}
    return {t.id: t for t in db.session.scalars(sa.select(model).where(model.id.in_(ids)))}


# ---------------------------------------------------------------- changes


@db.transactional
def cancel_campaign(*, actor: User, group_name: str, name: str) -> CampaignChange:
    """Cancel every Pending, Ready or Running task of the campaign (Write or Admin in its group)."""
    campaign = _require(actor, group_name, name, Role.Write)
    cancellable = lifecycle.sources(Event.UserCancel)
    tasks = lifecycle.lock_tasks(ActiveTask.campaign_id == campaign.id, ActiveTask.state.in_(cancellable))
    for task in tasks:
        lifecycle.apply(task, Event.UserCancel)
    return CampaignChange(name=campaign.name, group_name=group_name, count=len(tasks))


@db.transactional
def retry_campaign(
    *, actor: User, group_name: str, name: str, failed: bool = True, cancelled: bool = False
) -> CampaignChange:
    """Re-run the campaign's failed (and/or user-cancelled) committed tasks (Write or Admin in its group)."""
    campaign = _require(actor, group_name, name, Role.Write)
    outcomes = [*([sa.not_(sa.or_(_succeeded(), _user_cancelled()))] if failed else []),
                *([_user_cancelled()] if cancelled else [])]  # fmt: skip
    tasks = rerun.rerun_where(ArchivedTask.campaign_id == campaign.id, sa.or_(*outcomes))
    return CampaignChange(name=campaign.name, group_name=group_name, count=len(tasks))
