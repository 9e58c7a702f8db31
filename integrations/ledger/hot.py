"""The ledger's hot statements, run straight on the database driver's cursor.

SQLAlchemy's execution path (cache key, compiled-cache lookup, execution context, result object,
events) costs several times what SQLite itself spends on the small statements an alert writes: a
third of the intake's CPU per alert (bench/storm.py). :class:`Hot` keeps what matters of it: the
statement is compiled by SQLAlchemy for the connection's dialect (once per set of keys), each value
goes through its column type's own bind processor, errors are raised as SQLAlchemy's (an
``IntegrityError`` is one), and a connection found lost is invalidated, as ``Connection.execute``
does. It runs in the connection's transaction; no statement events are fired.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

_Bind = tuple[str, Callable[[Any], Any] | None]  # a parameter's name, and its type's bind processor


class Hot:
    """A statement without post-compile parameters (no expanding IN), for :meth:`run` and :meth:`scalar`."""

    def __init__(self, statement: ClauseElement) -> None:
        self._statement = statement
        self._compiled: dict[tuple[str, tuple[str, ...]], tuple[str, list[_Bind], bool]] = {}

    def run(self, conn: Connection, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> int:
        """Execute with one set of parameters, or many alike (one ``executemany``); the rows it changed."""
        rows: list[Mapping[str, Any]] = [params] if isinstance(params, Mapping) else list(params)
        if not rows:
            return 0
        sql, binds, positional = self._compile(conn.dialect, rows[0])
        values = [_values(row, binds, positional) for row in rows]
        cursor = self._execute(conn, sql, values, len(rows) > 1)  # psycopg pipelines executemany: dearer for one
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def scalar(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The first column of the first row (None if there is none); the driver's value, unprocessed."""
        sql, binds, positional = self._compile(conn.dialect, params)
        cursor = self._execute(conn, sql, [_values(params, binds, positional)], False)
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()
        return None if row is None else row[0]

    def _compile(self, dialect: Dialect, params: Mapping[str, Any]) -> tuple[str, list[_Bind], bool]:
        keys = tuple(sorted(params))
        found = self._compiled.get((dialect.name, keys))
        if found is None:
            compiled = cast(SQLCompiler, self._statement.compile(dialect=dialect, column_keys=list(keys)))
            names = list(compiled.positiontup or ()) if compiled.positional else list(compiled.binds)
            binds: list[_Bind] = [(name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
                     for name in names]
            found = self._compiled[(dialect.name, keys)] = (compiled.string, binds, compiled.positional)
        return found

    @staticmethod
    def _execute(conn: Connection, sql: str, values: list[Any], many: bool) -> Any:
        dbapi_connection: Any = conn.connection.dbapi_connection
        error = conn.dialect.loaded_dbapi.Error
        cursor = dbapi_connection.cursor()
        try:
            if many:
                cursor.executemany(sql, values)
            else:
                cursor.execute(sql, values[0])
        except error as exc:
            cursor.close()
            lost = conn.dialect.is_disconnect(exc, dbapi_connection, cursor)
            if lost:
                conn.invalidate(exc)
            raise DBAPIError.instance(sql, values[0], exc, error, connection_invalidated=lost,
                                      dialect=conn.dialect) from exc
        return cursor


def _values(params: Mapping[str, Any], binds: list[_Bind], positional: bool) -> Any:
    """The driver's parameters: a tuple in the statement's order, or a dict by name."""
    if positional:
        return tuple(params[name] if process is None else process(params[name]) for name, process in binds)
    return {name: params[name] if process is None else process(params[name]) for name, process in binds}
