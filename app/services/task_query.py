"""Task queries: one newest-first result set over active and archived tasks, index-driven at any size.

Order: created_at DESC, then id DESC (ids are shared by the two tables: an archived task keeps its id).
Each table is read in that order from an index, never sorted whole: `ix_<table>_group_created`
(group_id, created_at, id), or with a states filter one range of `ix_<table>_group_state_created`
(group_id, state, created_at, id) per state. Every such part yields at most the rows the page needs, and
the parts are merged; a first page at a million stored tasks reads a few dozen index entries. The parts
are read in one statement (a UNION ALL of each part's bounded walk), which for pages up to _WHOLE_UP_TO
reads what the page shows of each row too (with the creator's and the campaign's names); larger pages
read positions first and the page's rows from both tables in one more statement. With the token's user
and the group with the caller's role, a first page is 3 statements whatever the filter. The statements
are built once per shape of the filter (_Shape: which filters, their operators, the states, a cursor)
on bound parameters, and each request executes them with its own values (no SQL built per request).

The other filters (tags, labels, priority, creators, exit status) are checked on the rows as the part walks
its index, which finds a page quickly when the filter matches often. When it matches seldom, a walk could
read the whole table to find none, so a part walks only a bounded window (the newest WINDOW x the rows it
needs, at least WINDOW_MIN). If that holds too few matches, tags and labels take every match through their
own index (GIN) and sort those; filters without an index of their own walk on. The window is a subquery
of the part's statement (the index walk bounded by a LIMIT, read only as far as the part's matches need);
only a part that found too few matches in its window costs more statements (the window's end, then the
fallback).

Pages: `limit` is at most QUERY_LIMIT_MAX (400 above it); without a limit a page holds QUERY_LIMIT_MAX
tasks, so no request builds an unbounded response. Deep pages use the opaque `cursor` (extension): the
position (created_at, id) of the last task returned, from `next_cursor`, present while more tasks follow.
`offset` keeps working (and combines with the cursor), at the cost of reading the skipped rows.

`count` ignores limit, offset and cursor. Filtered by group (and states) only, it sums the task counters
the lifecycle keeps (metrics.py, exact and transactional). With any other filter there is no counter to
read, and counting every match costs a read per match (a tag shared by 1 in 7 of a million tasks: 140k
rows), so each part (table, state) counts at most COUNT_EXACT_MAX + 1 matches, all parts in one
statement: when no part reaches past COUNT_EXACT_MAX the sum is exact; otherwise the answer is `count` =
COUNT_EXACT_MAX and `exact: false` (extension; absent when exact), meaning "at least that many". An
exit status `!=N` counts as the two index ranges `<N` and `>N`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import orm

from app import db
from app.db import UTCDateTime
from app.errors import InvalidRequest
from app.models import ActiveTask, ArchivedTask, Campaign, Role, TaskCount, TaskState, User
from app.models.group import Group
from app.prepared import prepared
from app.services import access, lifecycle
from app.services.task import Filters, parse_number_filter
from mito.vocab.queries import QUERY_LIMIT_MAX

WINDOW, WINDOW_MIN = 20, 2000
# Pages deeper than this are merged by the database (bounded memory here), without a window.
_PROBED_UP_TO = 2 * QUERY_LIMIT_MAX + 1
# Up to this many rows a page's parts read the rows whole (one statement for heads and rows; each part
# reads up to `wanted` rows, most of which a larger page would throw away); larger pages read heads first.
_WHOLE_UP_TO = 101
# A count with filters beyond group and states is exact below this; at it, `exact` is false ("at least").
COUNT_EXACT_MAX = QUERY_LIMIT_MAX
# The states an archived task can hold (the targets of the lifecycle's archiving rows): a states filter
# without any of them skips archived_tasks.
_ARCHIVED_STATES = frozenset(row.target for row in lifecycle.TRANSITIONS if row.archive)
TaskModel = type[ActiveTask] | type[ArchivedTask]
Params = dict[str, Any]  # the values a query's statements bind (_shape)
_Count = int | sa.BindParameter[int]  # a LIMIT or OFFSET: a number, or bound at execution


@dataclass(frozen=True)
class TaskPage:
    """TasksQueryResp: one page of tasks (or only their count) in one group; next_cursor (extension)."""

    count: int
    tasks: list[TaskRow]
    group_name: str
    next_cursor: str | None = None
    exact: bool = True


@dataclass(frozen=True, slots=True)
class TaskRow:
    """What a page shows of a task (TaskQueryInfo): read with Core in the page's one row statement."""

    id: int
    uuid: Any
    task_id: int
    tags: list[str]
    labels: list[str]
    created_at: datetime
    updated_at: datetime
    state: TaskState
    timeout: int
    priority: int
    spec: dict[str, Any]
    result: dict[str, Any] | None
    upstream_task_uuid: Any
    downstream_task_uuid: Any
    retry_policy: dict[str, Any] | None
    retry_count: int
    reporter_uuid: Any
    creator_username: str
    group_name: str
    campaign_point: dict[str, Any] | None


class Position(NamedTuple):
    """Where a task sits in the query order."""

    created_at: datetime
    id: int


class _Head(NamedTuple):
    created_at: datetime
    id: int
    archived: bool


@dataclass(frozen=True)
class _Part:
    """One index-ordered stream: a table, maybe one state, the other filters and the cursor."""

    model: TaskModel
    base: list[sa.ColumnElement[bool]]  # matched by the ordered index itself
    residual: list[sa.ColumnElement[bool]]  # checked row by row
    own_index: bool  # the residual has an index of its own (tags, labels: GIN)
    shape: _Shape  # the residual's filters (`windowed` checks them on its window's rows)

    def ordered(self, wanted: _Count, *more: sa.ColumnElement[bool], whole: bool = False) -> sa.Select[Any]:
        """The part's first `wanted` rows, walking the ordered index (`whole`: what a page shows of them)."""
        m = self.model
        return (
            sa.select(*(_table_row_columns(m) if whole else (m.created_at, m.id, _archived(m))))
            .where(*self.base, *more, *self.residual)
            .order_by(m.created_at.desc(), m.id.desc())
            .limit(wanted)
        )

    def windowed(self, wanted: _Count, size: _Count, *, whole: bool = False) -> sa.Select[Any]:
        """The part's first `wanted` matches among the `size` newest rows of its index range (all of a
        shorter range): the window is a LIMIT-bounded walk of the index, read lazily, so the part stops
        at its `wanted`-th match and has no window end to find first."""
        m = self.model
        window = sa.select(m).where(*self.base).order_by(m.created_at.desc(), m.id.desc()).limit(size)
        row = orm.aliased(m, window.subquery())
        return (
            sa.select(*(_row_columns(m, row) if whole else (row.created_at, row.id, _archived(m))))
            .where(*_residual(row, self.shape))
            .order_by(row.created_at.desc(), row.id.desc())
            .limit(wanted)
        )

    def window_end(self, size: int, params: Params) -> Position | None:
        """The position of the size-th row of the index range (None: the range is shorter)."""
        m = self.model
        stmt = sa.select(m.created_at, m.id).where(*self.base).order_by(m.created_at.desc(), m.id.desc())
        row = db.session.execute(stmt.offset(size - 1).limit(1), params).first()
        return None if row is None else Position(row[0], row[1])

    def by_filter(self, wanted: int) -> sa.Select[Any]:
        """Every match through the filter's own index (OFFSET 0 keeps the planner off the ordered walk)."""
        m = self.model
        matches = sa.select(m.created_at, m.id).where(*self.base, *self.residual).offset(0).subquery()
        return (
            sa.select(matches.c.created_at, matches.c.id, _archived(m))
            .order_by(matches.c.created_at.desc(), matches.c.id.desc())
            .limit(wanted)
        )


def _archived(model: TaskModel) -> sa.Label[Any]:
    return sa.literal(model is ArchivedTask).label("archived")


# ---------------------------------------------------------------- cursor


def encode_cursor(task: TaskRow) -> str:
    """The opaque cursor of the position after `task`."""
    raw = json.dumps([task.created_at.isoformat(), task.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> Position:
    """The position an encode_cursor() string names; 400 for anything else."""
    try:
        at, task_id = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        position = Position(datetime.fromisoformat(at), int(task_id))
    except (binascii.Error, ValueError, TypeError) as err:
        raise InvalidRequest("Invalid cursor: pass the next_cursor of a previous page") from err
    if position.created_at.tzinfo is None or isinstance(task_id, bool) or not isinstance(task_id, int):
        raise InvalidRequest("Invalid cursor: pass the next_cursor of a previous page")
    return position


# ---------------------------------------------------------------- the query


def query_tasks(*, actor: User, filters: Filters) -> TaskPage:
    """One page of the group's tasks matching the filter, newest first (or only their count)."""
    group = access.require_group_role(actor, filters.get("group_name"), Role.Read, admin_exempt=True)
    after = decode_cursor(filters["cursor"]) if filters.get("cursor") else None
    shape, params = _shape(group, filters, after)
    if filters.get("count"):
        count, exact = _count(shape, filters, params)
        return TaskPage(count=count, tasks=[], group_name=group.group_name, exact=exact)
    limit = QUERY_LIMIT_MAX if filters.get("limit") is None else filters["limit"]
    offset = filters.get("offset") or 0
    wanted = offset + limit + 1  # one more than the page: is there a next one?
    read: dict[tuple[bool, int], sa.Row[Any]] = {}
    if wanted <= _PROBED_UP_TO:
        heads = _merged(shape, params, wanted, read if wanted <= _WHOLE_UP_TO else None)
    else:
        heads = _merged_by_db(_parts(shape), params, wanted, offset)
    page = heads[offset : offset + limit] if wanted <= _PROBED_UP_TO else heads[:limit]
    more = len(heads) > (offset + limit if wanted <= _PROBED_UP_TO else limit)
    tasks = _load(page, group, read)
    cursor = encode_cursor(tasks[-1]) if more and tasks else None
    return TaskPage(count=len(tasks), tasks=tasks, group_name=group.group_name, next_cursor=cursor)


class _Shape(NamedTuple):
    """What a query's statements depend on besides their bound values: requests of one shape execute the
    same statement objects (built once, _parts and _walks), so SQLAlchemy finds their compiled form by a
    memoized cache key and this process builds no SQL per request."""

    postgres: bool
    archived_only: bool  # an exit status or reporter filter: only archived tasks have them
    states: tuple[TaskState, ...]  # () for any state
    cursor: bool
    creators: bool
    tags: bool
    labels: bool
    priority: str | None  # the comparison's method name; the number is bound
    exit_status: str | None
    reporter: bool


def _shape(group: Group, filters: Filters, after: Position | None) -> tuple[_Shape, Params]:
    """The query's shape and the values its statements bind (400 for a malformed number filter)."""
    params: Params = {"group_id": group.id}
    numbers: dict[str, str | None] = {}
    for name in ("priority", "exit_status"):
        numbers[name] = None
        if filters.get(name) is not None:
            numbers[name], params[name] = parse_number_filter(filters[name])
    for name in ("tags", "labels"):
        if filters.get(name):
            params.update(db.contains_all_params(name, filters[name]))
    if filters.get("creator_usernames"):
        params["creators"] = list(filters["creator_usernames"])
    if filters.get("reporter_uuid") is not None:
        params["reporter"] = filters["reporter_uuid"]
    if after is not None:
        params["after_at"], params["after_id"] = after
    shape = _Shape(
        postgres=db.is_postgres(),
        archived_only=numbers["exit_status"] is not None or "reporter" in params,
        states=tuple(sorted(set(filters.get("states") or ()), key=lambda state: state.value)),
        cursor=after is not None,
        creators="creators" in params,
        tags="tags" in params,
        labels="labels" in params,
        priority=numbers["priority"],
        exit_status=numbers["exit_status"],
        reporter="reporter" in params,
    )
    return shape, params


@functools.lru_cache(maxsize=256)
def _parts(shape: _Shape) -> tuple[_Part, ...]:
    """The index-ordered streams of a shape, their conditions on bound values (see _shape)."""
    models: list[TaskModel] = [ArchivedTask] if shape.archived_only else [ActiveTask, ArchivedTask]
    parts = []
    for model in models:
        residual = _residual(model, shape)
        for state in shape.states or (None,):
            if model is ArchivedTask and state is not None and state not in _ARCHIVED_STATES:
                continue
            base = [model.group_id == sa.bindparam("group_id")]
            if state is not None:
                base.append(model.state == state)
            if shape.cursor:
                after = sa.tuple_(sa.bindparam("after_at", type_=UTCDateTime()), sa.bindparam("after_id"))
                base.append(sa.tuple_(model.created_at, model.id) < after)
            parts.append(_Part(model, base, residual, shape.tags or shape.labels, shape))
    return tuple(parts)


def _residual(model: Any, shape: _Shape) -> list[sa.ColumnElement[bool]]:
    """The conditions a part checks row by row: filter_conditions' (task.py), on bound values; `model` is
    a task table's class or an alias of it (a window's rows)."""
    conds: list[sa.ColumnElement[bool]] = []
    if shape.creators:
        creators = sa.select(User.id).where(User.username.in_(sa.bindparam("creators", expanding=True)))
        conds.append(model.creator_id.in_(creators))
    for name in ("tags", "labels"):
        if getattr(shape, name):
            conds.append(db.contains_all_bound(getattr(model, name), name, postgres=shape.postgres))
    if shape.priority is not None:
        conds.append(getattr(model.priority, shape.priority)(sa.bindparam("priority")))
    if shape.exit_status is not None:
        conds.append(getattr(model.exit_status, shape.exit_status)(sa.bindparam("exit_status")))
    if shape.reporter:
        conds.append(model.reporter_uuid == sa.bindparam("reporter", type_=sa.Uuid()))
    return conds


def _merged(
    shape: _Shape, params: Params, wanted: int, read: dict[tuple[bool, int], sa.Row[Any]] | None
) -> list[_Head]:
    """The first `wanted` rows of the union: every part's bounded walk in one statement, merged here; a
    part that found fewer than `wanted` in its window is completed on its own (_part_rest). With `read`,
    the walks read what a page shows of each row, kept there by (archived, id)."""
    parts = _parts(shape)
    if not parts:
        return []
    size = max(WINDOW * wanted, WINDOW_MIN)
    found: list[list[_Head]] = [[] for _ in parts]
    values = {**params, "wanted": wanted, "window": size}
    for row in db.session.execute(_walks(shape, read is not None), values):
        head = _Head(row.created_at, row.id, bool(row.archived))
        found[row.part].append(head)
        if read is not None:
            read[(head.archived, head.id)] = row
    heads: list[_Head] = []
    for part, rows in zip(parts, found, strict=True):
        complete = len(rows) == wanted or not part.residual
        heads.extend(rows if complete else _part_rest(part, params, wanted, rows))
    heads.sort(key=lambda h: (h.created_at, h.id), reverse=True)
    return heads[:wanted]


@functools.lru_cache(maxsize=256)
def _walks(shape: _Shape, whole: bool) -> sa.Executable:
    """Every part's bounded walk, in one statement (`wanted` and the window's size `window` bound)."""
    wanted: sa.BindParameter[int] = sa.bindparam("wanted", type_=sa.Integer())
    size: sa.BindParameter[int] = sa.bindparam("window", type_=sa.Integer())
    selects = [
        sa.select(
            (part.windowed(wanted, size, whole=whole) if part.residual else part.ordered(wanted, whole=whole))
            .add_columns(sa.literal(number).label("part"))
            .subquery()
        )
        for number, part in enumerate(_parts(shape))
    ]
    walks = sa.union_all(*selects) if len(selects) > 1 else selects[0]
    return prepared(walks) if shape.postgres else walks


def _part_rest(part: _Part, params: Params, wanted: int, rows: list[_Head]) -> list[_Head]:
    """Too few matches in the part's window: complete if the window was its whole range; else take the
    matches through their own index, or walk on."""
    if part.window_end(max(WINDOW * wanted, WINDOW_MIN), params) is None:
        return rows
    return _rows(part.by_filter(wanted) if part.own_index else part.ordered(wanted), params)


def _merged_by_db(parts: Sequence[_Part], params: Params, wanted: int, offset: int) -> list[_Head]:
    """A deep page: the database merges the parts and skips `offset` rows; only the page comes back."""
    if not parts:
        return []
    selects = [sa.select(part.ordered(wanted).subquery()) for part in parts]
    union = sa.union_all(*selects).subquery() if len(selects) > 1 else selects[0].subquery()
    c = union.c
    stmt = (
        sa.select(c.created_at, c.id, c.archived)
        .order_by(c.created_at.desc(), c.id.desc())
        .offset(offset)
        .limit(wanted - offset)
    )
    return _rows(stmt, params)


def _rows(stmt: sa.Select[Any], params: Params) -> list[_Head]:
    return [_Head(at, i, bool(archived)) for at, i, archived in db.session.execute(stmt, params)]


_ROW_COLUMNS = (
    "id", "uuid", "task_id", "tags", "labels", "created_at", "updated_at", "state", "timeout", "priority",
    "spec", "result", "upstream_task_uuid", "downstream_task_uuid", "retry_policy", "retry_count",
    "campaign_id", "params", "campaign_repeat",
)  # fmt: skip


@functools.cache
def _table_row_columns(model: TaskModel) -> tuple[Any, ...]:
    """_row_columns of the table itself, built once per table: SQL elements are immutable, and one reused
    keeps its memoized cache key (less Python per request)."""
    return _row_columns(model, model)


def _row_columns(model: TaskModel, rows: Any) -> tuple[Any, ...]:
    """What a page shows of a task (TaskRow) of `model`'s table, read from `rows` (the table, or an alias
    of it: a window), with the creator's and the campaign's names as subqueries (evaluated for the rows
    returned only, so a part's walk keeps its plan)."""
    reporter = rows.reporter_uuid if model is ArchivedTask else sa.cast(sa.null(), sa.Uuid)
    username = sa.select(User.username).where(User.id == rows.creator_id).scalar_subquery()
    campaign = sa.select(Campaign.name).where(Campaign.id == rows.campaign_id).scalar_subquery()
    return (
        *(getattr(rows, name) for name in _ROW_COLUMNS),
        reporter.label("reporter_uuid"),
        _archived(model),
        username.label("username"),
        campaign.label("campaign_name"),
    )


def _load(page: Sequence[_Head], group: Group, read: dict[tuple[bool, int], sa.Row[Any]]) -> list[TaskRow]:
    """The page's rows: those its walks read already, the others from both tables in one statement."""
    selects = []
    for model in (ArchivedTask, ActiveTask):
        ids = [h.id for h in page if h.archived == (model is ArchivedTask) and (h.archived, h.id) not in read]
        if ids:
            selects.append(sa.select(*_table_row_columns(model)).where(model.id.in_(ids)))
    rows = dict(read)
    if selects:
        stmt = sa.union_all(*selects) if len(selects) > 1 else selects[0]
        rows.update({(bool(r.archived), r.id): r for r in db.session.execute(stmt)})
    return [_task_row(rows[(h.archived, h.id)], group) for h in page if (h.archived, h.id) in rows]


def _task_row(r: sa.Row[Any], group: Group) -> TaskRow:
    campaign = None
    if r.campaign_id is not None and r.campaign_name is not None:
        campaign = {"name": r.campaign_name, "params": r.params or {}, "repeat": r.campaign_repeat}
    return TaskRow(
        id=r.id, uuid=r.uuid, task_id=r.task_id, tags=r.tags, labels=r.labels, created_at=r.created_at,
        updated_at=r.updated_at, state=TaskState(r.state), timeout=r.timeout, priority=r.priority,
        spec=r.spec, result=r.result, upstream_task_uuid=r.upstream_task_uuid,
        downstream_task_uuid=r.downstream_task_uuid, retry_policy=r.retry_policy,
        retry_count=r.retry_count, reporter_uuid=r.reporter_uuid, creator_username=r.username,
        group_name=group.group_name, campaign_point=campaign,
    )  # fmt: skip


# ---------------------------------------------------------------- count

_COUNTED_BY_GROUP_AND_STATE = {"group_name", "states", "count", "limit", "offset", "cursor"}


def _count(shape: _Shape, filters: Filters, params: Params) -> tuple[int, bool]:
    """How many tasks match (limit, offset and cursor ignored), and whether that is exact."""
    if all(v is None or k in _COUNTED_BY_GROUP_AND_STATE for k, v in filters.items()):
        stmt = sa.select(sa.func.coalesce(sa.func.sum(TaskCount.count), 0)).where(
            TaskCount.group_id == params["group_id"]
        )
        if filters.get("states"):
            stmt = stmt.where(TaskCount.state.in_(filters["states"]))
        return int(db.session.scalar(stmt) or 0), True
    counts = []
    for part in _count_parts(shape._replace(cursor=False)):
        capped = sa.select(part.model.id).where(*part.base, *part.residual).limit(COUNT_EXACT_MAX + 1)
        counts.append(sa.select(sa.func.count()).select_from(capped.subquery()).scalar_subquery())
    if not counts:
        return 0, True
    parts = [int(n) for n in db.session.execute(sa.select(*counts), params).one()]
    if any(n > COUNT_EXACT_MAX for n in parts):
        return COUNT_EXACT_MAX, False  # at least this many
    return sum(parts), True


def _count_parts(shape: _Shape) -> list[_Part]:
    """The parts to count; an exit status `!=N` as its two index ranges `<N` and `>N` (one bound N)."""
    if shape.exit_status == "__ne__":
        ranges = [shape._replace(exit_status="__lt__"), shape._replace(exit_status="__gt__")]
        return [part for each in ranges for part in _parts(each)]
    return list(_parts(shape))
