"""Engine, scoped session, declarative Base, column types for PostgreSQL and SQLite, @transactional."""

from __future__ import annotations

import enum
import functools
import json
import os
import select
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, QueryableAttribute, scoped_session, sessionmaker
from sqlalchemy.types import TypeDecorator

from app import prepared

if TYPE_CHECKING:
    from flask import Flask

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
    """One engine per URL per process; SQLite gets WAL, a busy timeout and BEGIN IMMEDIATE for writes."""
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
        def _sqlite_connect(
            dbapi_conn: Any, _record: Any
        ) -> None:  # pragma: no cover - exercised on SQLite runs
            # Let SQLAlchemy, not pysqlite, decide when transactions begin, so that every write
            # transaction takes the database lock up front and claims cannot deadlock on upgrade.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: sa.Connection) -> None:  # pragma: no cover - exercised on SQLite runs
            # A request's read (no @transactional open) begins DEFERRED: in WAL it takes no lock, so a
            # slow query never stalls writers and readers never wait for the write lock. Outside
            # requests (jobs, scripts, tests) every transaction still begins IMMEDIATE.
            writing = getattr(_state, "depth", 0) > 0 or not getattr(_state, "in_request", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN DEFERRED")
            conn.info[_READ_ONLY] = not writing

        return engine
    engine = sa.create_engine(url, pool_size=10, max_overflow=20, pool_recycle=POOL_RECYCLE_S)
    event.listen(engine, "checkout", _drop_closed)
    prepared.install(engine)  # the hot path's statements, marked by prepared.prepared

    @event.listens_for(engine, "checkout")
    def _autocommit_reads(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        # Within `reads_in_autocommit`, a connection taken outside @transactional reads in autocommit
        # (no BEGIN, no ROLLBACK); @transactional's own connection, taken after, begins as usual.
        reading = getattr(_state, "autocommit_reads", False) and getattr(_state, "depth", 0) == 0
        record.info[_READ_ONLY] = reading
        if reading:
            engine.dialect.set_isolation_level(dbapi_conn, "AUTOCOMMIT")

    @event.listens_for(engine, "checkin")
    def _transactions_again(dbapi_conn: Any, record: Any) -> None:
        if dbapi_conn is not None and record.info.pop(_READ_ONLY, False):
            engine.dialect.reset_isolation_level(dbapi_conn)

    return engine


# No per-checkout ping (pool_pre_ping is a round trip on every request). Instead, SQLAlchemy's documented
# mechanisms: a checked-out connection the server has closed is replaced before use (`_drop_closed`), a
# connection older than POOL_RECYCLE_S is reopened, and a disconnect error met mid-transaction
# invalidates the whole pool (SQLAlchemy's default), so a restarted PostgreSQL costs at most the
# request that was talking to it then.
POOL_RECYCLE_S = 1800


def _drop_closed(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """Pool checkout: DisconnectionError (the pool then opens a fresh connection) when the server closed
    this one while it was idle in the pool (backend terminated, PostgreSQL restarted).

    No round trip: an idle connection has nothing to read unless the server sent its goodbye (an error
    message, then EOF), so a readable socket means a dead connection; `poll` with timeout 0 asks the
    kernel. A connection kept for LISTEN would also be readable: it is merely reopened.
    """
    if dbapi_conn.closed:
        raise sa.exc.DisconnectionError("the connection is closed")
    poller = select.poll()
    poller.register(dbapi_conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    if poller.poll(0):
        raise sa.exc.DisconnectionError("the server closed the connection while it was idle")


def bind(url: str) -> sa.Engine:
    """Bind the scoped session to the engine for `url` (called by create_app and by job entry points)."""
    engine = get_engine(url)
    session.remove()
    SessionFactory.configure(bind=engine)
    return engine


def init_app(app: Flask) -> None:
    """Within a request, reads are the read-only flavour: DEFERRED on SQLite (see `transactional`)."""

    def reads_deferred() -> None:
        _state.in_request = True

    def request_done(_exc: BaseException | None) -> None:
        _state.in_request = False

    app.before_request(reads_deferred)
    app.teardown_request(request_done)


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
_READ_ONLY = "mito_read_only"  # connection.info key: a read (SQLite: began DEFERRED; PostgreSQL: autocommit)


def transactional(fn: F) -> F:
    """Run a service function in one transaction: commit once at the outermost level, roll back on error.

    Nested calls join the outer transaction. Callbacks registered with `after_commit` run once the
    outermost commit succeeded (used to enqueue Celery jobs only for committed data). This is the
    writing flavour: on SQLite it begins IMMEDIATE (the write lock up front). In a request, code outside it
    is the read-only flavour (GET services, queries, the caller's lookup): it begins DEFERRED and takes
    no lock.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        depth = getattr(_state, "depth", 0)
        if depth == 0:
            _end_read_transaction()
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


S = TypeVar("S", bound=sa.Select[Any])


def lock_rows(stmt: S, model: type[Base], *, skip_locked: bool = False) -> S:
    """`stmt` locking only `model`'s rows, as FOR NO KEY UPDATE OF its table (PostgreSQL; SQLite ignores it).

    Only that table: a plain FOR UPDATE also locks the rows of eager-joined relationships (a group's
    creator). NO KEY: the foreign-key checks of concurrent inserts (FOR KEY SHARE on the referenced row,
    as a commit's artifact rows or a registration's grants take on their group) do not wait for it, so a
    group lock never deadlocks against them. Use it for rows the transaction updates but never deletes.
    """
    return stmt.with_for_update(key_share=True, of=model, skip_locked=skip_locked)


def reads_in_autocommit(fn: F) -> F:
    """A request whose reads need no transaction of their own (a query's page): on PostgreSQL, the
    connection it takes outside @transactional reads in autocommit, which saves the BEGIN and the
    ROLLBACK round trips around its statements. READ COMMITTED gives each statement its own snapshot
    anyway, so the reads see what they saw in a transaction; @transactional within it still writes in one
    transaction (it ends the autocommit read first, `_end_read_transaction`). SQLite: no change."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        previous = getattr(_state, "autocommit_reads", False)
        _state.autocommit_reads = True
        try:
            return fn(*args, **kwargs)
        finally:
            _state.autocommit_reads = previous

    return wrapper  # type: ignore[return-value]


def _end_read_transaction() -> None:
    """End a read transaction the request began before its write, so the write begins a transaction of its
    own: IMMEDIATE on SQLite, not autocommit on PostgreSQL (`reads_in_autocommit`).

    A DEFERRED transaction that reads and then writes cannot wait for the lock: if another writer
    committed since its snapshot, SQLite refuses it at once ("database is locked"). Objects read so far
    stay loaded (expire_on_commit=False).
    """
    current = session()
    if current.in_transaction() and current.connection().info.get(_READ_ONLY):
        current.commit()


def after_commit(callback: Callable[[], Any]) -> None:
    """Run `callback` after the current @transactional commits (immediately if there is none)."""
    if getattr(_state, "depth", 0) == 0:
        callback()
    else:
        _state.after_commit.append(callback)


# ---------------------------------------------------------------- column types


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes in UTC on every backend (SQLite drops the offset otherwise)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        if value is not None and dialect.name == "sqlite":
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None


class StringSet(TypeDecorator[list[str]]):
    """A set of strings: text[] on PostgreSQL (GIN-indexed containment), JSON on SQLite; kept sorted."""

    impl = sa.JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(sa.Text()))
        return dialect.type_descriptor(sa.JSON())

    def process_bind_param(self, value: Iterable[str] | None, dialect: sa.Dialect) -> list[str] | None:
        if value is None:
            return None
        return sorted(set(value))

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> list[str] | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = json.loads(value)
        return list(value)


E = TypeVar("E", bound=enum.IntEnum)


class IntEnumType(TypeDecorator[E]):
    """An IntEnum stored as its integer value (orderable: roles compare with >=)."""

    impl = sa.SmallInteger
    cache_ok = True

    def __init__(self, enum_cls: type[E], *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.enum_cls = enum_cls

    def process_bind_param(self, value: E | int | None, dialect: sa.Dialect) -> int | None:
        return None if value is None else int(value)

    def process_result_value(self, value: int | None, dialect: sa.Dialect) -> E | None:
        return None if value is None else self.enum_cls(value)


def contains_all(
    column: QueryableAttribute[Any] | sa.ColumnElement[Any], values: Iterable[str]
) -> sa.ColumnElement[bool]:
    """SQL condition: the StringSet `column` contains every one of `values`."""
    wanted = sorted(set(values))
    if not wanted:
        return sa.true()
    if is_postgres():
        return column.op("@>", return_type=sa.Boolean)(sa.cast(wanted, postgresql.ARRAY(sa.Text())))
    return _json_contains_all(column, wanted, len(wanted))


def contains_all_bound(
    column: QueryableAttribute[Any] | sa.ColumnElement[Any], key: str, *, postgres: bool
) -> sa.ColumnElement[bool]:
    """contains_all with the values bound at execution (`contains_all_params(key, values)`): one statement
    object serves every set of values (built once, its compiled form found by a memoized cache key)."""
    if postgres:
        return column.op("@>", return_type=sa.Boolean)(
            sa.cast(sa.bindparam(key), postgresql.ARRAY(sa.Text()))
        )
    return _json_contains_all(column, sa.bindparam(key, expanding=True), sa.bindparam(f"{key}_n"))


def contains_all_params(key: str, values: Iterable[str]) -> dict[str, Any]:
    """The values contains_all_bound(column, key) binds (a non-empty `values`)."""
    wanted = sorted(set(values))
    return {key: wanted, f"{key}_n": len(wanted)}


def _json_contains_all(column: Any, wanted: Any, count: Any) -> sa.ColumnElement[bool]:
    # One subquery whatever the number of values (an AND of one EXISTS per value grows SQLite's
    # expression tree past its depth limit with a few hundred values).
    each = sa.func.json_each(column).table_valued("value")
    found = sa.select(sa.func.count(sa.distinct(each.c.value))).where(each.c.value.in_(wanted))
    matched: sa.ColumnElement[bool] = found.scalar_subquery() == count
    return matched
