"""The served copy of people answers as the lake does, and a copy kept by changes equals one copied whole."""

from __future__ import annotations

import shutil
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accord.api.app import create_app
from accord.api.keys import create_key
from accord.audiences.evaluate import evaluate
from accord.audiences.files import load_audiences
from accord.identity.config import IdentityConfig
from accord.lake.store import Lake
from accord.pipeline import run_identity
from accord.profiles.lookup import person_summary
from accord.profiles.serving import ServedProfiles
from tests.conftest import AS_OF, EXAMPLES, evaluated_workspace
from tests.test_incremental import apply, changes, current, replace

WANTED = ["email", "job_title", "lead_score", "email_opt_out"]


def copied(served: ServedProfiles) -> dict[str, list[tuple]]:
    with sqlite3.connect(served.path) as con:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
                for t in ("identity", "person", "membership")}


def answers_as_the_lake(served: ServedProfiles, lake: Lake, people: list[str]) -> None:
    for person_id in people:
        ref = f"person_id:{person_id}"
        assert served.summary(ref, WANTED) == person_summary(lake, ref, WANTED)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@example(plan=[(0, [("merge", 1, 2), ("person", 3, {"job_title": "VP Sales"})], True)])
@given(plan=st.lists(st.tuples(st.integers(0, 48), changes, st.booleans()), min_size=1, max_size=3))
def test_a_copy_kept_by_changes_equals_one_copied_whole(evaluated_lake: Path, tmp_path_factory, plan) -> None:
    folder = tmp_path_factory.mktemp("served")
    path = folder / "accord.duckdb"
    shutil.copy(evaluated_lake, path)
    audiences = load_audiences(EXAMPLES)
    kept = ServedProfiles(folder / "kept.sqlite")
    with Lake(path) as lake:
        assert kept.sync(lake).mode == "full"
    at = AS_OF
    for n, (hours, round_changes, sync_between) in enumerate(plan):
        at += timedelta(hours=hours)
        with Lake(path) as lake:
            for i, change in enumerate(round_changes):
                apply(lake, change, at, n * 100 + i)
            run_identity(lake, IdentityConfig())
            if sync_between:  # the copy reads the profile changes before the audiences do, or after
                assert kept.sync(lake).mode in ("incremental", "idle")
            evaluate(lake, audiences, at)
            assert kept.sync(lake).mode in ("incremental", "idle")
            whole = ServedProfiles(folder / f"whole-{n}.sqlite")
            assert whole.sync(lake).mode == "full"
            assert copied(kept) == copied(whole)
            people = [r[0] for r in lake.execute("SELECT person_id FROM person_profile ORDER BY 1 LIMIT 30").fetchall()]
            answers_as_the_lake(kept, lake, people)
    kept.close()


def test_the_audiences_never_drop_a_change_the_copy_has_not_read(evaluated_lake: Path, tmp_path: Path) -> None:
    path = tmp_path / "accord.duckdb"
    shutil.copy(evaluated_lake, path)
    served = ServedProfiles(tmp_path / "profiles.sqlite")
    titles = ["Chief Revenue Officer", "Head of Growth"]
    with Lake(path) as lake:
        served.sync(lake)
        people = current(lake, "person")[:2]
        for n, (person, title) in enumerate(zip(people, titles)):  # two profile builds: the first is not the newest
            replace(lake, "person", person, {"job_title": title}, AS_OF, n)
            run_identity(lake, IdentityConfig())
        evaluate(lake, load_audiences(EXAMPLES), AS_OF)  # reads both, and drops what every reader has read
        report = served.sync(lake)
        assert report.mode == "incremental" and report.people < 10
        for person, title in zip(people, titles):
            person_id = lake.scalar("SELECT profile_id FROM identity_nodes WHERE value = ?", [person["source_key"]])
            assert served.summary(f"person_id:{person_id}", ["job_title"])["attributes"] == {"job_title": title}
        assert served.sync(lake).mode == "idle"
        replace(lake, "person", current(lake, "person")[2], {"job_title": "CFO"}, AS_OF, 3)
        run_identity(lake, IdentityConfig())
        evaluate(lake, load_audiences(EXAMPLES), AS_OF)
        assert lake.scalar("SELECT count(DISTINCT seq) FROM profile_changes") == 1, "read by all: only the mark stays"


def test_serve_answers_page_reads_from_the_copy_as_the_lake_does(evaluated_lake: Path, tmp_path: Path) -> None:
    ws = evaluated_workspace(tmp_path, evaluated_lake)
    with ws.lake() as lake:
        auth = {"Authorization": f"Bearer {create_key(lake, 'api', 'tests').secret}"}
        emails = [r[0] for r in lake.execute(
            "SELECT p.email FROM person_profile p JOIN audience_membership m ON m.profile_id = p.person_id "
            "WHERE p.email IS NOT NULL GROUP BY 1 ORDER BY 1 LIMIT 20").fetchall()]
    client = TestClient(create_app(ws))
    asks = [(f"/api/v1/profiles/email:{e.upper()}/summary", {"attributes": ",".join(WANTED)}) for e in emails] + [
        ("/api/v1/profiles/email:nobody@nowhere.example/summary", {}),
        (f"/api/v1/profiles/email:{emails[0]}/summary", {"attributes": "salary"}),
        ("/api/v1/profiles/fax:123/summary", {})]
    from_lake = [(r.status_code, r.json()) for r in (client.get(p, params=q, headers=auth) for p, q in asks)]
    with client:  # serve's runtime starts: the copy is made, and reads move to it
        deadline = time.monotonic() + 60
        while client.get("/health").json()["profiles"].get("mode") != "full":
            assert time.monotonic() < deadline, client.get("/health").json()["profiles"]
            time.sleep(0.1)
        assert client.app.state.accord.profiles.ready
        from_copy = [(r.status_code, r.json()) for r in (client.get(p, params=q, headers=auth) for p, q in asks)]
    assert from_copy == from_lake
    assert [code for code, _ in from_lake[-3:]] == [404, 400, 400]
    assert sum(bool(body["audiences"]) for _, body in from_lake[:-3]) == len(emails)


def test_a_run_that_commits_after_a_later_one_is_not_missed(evaluated_lake: Path, tmp_path: Path) -> None:
    """A relayed `accord audiences run` may begin before a streaming recording and commit after it."""
    path = tmp_path / "accord.duckdb"
    shutil.copy(evaluated_lake, path)
    served = ServedProfiles(tmp_path / "profiles.sqlite")
    with Lake(path) as lake:
        served.sync(lake)
        person_id = lake.scalar("SELECT min(person_id) FROM person_profile")
        newest = lake.scalar("SELECT max(run_id) FROM audience_membership_history")
        with lake.transaction():  # what the earlier run records once it commits, under its earlier run id
            lake.execute("INSERT INTO audience_membership VALUES ('Late run', ?, 'realized', ?, NULL, ?)",
                         [person_id, AS_OF, AS_OF])
            lake.execute("INSERT INTO audience_membership_history VALUES (?, 'Late run', ?, 'realized', ?)",
                         [newest - 1, person_id, AS_OF])
        assert served.sync(lake).mode == "full"
        assert "Late run" in served.summary(f"person_id:{person_id}", [])["audiences"]


def test_a_whole_copy_gives_its_log_back_to_the_disk(evaluated_lake: Path, tmp_path: Path) -> None:
    path = tmp_path / "accord.duckdb"
    shutil.copy(evaluated_lake, path)
    served = ServedProfiles(tmp_path / "profiles.sqlite")
    log = tmp_path / "profiles.sqlite-wal"
    with Lake(path) as lake:
        assert served.sync(lake).mode == "full"
        assert log.stat().st_size == 0, "every page of a whole copy went through the log, then into the file"
        assert served.summary(lake.scalar("SELECT min(person_id) FROM person_profile"), [])["audiences"] is not None
        replace(lake, "person", current(lake, "person")[0], {"job_title": "CFO"}, AS_OF, 0)
        run_identity(lake, IdentityConfig())
        assert served.sync(lake).mode == "incremental"
