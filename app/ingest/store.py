"""Database writing helpers for the persister: bulk get-or-create of dimension rows and additive
rollup upserts (INSERT … ON CONFLICT DO UPDATE), the same on SQLite and PostgreSQL."""
from sqlalchemy import case, insert, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db

CHUNK = 500


def _insert(table):
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _in_key_order(rows, key_columns):
    """``rows`` sorted by their key. Concurrent workers then lock conflicting rows in one order,
    so their transactions wait for each other instead of deadlocking."""
    return sorted(rows, key=lambda row: tuple((row[c] is None, row[c]) for c in key_columns))


def _chunks(items, size=CHUNK):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]


def get_or_create(table, key_columns, rows, id_column="id"):
    """Ids of dimension rows, creating the missing ones. ``rows`` maps a key tuple (values of
    ``key_columns``) to the full row dict to insert when absent. Returns {key tuple: id}."""
    ids = {}
    if not rows:
        return ids
    keys = [table.c[name] for name in key_columns]
    ident = table.c[id_column]

    def lookup(wanted):
        for chunk in _chunks(wanted):
            query = select(ident, *keys).where(tuple_(*keys).in_(chunk))
            for row in db.session.execute(query):
                ids[tuple(row[1:])] = row[0]

    lookup(rows.keys())
    missing = [key for key in rows if key not in ids]
    for chunk in _chunks(_in_key_order(missing, range(len(key_columns)))):
        db.session.execute(_insert(table).values([rows[key] for key in chunk])
                           .on_conflict_do_nothing(index_elements=key_columns))
    if missing:
        lookup(missing)
    return ids


def insert_missing(table, key_columns, rows):
    """Insert rows whose key (a primary key) is not there yet; existing rows are left alone."""
    for chunk in _chunks(_in_key_order(rows, key_columns)):
        db.session.execute(_insert(table).values(chunk)
                           .on_conflict_do_nothing(index_elements=key_columns))


def upsert_add(table, key_columns, rows, add=(), least=(), greatest=()):
    """Insert rows, or on a key conflict add the ``add`` columns to the stored values and keep
    the least/greatest of the ``least``/``greatest`` columns."""
    for chunk in _chunks(_in_key_order(rows, key_columns)):
        statement = _insert(table).values(chunk)
        new = statement.excluded
        changes = {name: table.c[name] + new[name] for name in add}
        changes.update({name: case((new[name] < table.c[name], new[name]), else_=table.c[name])
                        for name in least})
        changes.update({name: case((new[name] > table.c[name], new[name]), else_=table.c[name])
                        for name in greatest})
        db.session.execute(statement.on_conflict_do_update(index_elements=key_columns,
                                                           set_=changes))


def insert_rows(table, rows):
    """Plain bulk insert (executemany)."""
    for chunk in _chunks(rows, 2000):
        db.session.execute(insert(table), chunk)
