"""Read current records out of the lake as XDM JSON objects."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from accord.lake.sql import ident
from accord.lake.store import Lake
from accord.model.xdm import DEFAULT_TENANT, XdmInvalid, XdmWriter, xdm_class


def iter_xdm(lake: Lake, entity: str, source_key: str | None = None, limit: int | None = None,
             tenant: str = DEFAULT_TENANT, rejected: list[tuple[str, str]] | None = None) -> Iterator[dict[str, Any]]:
    """Current records of `entity` (or the one with `source_key`) as validated XDM objects, custom fields under
    the `tenant` namespace. With `rejected`, a record whose values fail the schemas is left out and named there
    (source key, why), so that one bad value does not stop the export of the rest."""
    xdm_class(entity)
    sql = f"SELECT * FROM {ident(entity + '_current')}"
    params: list[Any] = []
    if source_key is not None:
        sql += " WHERE source_key = ?"
        params.append(source_key)
    sql += " ORDER BY source_key"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    cur = lake.execute(sql, params)
    names = [d[0] for d in cur.description]
    writer = XdmWriter(entity, lake.schema, tenant)
    while rows := cur.fetchmany(1000):
        for row in rows:
            record = dict(zip(names, row))
            try:
                doc = writer.write(record)
            except XdmInvalid as err:
                if rejected is None:
                    raise
                rejected.append((record["source_key"], str(err)))
                continue
            yield doc
