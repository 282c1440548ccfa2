"""The collector's durable log: segments, offsets across them, loaded segments removed, a torn line mended."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from accord.cli import app
from accord.sources.collector import ingest_log, loaded_offset
from accord.sources.collector_log import LOG_NAME, CollectorLog, remove_loaded, segments
from accord.workspace import Workspace

T = "2026-11-20T10:00:00Z"


def page(n: int) -> list[dict[str, str]]:
    return [{"type": "page", "userId": f"u{n % 3}", "messageId": f"m{n}", "timestamp": T}]


def ids(entries: list[dict]) -> list[str]:
    return [m["messageId"] for e in entries for m in e["batch"]]


def test_the_log_rolls_into_segments_and_offsets_run_across_them(tmp_path: Path, lake) -> None:
    log = CollectorLog(tmp_path / "collector", segment_bytes=300)
    for n in range(12):
        log.append(page(n))
    found = segments(log.folder)
    assert len(found) > 2 and found[0].path.name == LOG_NAME, "the first segment keeps the log's old name"
    assert [s.start for s in found[1:]] == [a.start + a.size() for a in found[:-1]], "segments follow each other"
    assert log.size() == found[-1].start + found[-1].size()
    middle = found[1].start
    before, at = log.read_from(0, middle)
    after, end = log.read_from(at)
    assert at == middle and end == log.size()
    assert ids(before) + ids(after) == [f"m{n}" for n in range(12)]

    assert sum(r.loaded for r in ingest_log(lake, log, "ws") if r.entity == "event") == 12
    restarted = CollectorLog(log.folder, segment_bytes=300)
    restarted.append(page(12))
    assert ids(restarted.read_from(end)[0]) == ["m12"], "a restarted log goes on where it was"
    assert [r.loaded for r in ingest_log(lake, restarted, "ws") if r.entity == "event"] == [1]


@settings(max_examples=40, deadline=None)
@given(batches=st.lists(st.integers(1, 4), min_size=1, max_size=12), segment_bytes=st.integers(1, 700),
       cuts=st.lists(st.integers(0, 4000), max_size=5), at_most=st.none() | st.integers(1, 600))
def test_reading_in_any_stretches_gives_every_line_once(tmp_path_factory, batches: list[int], segment_bytes: int,
                                                         cuts: list[int], at_most: int | None) -> None:
    log = CollectorLog(tmp_path_factory.mktemp("log"), segment_bytes=segment_bytes)
    n = 0
    for size in batches:
        log.append([m for i in range(size) for m in page(n + i)])
        n += size
    data = b"".join(s.path.read_bytes() for s in segments(log.folder))
    offset, read = 0, []
    for until in [*sorted(cuts), None]:
        while True:
            entries, end = log.read_from(offset, until, at_most)
            first_line = data.find(b"\n", offset) + 1 - offset
            assert at_most is None or end - offset <= max(at_most, 2 * first_line), "more only to end a long line"
            if end == offset:
                break
            offset, read = end, read + ids(entries)
    assert read == [f"m{i}" for i in range(n)] and offset == log.size()


def test_a_store_far_behind_loads_the_log_a_stretch_at_a_time(tmp_path: Path, lake, monkeypatch) -> None:
    """After the lake's cycle failed for hours, the backlog is not read into memory whole."""
    log = CollectorLog(tmp_path / "collector", segment_bytes=500)
    for n in range(10):
        log.append(page(n))
    sizes: list[int] = []
    read_from = log.read_from

    def measured(offset: int, until: int | None = None, at_most: int | None = None) -> tuple[list, int]:
        entries, end = read_from(offset, until, at_most)
        sizes.append(end - offset)
        return entries, end

    monkeypatch.setattr(log, "read_from", measured)
    monkeypatch.setattr("accord.sources.collector.STRETCH_BYTES", 400)
    loaded = ingest_log(lake, log, "ws")
    assert sum(r.loaded for r in loaded if r.entity == "event") == 10
    assert max(sizes) <= 400 and len(sizes) > 3 and sizes[-1] == 0
    assert [r[0] for r in lake.execute("SELECT offset_bytes FROM collector_offsets").fetchall()] == [log.size()], \
        "the cursor is one row, whatever the stretches"
    assert ingest_log(lake, log, "ws") == []


def test_a_batch_acknowledged_after_a_torn_line_is_not_lost(tmp_path: Path, lake) -> None:
    """A crash mid-write leaves part of a line; the next batch, written after a restart, joined it into one line
    that did not parse and was quarantined with it."""
    log = CollectorLog(tmp_path / "collector")
    log.append(page(1))
    with log.path.open("a") as f:
        f.write('{"receivedAt": "torn')
    CollectorLog(log.folder).append(page(2))
    loaded = {r.entity: r for r in ingest_log(lake, log, "ws")}
    assert loaded["event"].loaded == 2 and loaded["event"].reasons == {"invalid_message": 1}
    assert {r[0] for r in lake.execute("SELECT source_id FROM event").fetchall()} == {"m1", "m2"}


def test_only_loaded_segments_no_longer_written_go(tmp_path: Path, lake) -> None:
    log = CollectorLog(tmp_path / "collector", segment_bytes=1)  # a segment per append
    for n in range(4):
        log.append(page(n))
    ingest_log(lake, log, "ws")
    log.append(page(4))  # not loaded yet
    found = segments(log.folder)
    assert len(found) == 5
    long_ago = time.time() - 40 * 86400
    for segment in found:
        os.utime(segment.path, (long_ago, long_ago))
    now, sizes = datetime.now(timezone.utc), [s.size() for s in found]
    loaded = loaded_offset(lake)
    assert remove_loaded(log.folder, loaded, now - timedelta(days=60)) == 0, "written to more recently"
    removed = remove_loaded(log.folder, loaded, now - timedelta(days=30))
    assert removed == sum(sizes[:4]) and segments(log.folder) == found[4:]
    assert ids(log.read_from(loaded)[0]) == ["m4"]
    assert [r.loaded for r in ingest_log(lake, log, "ws") if r.entity == "event"] == [1]
    assert remove_loaded(log.folder, log.size(), now) == 0, "the last segment stays: it is written to"
    assert ids(log.read_from(0)[0]) == ["m4"], "a cursor from before the removed segments reads what is left"


def test_accord_run_removes_the_collector_log_the_store_loaded(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    log = CollectorLog(ws.lake_path().parent / "collector", segment_bytes=1)
    for n in range(3):
        log.append(page(n))
    with ws.lake() as lake:
        ingest_log(lake, log, ws.config.name)
    long_ago = time.time() - 40 * 86400
    for segment in segments(log.folder):
        os.utime(segment.path, (long_ago, long_ago))
    kept = CliRunner().invoke(app, ["run", "-w", str(ws.root)])
    assert kept.exit_code == 0, kept.output
    assert "collector log" in kept.output and len(segments(log.folder)) == 1
    status = CliRunner().invoke(app, ["status", "-w", str(ws.root)])
    assert "collector log: 1 segment," in status.output and "the store has loaded all of it" in status.output

    config = yaml.safe_load((ws.root / "accord.yaml").read_text())
    config["governance"] = {"retention": {"collector_log_days": None}}
    (ws.root / "accord.yaml").write_text(yaml.safe_dump(config))
    log.append(page(3))
    with Workspace.load(ws.root).lake() as lake:
        ingest_log(lake, log, ws.config.name)
    for segment in segments(log.folder):
        os.utime(segment.path, (long_ago, long_ago))
    again = CliRunner().invoke(app, ["run", "-w", str(ws.root)])
    assert again.exit_code == 0 and "collector log" not in again.output
    assert len(segments(log.folder)) == 2, "kept for ever when told"


def test_a_new_segment_is_durable_with_its_name(tmp_path: Path, monkeypatch) -> None:
    """fsync of a new file does not make its name durable: its folder is synced too, once per segment."""
    import stat

    synced: list[bool] = []
    fsync = os.fsync

    def recorded(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        fsync(fd)

    monkeypatch.setattr("accord.sources.collector_log.os.fsync", recorded)
    log = CollectorLog(tmp_path / "collector", segment_bytes=200)
    for n in range(6):
        log.append(page(n))
    assert synced.count(True) == len(segments(log.folder)) > 1 and synced.count(False) == 6


def test_the_cursor_does_not_depend_on_how_the_workspace_path_was_written(tmp_path: Path, lake,
                                                                         monkeypatch) -> None:
    """`accord demo -w demo` then `cd demo && accord serve`: the log's path, spelled another way, named a cursor
    of its own, and the whole log was replayed."""
    monkeypatch.chdir(tmp_path)
    relative = CollectorLog(Path("ws/collector"))
    relative.append(page(1))
    assert [r.loaded for r in ingest_log(lake, relative, "ws") if r.entity == "event"] == [1]
    absolute = CollectorLog(tmp_path / "ws" / "collector")
    assert ingest_log(lake, absolute, "ws") == []

    lake.execute("DELETE FROM collector_offsets")  # a store from before: its cursor named by the log's path
    lake.execute("INSERT INTO collector_offsets VALUES (?, ?, now())", [str(relative.path), relative.size()])
    absolute.append(page(2))
    assert [r.loaded for r in ingest_log(lake, absolute, "ws") if r.entity == "event"] == [1]
    assert loaded_offset(lake) == absolute.size()


def test_a_write_that_fails_is_heard_by_its_callers_and_the_next_one_succeeds(tmp_path: Path, monkeypatch) -> None:
    """Any failure of a write (not only a full disk) reaches the callers waiting on it; the writer thread lives on,
    so later appends do not hang."""
    log = CollectorLog(tmp_path / "collector")
    log.append(page(1))
    write = log._write
    monkeypatch.setattr(log, "_write", lambda lines: (_ for _ in ()).throw(ValueError("a bug")))
    with pytest.raises(OSError, match="could not be written: a bug"):
        log.append(page(2))
    monkeypatch.setattr(log, "_write", write)
    log.append(page(3))
    assert ids(log.read_from(0)[0]) == ["m1", "m3"]
