"""Server-side prepared statements for the hot path's statements on PostgreSQL (`prepared(stmt)`).

psycopg2 sends each statement as text, so PostgreSQL parses and plans it anew every time: on a chained
commit (lock, archive, claim, counters) planning took 1.4 ms of the server's CPU against 1.0 ms of
execution. Neither psycopg2 nor SQLAlchemy's psycopg2 dialect prepares statements (SQLAlchemy does only
for asyncpg and psycopg 3, and the stack is psycopg2), so this module does the one thing missing: a
statement marked by `prepared` is sent as `PREPARE` once per connection, under a name derived from its
text, and from then on as `EXECUTE name(params)`, its parameters adapted by psycopg2 as for any other
statement. PostgreSQL then keeps the parsed statement and, after five executions, a generic plan when it
costs no more than the custom ones (plan_cache_mode `auto`).

A generic plan can use a partial index (the dispatch index is `WHERE state = 1`) only when the predicate's
constant is in the statement's text, so `prepared` first renders the statement's constants (the anonymous
parameters SQLAlchemy makes of literal values: states, roles, LIMIT 1) as SQL literals, by SQLAlchemy's
own literal rendering; the named parameters (`sa.bindparam("w")`) stay parameters, and so do the values an
UPDATE sets (they take their column's type only when compiled, and no plan depends on them).

A prepared statement lives as long as its connection: a connection the pool opens again starts with none
(the names are kept in the connection's `info`, which the pool drops with it), and a rollback does not
discard them. A connection pooler in transaction mode (PgBouncer) would break them; the coordinator
connects to PostgreSQL directly. SQLite engines send the statements as they are.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import visitors

PREPARED = "mito_prepared"  # the execution option that marks a statement, and the connection's info key
_PARAM = re.compile(r"%%|%\((\w+)\)s")  # psycopg2's pyformat: an escaped % or a named parameter

S = TypeVar("S", bound=sa.Executable)


def prepared(stmt: S) -> S:
    """`stmt` with its constants as literals, marked to run as a prepared statement on PostgreSQL."""
    dialect = postgresql.dialect()

    def literal(element: Any, **_kw: Any) -> Any:
        if (
            isinstance(element, sa.BindParameter)
            and element.unique
            and element.callable is None
            and not isinstance(element.type, sa.types.NullType)  # a value SET by DML: typed when compiled
        ):
            text = element.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
            return sa.literal_column(str(text), type_=element.type)
        return None

    inlined = cast(S, visitors.replacement_traverse(cast(visitors.ExternallyTraversible, stmt), {}, literal))
    return inlined.execution_options(**{PREPARED: True})


def install(engine: sa.Engine) -> None:
    """Run the statements `prepared` marks as prepared statements on this (PostgreSQL) engine.

    Hooked where the dialect hands the statement to the cursor (`do_execute`), after every
    `before_cursor_execute` listener: logging, statement counts and tests still see the statement's SQL.
    """
    event.listen(engine, "do_execute", _execute_prepared)


# A marked statement's text -> its name, its PREPARE and its EXECUTE (None: it cannot be prepared)
_texts: dict[str, tuple[str, str, str] | None] = {}
# Bounds: a marked statement with an expanding IN (a query's creators) has a text per list length, so the
# texts are bounded in this process and the statements prepared on one connection (each holds its plan in
# the server's backend); past either bound a marked statement runs as plain text, as before.
MAX_TEXTS = 1024
MAX_PER_CONNECTION = 64


def _execute_prepared(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    """Execute a marked statement as a prepared one (True); anything else is left to the dialect (False)."""
    if context is None or not context.execution_options.get(PREPARED) or not isinstance(parameters, dict):
        return False
    if statement in _texts:
        found = _texts[statement]
    elif len(_texts) < MAX_TEXTS:
        found = _texts[statement] = _rewrite(statement)
    else:
        return False
    if found is None:
        return False
    name, prepare, execute = found
    names: set[str] = context.root_connection.info.setdefault(PREPARED, set())
    if name not in names:
        if len(names) >= MAX_PER_CONNECTION:
            return False
        cursor.execute(prepare)
        names.add(name)
    cursor.execute(execute, parameters)
    return True


def _rewrite(statement: str) -> tuple[str, str, str] | None:
    """(name, `PREPARE name AS ...` with $n parameters, `EXECUTE name(%(p)s, ...)`) for a pyformat text."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        key = match.group(1)
        if key is None:
            return "%"
        if key not in order:
            order.append(key)
        return f"${order.index(key) + 1}"

    body = _PARAM.sub(number, statement)
    if "%(" in body:  # a parameter name the pattern does not read: send the statement as it is
        return None
    name = "mito_" + hashlib.sha1(statement.encode(), usedforsecurity=False).hexdigest()[:24]
    arguments = ", ".join(f"%({key})s" for key in order)
    return name, f"PREPARE {name} AS {body}", f"EXECUTE {name}({arguments})" if order else f"EXECUTE {name}"
