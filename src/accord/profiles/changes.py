"""Which profiles each profile build changed (`profile_changes`), for the readers that follow them: the audiences'
tables and the served copy of people. A change is kept until every reader has read it (`change_readers`)."""

from __future__ import annotations

from accord.lake.store import Lake

NEWEST_SQL = "(SELECT coalesce(max(seq), 0) FROM profile_changes)"
"""The newest build's position, as SQL (0 before any build)."""


def begin_build(lake: Lake) -> int:
    """A new build's position."""
    return int(lake.scalar("SELECT nextval('profile_change_seq')"))


def record(lake: Lake, seq: int, kind: str, rebuilt: list[str] | None) -> None:
    """Log which profiles of `kind` the build at `seq` changed (None: all of them)."""
    if rebuilt is None:
        lake.execute("INSERT INTO profile_changes VALUES (?, ?, NULL)", [seq, kind])
    elif rebuilt:
        lake.execute("INSERT INTO profile_changes SELECT ?, ?, unnest(?::VARCHAR[])", [seq, kind, rebuilt])


def newest(lake: Lake) -> int:
    return int(lake.scalar(f"SELECT {NEWEST_SQL}"))


def rebuilt_whole_since(lake: Lake, seq: int, kind: str | None = None) -> bool:
    """Did a build after `seq` rebuild every profile (of `kind`, or of any kind): a full identity run?"""
    of_kind = "AND kind = ?" if kind else ""
    return bool(lake.scalar(f"SELECT count(*) FROM profile_changes WHERE seq > ? AND profile_id IS NULL {of_kind}",
                            [seq, *([kind] if kind else [])]))


def changed_since_sql(kind: str, seq: int) -> str:
    """The ids of the profiles of `kind` that builds after `seq` changed, as SQL."""
    return f"SELECT profile_id FROM profile_changes WHERE kind = '{kind}' AND seq > {int(seq)}"


def read_up_to(lake: Lake, reader: str, seq: int) -> None:
    """`reader` holds every change up to `seq`: later ones are kept until it reads them."""
    lake.execute("INSERT OR REPLACE INTO change_readers VALUES (?, ?)", [reader, seq])


def forget_read(lake: Lake) -> None:
    """Drop the changes every reader has read (the caller has read them all), keeping the newest build's: it marks
    the position."""
    lake.execute("DELETE FROM profile_changes WHERE seq < (SELECT max(seq) FROM profile_changes) "
                 "AND seq <= (SELECT coalesce(min(seq), 9223372036854775807) FROM change_readers)")
