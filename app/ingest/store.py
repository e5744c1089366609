"""Database writing helpers for the persister: bulk get-or-create of dimension rows, plain bulk
inserts and additive rollup upserts (INSERT … ON CONFLICT DO UPDATE).

On PostgreSQL each helper is one set-based statement per table and batch, whatever the number
of rows: the rows travel as one array per column and are expanded with ``unnest``, and raw rows
go in with ``COPY``; the statement text is built once per table and shape. On SQLite (in the
same process, no round trips) the same statements run as ``executemany``. Rows are always
written in key order, so concurrent workers lock conflicting rows in one order and wait for each
other instead of deadlocking."""
import re
from operator import itemgetter

from sqlalchemy import case, insert, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db

CHUNK = 500
_PG_DIALECT = postgresql.dialect()
_statements = {}    # (helper, table, shape) -> PostgreSQL statement text


def is_postgresql():
    """True when this session writes to PostgreSQL (set-based statements), else SQLite."""
    return db.session.get_bind().dialect.name == "postgresql"


def _insert(table):
    return (postgresql.insert if is_postgresql() else sqlite.insert)(table)


def _in_key_order(rows, key_columns):
    """``rows`` sorted by their key (NULLs last)."""
    try:
        return sorted(rows, key=itemgetter(*key_columns))  # the usual case: no NULL in keys
    except TypeError:
        return sorted(rows, key=lambda row: tuple((row[c] is None, row[c]) for c in key_columns))


def _chunks(items, size=CHUNK):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]


# --- PostgreSQL: one statement per table and batch --------------------------------------------

def _quote(name):
    return _PG_DIALECT.identifier_preparer.quote(name)


def _array_type(column):
    """The array type a column's values travel in: its type without a length, so a value too
    long for the column fails as it would in a plain INSERT instead of being cut by the cast."""
    return re.sub(r"\(\d+\)", "", column.type.compile(dialect=_PG_DIALECT)) + "[]"


def _unnest(table, columns, alias="u"):
    casts = ", ".join(f"%b::{_array_type(table.c[name])}" for name in columns)  # binary: cheap
    return f"unnest({casts}) AS {alias}({', '.join(_quote(name) for name in columns)})"


def _arrays(rows, columns):
    return tuple([row[name] for row in rows] for name in columns)


def _pg_execute(key, build, params):
    sql = _statements.get(key)
    if sql is None:
        sql = _statements[key] = build()
    return db.session.connection().exec_driver_sql(sql, params)


def _pg_lookup(table, key_columns, id_column, keys):
    def build():
        on = " AND ".join(f"t.{_quote(c)} = k.{_quote(c)}" for c in key_columns)
        return (f"SELECT t.{_quote(id_column)}, {', '.join(f't.{_quote(c)}' for c in key_columns)} "
                f"FROM {_quote(table.name)} AS t JOIN {_unnest(table, key_columns, 'k')} ON {on}")
    params = tuple([key[i] for key in keys] for i in range(len(key_columns)))
    result = _pg_execute(("lookup", table.name, tuple(key_columns), id_column), build, params)
    return {tuple(row[1:]): row[0] for row in result}


def _with_defaults(table, rows):
    """The column names to insert and the rows with the model's Python-side defaults filled in
    for columns they lack (what SQLAlchemy's own INSERT would do)."""
    given = list(rows[0])
    defaults = {c.name: c.default for c in table.c
                if c.name not in given and c.default is not None and not c.primary_key}
    if not defaults:
        return given, rows
    values = {name: default.arg(None) if default.is_callable else default.arg
              for name, default in defaults.items() if default.is_scalar or default.is_callable}
    return given + list(values), [{**row, **values} for row in rows]


def _pg_insert(table, rows, conflict=None, updates=None, returning=None):
    """INSERT … SELECT FROM unnest(…) [ON CONFLICT (conflict) DO NOTHING | DO UPDATE SET …]."""
    columns, rows = _with_defaults(table, rows)

    def build():
        names = ", ".join(_quote(c) for c in columns)
        sql = f"INSERT INTO {_quote(table.name)} ({names}) SELECT {names} FROM {_unnest(table, columns)}"
        if conflict:
            target = ", ".join(_quote(c) for c in conflict)
            sql += (f" ON CONFLICT ({target}) DO UPDATE SET {updates}" if updates
                    else f" ON CONFLICT ({target}) DO NOTHING")
        if returning:
            sql += " RETURNING " + ", ".join(_quote(c) for c in returning)
        return sql
    key = ("insert", table.name, tuple(columns), tuple(conflict or ()), updates, tuple(returning or ()))
    return _pg_execute(key, build, _arrays(rows, columns))


def _pg_updates(table, add, least, greatest):
    name = _quote(table.name)
    parts = [f"{_quote(c)} = {name}.{_quote(c)} + excluded.{_quote(c)}" for c in add]
    parts += [f"{_quote(c)} = LEAST({name}.{_quote(c)}, excluded.{_quote(c)})" for c in least]
    parts += [f"{_quote(c)} = GREATEST({name}.{_quote(c)}, excluded.{_quote(c)})" for c in greatest]
    return ", ".join(parts)


# --- the helpers ------------------------------------------------------------------------------

def get_or_create(table, key_columns, rows, id_column="id"):
    """Ids of dimension rows, creating the missing ones. ``rows`` maps a key tuple (values of
    ``key_columns``) to the full row dict to insert when absent. Returns {key tuple: id}."""
    if not rows:
        return {}
    if is_postgresql():
        ids = _pg_lookup(table, key_columns, id_column, list(rows))
        missing = _in_key_order([key for key in rows if key not in ids], range(len(key_columns)))
        if missing:
            new = [rows[key] for key in missing]
            _pg_insert(table, new, conflict=key_columns)
            # Looked up afresh: a row another worker committed meanwhile is found too.
            ids.update(_pg_lookup(table, key_columns, id_column, missing))
        return ids

    ids = {}
    keys = [table.c[name] for name in key_columns]
    ident = table.c[id_column]

    def lookup(wanted):
        for chunk in _chunks(wanted):
            query = select(ident, *keys).where(tuple_(*keys).in_(chunk))
            for row in db.session.execute(query):
                ids[tuple(row[1:])] = row[0]

    lookup(rows.keys())
    missing = _in_key_order([key for key in rows if key not in ids], range(len(key_columns)))
    if missing:
        db.session.execute(_insert(table).on_conflict_do_nothing(index_elements=key_columns),
                           [rows[key] for key in missing])
        lookup(missing)
    return ids


def insert_missing(table, key_columns, rows):
    """Insert rows whose key (a primary key) is not there yet; existing rows are left alone."""
    if not rows:
        return
    rows = _in_key_order(rows, key_columns)
    if is_postgresql():
        _pg_insert(table, rows, conflict=key_columns)
    else:
        db.session.execute(_insert(table).on_conflict_do_nothing(index_elements=key_columns), rows)


def upsert_add(table, key_columns, rows, add=(), least=(), greatest=(), returning=None):
    """Insert rows, or on a key conflict add the ``add`` columns to the stored values and keep
    the least/greatest of the ``least``/``greatest`` columns. With ``returning`` (column names;
    PostgreSQL only) returns those columns of every inserted or updated row."""
    if not rows:
        return []
    rows = _in_key_order(rows, key_columns)
    if is_postgresql():
        result = _pg_insert(table, rows, conflict=key_columns,
                            updates=_pg_updates(table, add, least, greatest), returning=returning)
        return result.all() if returning else []
    if returning:
        raise ValueError("upsert_add(returning=…) is for PostgreSQL")
    statement = _insert(table)
    new = statement.excluded
    changes = {name: table.c[name] + new[name] for name in add}
    changes.update({name: case((new[name] < table.c[name], new[name]), else_=table.c[name])
                    for name in least})
    changes.update({name: case((new[name] > table.c[name], new[name]), else_=table.c[name])
                    for name in greatest})
    db.session.execute(statement.on_conflict_do_update(index_elements=key_columns, set_=changes), rows)
    return []


def insert_rows(table, rows):
    """Plain bulk insert: ``COPY`` on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    if not is_postgresql():
        for chunk in _chunks(rows, 2000):
            db.session.execute(insert(table), chunk)
        return
    columns, rows = _with_defaults(table, rows)
    names = ", ".join(_quote(c) for c in columns)
    dbapi = db.session.connection().connection.driver_connection
    with dbapi.cursor() as cursor:
        with cursor.copy(f"COPY {_quote(table.name)} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])
