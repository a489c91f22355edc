"""The statements that archive a task: a plain commit's (lifecycle_sql.commit_core, which alone runs them) and
the archive of a task loaded through the ORM (`archive_values`, run by lifecycle's archiving rows).

Split from lifecycle.py along the statement text only: which transition applies, its counters and what the
session is told stay there. Built once per (dialect, first attempt or not), with bound parameters: tid, tu,
n (the task's id, uuid and attempt), now, archived_state, result, xs (its exit status), msg,
end (why the attempt ended), ru (the reporter's uuid) and w (its worker's id: the worker lets go of the
task in the same statement, unless the caller claims its next task next: `release=False`, one write of
the worker's row per chained commit, the claim's). The archived row copies the task's columns from the row
the statement deletes (nothing of it is read into Python).
"""

from __future__ import annotations

from typing import Any, Final, cast

import sqlalchemy as sa

from app.models import ActiveTask, ArchivedTask, Artifact, TaskAttempt, Worker
from app.prepared import prepared

# The columns an archived task keeps from its active row (lifecycle's archive and rerun copy the same).
COPIED: Final = (
    "id", "creator_id", "group_id", "task_id", "uuid", "tags", "labels", "timeout", "priority", "spec",
    "upstream_task_uuid", "downstream_task_uuid", "lost_count", "created_at",
    "campaign_id", "params", "campaign_repeat", "retry_policy", "retry_count",
)  # fmt: skip

_statements: dict[tuple[str, bool, bool], tuple[sa.Executable, ...]] = {}


def statements(dialect: str, *, first_attempt: bool, release: bool = True) -> tuple[sa.Executable, ...]:
    """The archiving commit's statements for a dialect: one on PostgreSQL, two to four on SQLite. Without
    `release` the worker's row is not written (its caller's claim, or `release_statement`, writes it)."""
    key = (dialect, first_attempt, release)
    if key not in _statements:
        postgres = dialect == "postgresql"
        _statements[key] = _build(postgres=postgres, first_attempt=first_attempt, release=release)
    return _statements[key]


def _release() -> sa.Update:
    workers = cast(sa.Table, Worker.__table__)
    return (
        sa.update(workers)
        .where(workers.c.id == sa.bindparam("w"))
        .values(assigned_task_id=None, updated_at=sa.bindparam("now", type_=workers.c.updated_at.type))
    )


RELEASE: Final = _release()  # the worker lets go of its task (bound: w, now)


def _build(*, postgres: bool, first_attempt: bool, release: bool) -> tuple[sa.Executable, ...]:
    active = cast(sa.Table, ActiveTask.__table__)
    archived = cast(sa.Table, ArchivedTask.__table__)
    tried = cast(sa.Table, TaskAttempt.__table__)
    shown = cast(sa.Table, Artifact.__table__)
    now = sa.bindparam("now", type_=archived.c.updated_at.type)
    task_uuid = sa.bindparam("tu", type_=tried.c.task_uuid.type)
    number = sa.bindparam("n", type_=tried.c.number.type)
    closed = (
        sa.update(tried)
        .where(tried.c.task_uuid == task_uuid, tried.c.number == number, tried.c.ended_at.is_(None))
        .values(
            ended_at=now,
            end=sa.bindparam("end", type_=tried.c.end.type),
            exit_status=sa.bindparam("xs", type_=tried.c.exit_status.type),
            msg=sa.bindparam("msg", type_=tried.c.msg.type),
        )
    )
    # attempts.show_committed_artifacts: an earlier attempt's current artifacts step back.
    fenced = (
        sa.update(shown)
        .where(
            shown.c.task_uuid == task_uuid,
            shown.c.current.is_(True),
            shown.c.attempt > 0,
            shown.c.attempt != number,
        )
        .values(current=False)
    )
    written = {
        # not named "state": the statement's UPDATE of workers would take a parameter of a column's name
        # as one more column to set (SQLAlchemy's DML compiles the execution's keys into SET)
        "state": sa.bindparam("archived_state", type_=archived.c.state.type),
        "result": sa.bindparam("result", type_=archived.c.result.type),
        "exit_status": sa.bindparam("xs", type_=archived.c.exit_status.type),
        "reporter_uuid": sa.bindparam("ru", type_=archived.c.reporter_uuid.type),
        "updated_at": now,
    }
    # _commit's "the worker lets go of the task" (a claim in the same transaction gives it the next).
    released = [RELEASE] if release else []
    delete = sa.delete(active).where(active.c.id == sa.bindparam("tid"))
    names = [*COPIED, *written]
    if not postgres:  # no DELETE in a CTE: copy, then delete (writers are serialised)
        copy = sa.select(*(active.c[c] for c in COPIED), *written.values()).where(
            active.c.id == sa.bindparam("tid")
        )
        archive = sa.insert(archived).from_select(names, copy)
        return (archive, delete, closed, *released) + (() if first_attempt else (fenced,))
    gone = delete.returning(*(active.c[c] for c in COPIED)).cte("gone")
    archive = sa.insert(archived).from_select(
        names, sa.select(*(gone.c[c] for c in COPIED), *written.values())
    )
    ctes = [gone, closed.cte("closed"), *(r.cte("released") for r in released)]
    ctes += [] if first_attempt else [fenced.cte("fenced")]
    return (prepared(archive.add_cte(*ctes)),)


def archive_values(dialect: str, task_id: int, values: dict[str, Any]) -> tuple[sa.Executable, ...]:
    """The archive of a task loaded through the ORM (lifecycle._archive), its archived row's `values`
    given: on PostgreSQL one INSERT ... SELECT from a DELETE ... RETURNING CTE (archived only if it was
    still there to delete), on SQLite a DELETE and an INSERT (no DELETE in a CTE)."""
    active, archived = cast(sa.Table, ActiveTask.__table__), cast(sa.Table, ArchivedTask.__table__)
    delete = sa.delete(active).where(active.c.id == task_id)
    if dialect != "postgresql":
        return delete, sa.insert(archived).values(values)
    gone = delete.returning(active.c.id).cte("gone")
    row = sa.select(*(sa.bindparam(f"a_{k}", v, type_=archived.c[k].type) for k, v in values.items()))
    return (sa.insert(archived).from_select(list(values), row.select_from(gone)).add_cte(gone),)
