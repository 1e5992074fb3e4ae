"""The schema as an older version wrote it, for migration tests.

``metadata_at(v)`` starts from today's tables and undoes, newest first, what each migration after
``v`` changed, so a test can write a database exactly as version ``v`` left it and watch the
migrations take it to today. A migration that changes a table adds its undo step here.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, MetaData, Table

from data import schema


def _without(old: MetaData, name: str, *, drop_columns: set[str] = frozenset(),
             drop_indexes: set[str] = frozenset(), add_indexes: tuple = ()) -> None:
    """Replace table ``name`` in ``old`` by a copy without some columns and indexes."""
    current = old.tables[name]
    old.remove(current)
    columns = [Column(c.name, c.type,
                      *[ForeignKey(fk.target_fullname, ondelete=fk.ondelete)
                        for fk in c.foreign_keys],
                      primary_key=c.primary_key, nullable=c.nullable,
                      autoincrement=c.autoincrement, default=c.default)
               for c in current.columns if c.name not in drop_columns]
    indexes = [Index(i.name, *[c.name for c in i.columns], unique=i.unique)
               for i in current.indexes if i.name not in drop_indexes]
    Table(name, old, *columns, *indexes,
          *[Index(index_name, *cols) for index_name, cols in add_indexes])


# version -> how to undo that version's table changes (versions that changed no table: absent —
# 4 rewrote outcome rows, 6 derived history rows: tests/test_migration_6.py deletes those)
_UNDO = {
    9: lambda old: old.remove(old.tables["derived_views"]),
    8: lambda old: [old.remove(old.tables[name])
                     for name in ("notifications", "notify_verdicts")],
    7: lambda old: [old.remove(old.tables[name]) for name in ("source_leases", "data_version")],
    5: lambda old: [old.remove(old.tables[name]) for name in ("membership_changes", "scopes")],
    3: lambda old: _without(old, "test_results", drop_columns={"test_key"},
                            drop_indexes={"ix_test_results_key"},
                            add_indexes=(("ix_test_results_name", ("classname", "name")),)),
    2: lambda old: _without(old, "sync_runs", drop_columns={"heartbeat_at"}),
}


def metadata_at(version: int) -> MetaData:
    """Every table as schema ``version`` had it."""
    old = MetaData()
    for table in schema.metadata.sorted_tables:
        table.to_metadata(old)
    for undone in range(schema.SCHEMA_VERSION, version, -1):
        if undone in _UNDO:
            _UNDO[undone](old)
    return old
