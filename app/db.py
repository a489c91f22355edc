"""Engine, scoped session, declarative Base, column types that work on PostgreSQL and SQLite, @transactional."""

from __future__ import annotations

import enum
import functools
import json
import os
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, scoped_session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


SessionFactory = sessionmaker(expire_on_commit=False)
session = scoped_session(SessionFactory)
_engines: dict[tuple[int, str], sa.Engine] = {}
_engines_lock = threading.Lock()


def get_engine(url: str) -> sa.Engine:
    """One engine per URL per process; SQLite gets WAL, a busy timeout and explicit BEGIN IMMEDIATE."""
    # Keyed by pid: a forked gunicorn worker must not reuse the pooled connections of its parent (two
    # processes on one libpq socket fail with "error with status PGRES_TUPLES_OK and no message").
    key = (os.getpid(), url)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _make_engine(url)
            _engines[key] = engine
        return engine


def _make_engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _record):  # pragma: no cover - exercised on SQLite runs
            # Let SQLAlchemy, not pysqlite, decide when transactions begin, so that every write
            # transaction takes the database lock up front and claims cannot deadlock on upgrade.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover - exercised on SQLite runs
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def bind(url: str) -> sa.Engine:
    """Bind the scoped session to the engine for `url` (called by create_app and by job/agent entry points)."""
    engine = get_engine(url)
    session.remove()
    SessionFactory.configure(bind=engine)
    return engine


def dispose_engines() -> None:
    """Close every pooled connection of this process (before forking: children must not share sockets)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()


def is_postgres() -> bool:
    return session.get_bind().dialect.name == "postgresql"


# ---------------------------------------------------------------- transactions

F = TypeVar("F", bound=Callable[..., Any])
_state = threading.local()


def transactional(fn: F) -> F:
    """Run a service function in one transaction: commit once at the outermost level, roll back on error.

    Nested calls join the outer transaction. Callbacks registered with `after_commit` run once the
    outermost commit succeeded (used to enqueue Celery jobs only for committed data).
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        depth = getattr(_state, "depth", 0)
        if depth == 0:
            _state.after_commit = []
        _state.depth = depth + 1
        try:
            result = fn(*args, **kwargs)
            if depth == 0:
                session.commit()
        except BaseException:
            if depth == 0:
                session.rollback()
                _state.after_commit = []
            raise
        finally:
            _state.depth = depth
        if depth == 0:
            callbacks, _state.after_commit = _state.after_commit, []
            for callback in callbacks:
                callback()
        return result

    return wrapper  # type: ignore[return-value]


def after_commit(callback: Callable[[], Any]) -> None:
    """Run `callback` after the current @transactional commits (immediately if there is none)."""
    if getattr(_state, "depth", 0) == 0:
        callback()
    else:
        _state.after_commit.append(callback)


# ---------------------------------------------------------------- column types


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware datetimes in UTC on every backend (SQLite drops the offset otherwise)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        if value is not None and dialect.name == "sqlite":
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None


class StringSet(TypeDecorator):
    """A set of strings: text[] on PostgreSQL (GIN-indexed containment), a JSON array on SQLite; kept sorted."""

    impl = sa.JSON
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(sa.Text()))
        return dialect.type_descriptor(sa.JSON())

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return sorted(set(value))

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            value = json.loads(value)
        return list(value)


E = TypeVar("E", bound=enum.IntEnum)


class IntEnumType(TypeDecorator):
    """An IntEnum stored as its integer value (orderable: roles compare with >=)."""

    impl = sa.SmallInteger
    cache_ok = True

    def __init__(self, enum_cls: type[enum.IntEnum], *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.enum_cls = enum_cls

    def process_bind_param(self, value, dialect):
        return None if value is None else int(value)

    def process_result_value(self, value, dialect):
        return None if value is None else self.enum_cls(value)


def contains_all(column, values: Iterable[str]):
    """SQL condition: the StringSet `column` contains every one of `values`."""
    values = sorted(set(values))
    if not values:
        return sa.true()
    if is_postgres():
        return column.op("@>")(sa.cast(values, postgresql.ARRAY(sa.Text())))
    conds = []
    for v in values:
        each = sa.func.json_each(column).table_valued("value")
        conds.append(sa.exists(sa.select(sa.literal(1)).select_from(each).where(each.c.value == v)))
    return sa.and_(*conds)
