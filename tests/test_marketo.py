"""Marketo source against the local Marketo server over real HTTP: backfill, sync, limits, errors, instances."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import yaml
from typer.testing import CliRunner

from accord.audiences.evaluate import evaluate
from accord.audiences.text import parse_audience
from accord.cli import app
from accord.connectors.errors import ConnectorError
from accord.connectors.marketo import source as marketo_source
from accord.connectors.marketo.client import (
    MarketoAuthError,
    MarketoClient,
    MarketoLimits,
    MarketoQuotaError,
)
from accord.connectors.marketo.config import MarketoSourceConfig
from accord.connectors.marketo.data import CustomObjectType, MarketoData
from accord.connectors.marketo.server import Limits, MarketoServer
from accord.connectors.marketo.source import MarketoSource, custom_event_types
from accord.identity.config import IdentityConfig
from accord.ingest.mapping import MappingError
from accord.lake.custom_fields import declare
from accord.lake.store import Lake
from accord.model.schema import STANDARD, CustomField, CustomObject, Schema
from accord.pipeline import run_identity
from accord.sources.state import SourceState
from accord.workspace import Workspace, WorkspaceError

FAST = Limits(calls_per_window=100, window_seconds=0.3, bulk_seconds=0.005)
SINCE = date(2024, 1, 1)


@pytest.fixture
def data(tiny_world: Path) -> MarketoData:
    return MarketoData.from_folder(tiny_world / "marketo")


@pytest.fixture
def server(data: MarketoData) -> Iterator[MarketoServer]:
    with MarketoServer(data, limits=FAST) as running:
        yield running


def client_for(server: MarketoServer, **limits: int | float) -> MarketoClient:
    wanted = MarketoLimits(**{"calls_per_window": 100, "window_seconds": 0.3, **limits})  # type: ignore[arg-type]
    return MarketoClient(server.endpoint, server.client_id, server.client_secret, limits=wanted,
                         poll_seconds=0.005, backoff=0.002)


def source_for(server: MarketoServer, schema: Schema = STANDARD, **config: object) -> MarketoSource:
    settings = {"name": "mkto", **server.connection("env:MKTO_SECRET"), "backfill_since": SINCE, **config}
    return MarketoSource(MarketoSourceConfig.model_validate(settings), client_for(server), schema)


def versions(lake: Lake, entity: str) -> int:
    return int(lake.scalar(f"SELECT count(*) FROM {entity}"))


def test_backfill_reads_every_record_through_windowed_bulk_extracts(server: MarketoServer, data: MarketoData,
                                                                    lake: Lake) -> None:
    report = source_for(server).backfill(lake)
    assert versions(lake, "person") == data.leads.num_rows
    assert versions(lake, "event") == data.activities.num_rows
    assert versions(lake, "campaign") == len(data.programs)
    assert versions(lake, "marketing_list") == len(data.lists)
    assert versions(lake, "marketing_list_member") == sum(len(m) for m in data.list_members.values())
    assert versions(lake, "campaign_member") == data.program_members.num_rows
    windows = -(-(datetime.now(timezone.utc).date() - SINCE).days // 31)
    assert server.count("/bulk/v1/activities/export/create.json") == windows
    assert server.count("/bulk/v1/leads/export/create.json") == windows
    assert report.quarantined() == 0 and not server.lead_writes
    key = lake.scalar("SELECT source_key FROM person LIMIT 1")
    assert key.endswith(f"@{server.munchkin_id}.Marketo")


def test_malformed_export_line_is_quarantined_and_the_rest_loads(server: MarketoServer, data: MarketoData,
                                                                 lake: Lake) -> None:
    bad = int(data.leads["id"][5].as_py())
    server.corrupt_lead_ids = {bad}
    report = source_for(server, entities=["leads"]).backfill(lake)
    assert report.quarantined() == 1
    assert versions(lake, "person") == data.leads.num_rows - 1
    row = lake.query("SELECT reason_code, raw_record FROM quarantine")[0]
    assert row["reason_code"] == "malformed_row" and row["raw_record"].startswith(f"\"{bad}\",")


def test_an_export_that_matched_nothing_may_be_an_empty_file(server: MarketoServer, data: MarketoData,
                                                             lake: Lake) -> None:
    """Windows before the first lead and activity come back as 0-byte files: nothing to load, not an error."""
    server.bare_empty_exports = True
    report = source_for(server, entities=["leads", "activities", "program_members"]).backfill(lake)
    assert versions(lake, "person") == data.leads.num_rows and versions(lake, "event") == data.activities.num_rows
    assert versions(lake, "campaign_member") == data.program_members.num_rows
    assert report.quarantined() == 0 and server.count("/file.json") > len(report.results)


def test_token_expiring_mid_run_is_renewed(server: MarketoServer, data: MarketoData, lake: Lake) -> None:
    expired = []

    def expire_once(what: str, rows: int) -> None:
        if not expired:
            server.expire_tokens()
            expired.append(what)

    source_for(server, entities=["leads", "activities"]).backfill(lake, expire_once)
    assert expired and server.errors_sent.get("602", 0) >= 1
    assert versions(lake, "person") == data.leads.num_rows
    assert versions(lake, "event") == data.activities.num_rows


def test_rate_and_concurrency_refusals_are_retried(server: MarketoServer) -> None:
    client = client_for(server)
    server.fail_next("606", 2)
    server.fail_next("615")
    server.fail_next("604")
    assert len(client.activity_types()) > 10
    assert client.stats.retries == {"606": 2, "615": 1, "604": 1}


def test_client_paces_itself_under_the_servers_rate_limit(data: MarketoData) -> None:
    with MarketoServer(data, limits=Limits(calls_per_window=5, window_seconds=0.4)) as tight:
        client = client_for(tight, calls_per_window=5, window_seconds=0.4)
        for _ in range(16):
            client.lead_fields()
        assert tight.errors_sent == {}
        assert client.pacer.waited >= 1.0


def test_quota_and_bad_credentials_stop_with_clear_errors(server: MarketoServer) -> None:
    client = client_for(server, daily_quota=2)
    client.lead_fields()
    client.lead_fields()
    with pytest.raises(MarketoQuotaError, match="daily quota"):
        client.lead_fields()
    wrong = MarketoClient(server.endpoint, server.client_id, "wrong-secret")
    with pytest.raises(MarketoAuthError, match="refused"):
        wrong.lead_fields()


def test_secret_never_appears_in_logs_or_urls(server: MarketoServer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        client_for(server).lead_fields()
    assert server.client_secret not in caplog.text
    assert server.client_secret not in repr(client_for(server))


def test_interrupted_backfill_resumes_without_reloading_or_duplicating(server: MarketoServer, data: MarketoData,
                                                                       lake: Lake) -> None:
    loaded: list[str] = []

    class Stop(Exception):
        pass

    def stop_after_three(what: str, rows: int) -> None:
        if what.startswith("leads"):
            loaded.append(what)
            if len(loaded) == 3:
                raise Stop

    with pytest.raises(Stop):
        source_for(server, entities=["leads"]).backfill(lake, stop_after_three)
    done = SourceState(lake, f"marketo:{server.munchkin_id}").get("backfill.leads", "done_until")
    assert done is not None
    downloads_before = server.count("/bulk/v1/leads/export/", "GET") - server.count("status.json")
    creates_before = server.count("/bulk/v1/leads/export/create.json")
    source_for(server, entities=["leads"]).backfill(lake)
    assert versions(lake, "person") == data.leads.num_rows
    windows = -(-(datetime.now(timezone.utc).date() - SINCE).days // 31)
    downloads = server.count("/bulk/v1/leads/export/", "GET") - server.count("status.json")
    # The two loaded windows are not downloaded again; jobs already queued are picked up, not created anew.
    assert downloads == windows + 1
    assert server.count("/bulk/v1/leads/export/create.json") == windows
    assert downloads_before == 3 and creates_before < windows


def test_incremental_sync_picks_up_only_new_changes(server: MarketoServer, data: MarketoData, lake: Lake) -> None:
    source = source_for(server)
    source.backfill(lake)
    people, events = versions(lake, "person"), versions(lake, "event")
    quiet = source.sync(lake)
    assert quiet.loaded() == 0
    at = datetime.now(timezone.utc) + timedelta(seconds=2)
    changed = int(data.leads["id"][0].as_py())
    gone = int(data.leads["id"][1].as_py())
    data.upsert_lead({"id": changed, "title": "Chief Revenue Officer"}, at)
    data.upsert_lead({"id": 990001, "email": "new.lead@example.org", "firstName": "New"}, at)
    data.add_activity(changed, 1, at, "https://www.accord-example.com/pricing",
                      {"Webpage URL": "https://www.accord-example.com/pricing"})
    data.delete_lead(gone, at)
    list_id, members = next((k, v) for k, v in data.list_members.items() if v)
    dropped = members.pop(0)
    next(x for x in data.lists if int(x["id"]) == list_id)["updatedAt"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    report = source.sync(lake)
    assert report.loaded("person") == 3 and report.deleted == 2  # the deleted lead, the list membership removed
    assert versions(lake, "person") == people + 3
    assert report.loaded("event") == 3  # the page view, the data change, the new lead
    assert versions(lake, "event") == events + 3
    title = lake.scalar(f"SELECT job_title FROM person_current WHERE source_id = '{changed}'")
    assert title == "Chief Revenue Officer"
    assert lake.scalar(f"SELECT count(*) FROM person_current WHERE source_id = '{gone}'") == 0
    assert lake.scalar("SELECT count(*) FROM marketing_list_member_current WHERE source_id = ?",
                       [f"{list_id}:{dropped}"]) == 0
    assert source.sync(lake).loaded() == 0


def test_an_activity_dated_in_the_future_does_not_carry_the_sync_past_later_changes(
        server: MarketoServer, data: MarketoData, lake: Lake) -> None:
    """Custom activities take any date an integration gives them; a typo of 2099 must not end the syncing."""
    source = source_for(server)
    source.backfill(lake)
    lead = int(data.leads["id"][0].as_py())
    data.add_activity(lead, 100001, datetime(2099, 1, 1, tzinfo=timezone.utc), "Spring campaign ad")
    assert source.sync(lake).loaded("event") == 1
    data.upsert_lead({"id": lead, "title": "VP Marketing"}, datetime.now(timezone.utc) + timedelta(seconds=2))
    later = source.sync(lake)
    assert later.loaded("person") == 1 and later.loaded("event") == 1  # the change; the 2099 ad click is held
    assert lake.scalar(f"SELECT job_title FROM person_current WHERE source_id = '{lead}'") == "VP Marketing"


@pytest.mark.parametrize(("attributes", "ids"), [
    ([{"name": "Merge ids", "value": [12, 13]}], ["12", "13"]),
    ([{"name": "Merge IDs", "value": "[12, 13]"}], ["12", "13"]),
    ([{"name": "Merged in Sales", "value": False}, {"name": "Merge Ids", "value": "12"}], ["12"]),
    ([{"name": "Merge ids", "value": ["12", "x", None]}], ["12"]),
    ([{"name": "Merge Source", "value": "Web"}], []),
    ([], []),
])
def test_the_leads_a_merge_names_are_read_whatever_shape_their_list_has(attributes: list, ids: list) -> None:
    from accord.connectors.marketo.source import merged_ids

    assert merged_ids({"leadId": 1, "attributes": attributes}) == ids


def test_merges_of_merges_end_at_the_last_winner() -> None:
    from accord.connectors.marketo.source import merged_into

    def merge(winner: int, losers: list[int], day: int) -> dict:
        return {"leadId": winner, "activityDate": f"2026-11-0{day}T00:00:00Z",
                "attributes": [{"name": "Merge ids", "value": losers}]}

    went = merged_into([merge(3, [2], 2), merge(2, [1], 1), merge(4, [4], 3)])
    assert went == {"1": ("3", "2026-11-01T00:00:00Z"), "2": ("3", "2026-11-02T00:00:00Z")}


def test_a_merge_in_marketo_leaves_one_person_holding_both_leads_history(server: MarketoServer, data: MarketoData,
                                                                        lake: Lake) -> None:
    """Marketo deletes a merged-away lead without a Delete Lead activity and moves its history to the winner: the
    loser's record joins the winner's person, with its events, and holds no Marketo id of its own."""
    from accord.identity.config import IdentityConfig
    from accord.pipeline import run_identity
    from accord.profiles.lookup import find_profile_id

    source = source_for(server)
    source.backfill(lake)
    run_identity(lake, IdentityConfig())
    with_events = lake.query(
        "SELECT p.source_id, count(*) AS n FROM person_current p JOIN event e ON e.person_key = p.source_key "
        "GROUP BY ALL ORDER BY n DESC, p.source_id LIMIT 2")
    winner, loser = (int(r["source_id"]) for r in with_events)
    mid = server.munchkin_id
    people = lake.scalar("SELECT count(*) FROM person_profile")

    def events_of(lead: int) -> int:
        person = find_profile_id(lake, "person", f"marketo_lead_id:{mid}:{lead}")
        return int(lake.scalar("SELECT count(*) FROM event e JOIN identity_nodes n ON n.value = e.person_key "
                               "AND n.namespace = 'b2b_person' WHERE n.profile_id = ?", [person]))

    before = events_of(winner) + events_of(loser)
    data.merge_leads(winner, [loser], datetime.now(timezone.utc) + timedelta(seconds=2))
    report = source.sync(lake)
    assert report.merged == 1 and report.deleted == 0
    assert lake.scalar("SELECT merged_into_key FROM person_current WHERE source_id = ?", [str(loser)]) == \
        f"{winner}@{mid}.Marketo"
    for full in (False, True):
        run_identity(lake, IdentityConfig(), full=full)
        person = find_profile_id(lake, "person", f"marketo_lead_id:{mid}:{winner}")
        held = lake.query("SELECT namespace, value FROM identity_nodes WHERE profile_id = ?", [person])
        assert {"namespace": "b2b_person", "value": f"{loser}@{mid}.Marketo"} in held
        assert [r["value"] for r in held if r["namespace"] == "marketo_lead_id"] == [f"{mid}:{winner}"]
        assert lake.scalar("SELECT count(*) FROM person_profile") == people - 1
        assert events_of(winner) == before
    again = source.sync(lake)
    assert again.merged == 0 and again.loaded() == 0
    data.delete_lead(winner, datetime.now(timezone.utc) + timedelta(seconds=4))
    assert source.sync(lake).deleted == 2  # the merged-away lead went with the lead it had joined
    assert lake.scalar("SELECT count(*) FROM person_current WHERE list_contains(?, source_id)",
                       [[str(winner), str(loser)]]) == 0


def test_deletions_marketo_no_longer_shows_are_found_by_comparing_lead_ids(server: MarketoServer, data: MarketoData,
                                                                          lake: Lake) -> None:
    """Marketo may prune deletions older than 14 days: after a longer pause a sync compares lead ids instead."""
    source = source_for(server)
    source.backfill(lake)
    gone, kept = int(data.leads["id"][1].as_py()), int(data.leads["id"][2].as_py())
    data.delete_lead(gone, datetime.now(timezone.utc) - timedelta(days=16))
    state = SourceState(lake, f"marketo:{server.munchkin_id}")
    state.put("sync", "since", (datetime.now(timezone.utc) - timedelta(days=20)).isoformat())
    report = source.sync(lake)
    assert report.deleted == 1
    assert lake.scalar("SELECT count(*) FROM person_current WHERE source_id = ?", [str(gone)]) == 0
    assert lake.scalar("SELECT count(*) FROM person_current") == data.leads.num_rows
    exports = server.count("/bulk/v1/leads/export/create.json")
    data.delete_lead(kept, datetime.now(timezone.utc) - timedelta(days=16))
    assert source.sync(lake).deleted == 0, "compared a moment ago: not again until deletions could be pruned"
    assert server.count("/bulk/v1/leads/export/create.json") == exports


def test_a_comparison_that_would_delete_most_leads_is_refused(server: MarketoServer, data: MarketoData,
                                                             lake: Lake) -> None:
    source = source_for(server)
    source.backfill(lake)
    held = data.leads.num_rows
    data.leads = data.leads.slice(0, 1)  # what a user who lost access to most partitions would see
    SourceState(lake, f"marketo:{server.munchkin_id}").put(
        "sync", "since", (datetime.now(timezone.utc) - timedelta(days=20)).isoformat())
    with pytest.raises(ConnectorError, match=rf"leads: {held - 1:,} of the {held:,} records Accord holds"):
        source.sync(lake)
    assert lake.scalar("SELECT count(*) FROM person_current") == held


def test_sync_pages_through_thousands_of_activities(server: MarketoServer, data: MarketoData, lake: Lake) -> None:
    state = SourceState(lake, f"marketo:{server.munchkin_id}")
    state.put("backfill", "completed_at", "2026-01-01T00:00:00+00:00")
    state.put("sync", "since", "2024-01-01T00:00:00+00:00")
    report = source_for(server, entities=["activities"]).sync(lake)
    assert data.activities.num_rows > 3000
    assert versions(lake, "event") == data.activities.num_rows == report.loaded("event")
    assert server.count("/rest/v1/activities.json") >= data.activities.num_rows // 300


def test_a_page_token_that_does_not_move_on_stops_the_sync_not_the_quota(server: MarketoServer, lake: Lake) -> None:
    """Asked again with the token it sent, Marketo would send the same page until the day's 50,000 calls are gone."""
    state = SourceState(lake, f"marketo:{server.munchkin_id}")
    state.put("backfill", "completed_at", "2026-01-01T00:00:00+00:00")
    state.put("sync", "since", "2024-01-01T00:00:00+00:00")
    server.stuck_paging = True
    with pytest.raises(ConnectorError, match="moreResult true with the nextPageToken it was sent"):
        source_for(server, entities=["activities"]).sync(lake)
    assert server.count("/rest/v1/activities.json") == 1


def test_an_export_marketo_never_runs_fails_the_sync_and_the_next_picks_it_up(server: MarketoServer,
                                                                              data: MarketoData, lake: Lake) -> None:
    """Polled with no upper bound, an export stuck in Marketo's queue held the backfill for good."""
    server.limits.bulk_seconds = 3600.0
    with pytest.raises(ConnectorError, match=r"export \S+ is still Processing after 0\.0 minutes \(bulk_wait_minutes"):
        source_for(server, bulk_wait_minutes=0.001).backfill(lake)
    created = server.count("/bulk/v1/leads/export/create.json")
    server.limits.bulk_seconds = 0.0
    source_for(server, bulk_wait_minutes=0.001).backfill(lake)
    assert versions(lake, "person") == data.leads.num_rows
    assert created >= 1 and server.count("/bulk/v1/leads/export/create.json") > created


def two_instance_workspace(tmp_path: Path, servers: list[MarketoServer], sandboxes: list[list[str]]) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    config = {
        **ws.config.model_dump(mode="json"), "sandboxes": ["prod", "dev"],
        "sources": [{"type": "marketo", "name": f"mkto-{i}", **s.connection("env:MKTO_SECRET"), "sandboxes": boxes,
                     "backfill_since": "2026-08-15", "bulk_poll_seconds": 0.01, "calls_per_20s": 5000}
                    for i, (s, boxes) in enumerate(zip(servers, sandboxes))],
    }
    (ws.root / "accord.yaml").write_text(yaml.safe_dump(config))
    return Workspace.load(ws.root)


def test_two_instances_into_one_workspace_never_collide(tmp_path: Path, data: MarketoData,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MKTO_SECRET", "accord-secret")
    with MarketoServer(data, limits=FAST) as one, \
            MarketoServer(data, munchkin_id="987-XYZ-654", limits=FAST) as two:
        ws = two_instance_workspace(tmp_path, [one, two], [["prod"], ["prod"]])
        result = CliRunner().invoke(app, ["sync", "marketo", "-w", str(ws.root)])
        assert result.exit_code == 0, result.output
        with ws.lake("prod") as lake:
            per_instance = dict(lake.execute(
                "SELECT source_instance_id, count(*) FROM person GROUP BY 1").fetchall())
    assert set(per_instance) == {"123-ABC-456", "987-XYZ-654"}
    assert per_instance["123-ABC-456"] == per_instance["987-XYZ-654"] > 0
    assert "mkto-0 → prod: backfill" in result.output and "mkto-1 → prod: backfill" in result.output


def test_one_instance_feeds_two_sandboxes(tmp_path: Path, server: MarketoServer,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MKTO_SECRET", "accord-secret")
    ws = two_instance_workspace(tmp_path, [server], [["prod", "dev"]])
    runner = CliRunner()
    assert runner.invoke(app, ["sync", "marketo", "-w", str(ws.root)]).exit_code == 0
    counts = {}
    for sandbox in ("prod", "dev"):
        with ws.lake(sandbox) as lake:
            counts[sandbox] = versions(lake, "person")
    assert counts["prod"] == counts["dev"] > 0
    again = runner.invoke(app, ["sync", "marketo", "-w", str(ws.root), "-s", "dev"])
    assert again.exit_code == 0 and "mkto-0 → dev: sync, 0 records loaded" in again.output
    winner, loser = (int(v) for v in server.data.leads["id"][:2].to_pylist())
    server.data.merge_leads(winner, [loser], datetime.now(timezone.utc) + timedelta(seconds=2))
    merged = runner.invoke(app, ["sync", "marketo", "-w", str(ws.root), "-s", "dev"], env={"COLUMNS": "200"})
    assert merged.exit_code == 0 and "0 deleted, 1 merged;" in merged.output, merged.output
    listed = runner.invoke(app, ["sources", "list", "-w", str(ws.root)])
    assert listed.output.count("mkto-0") == 2 and "never" not in listed.output
    checked = runner.invoke(app, ["sources", "check", "-w", str(ws.root)])
    assert checked.exit_code == 0 and "mkto-0: ok" in checked.output and "lead fields" in checked.output


def test_validator_refuses_one_instance_twice_in_a_sandbox(tmp_path: Path, server: MarketoServer) -> None:
    with pytest.raises(WorkspaceError, match="configured twice for sandbox .prod.*ingested twice"):
        two_instance_workspace(tmp_path, [server, server], [["prod"], ["dev", "prod"]])
    with pytest.raises(ValueError, match="never the value itself"):
        MarketoSourceConfig(name="m", munchkin_id="123-ABC-456", endpoint="http://x", client_id="c",
                            client_secret="plain-secret")


def test_check_reports_a_failing_connection(tmp_path: Path, server: MarketoServer,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MKTO_SECRET", "not-the-secret")
    ws = two_instance_workspace(tmp_path, [server], [["prod"]])
    checked = CliRunner().invoke(app, ["sources", "check", "-w", str(ws.root)])
    assert checked.exit_code == 1 and "mkto-0: failed" in checked.output and "refused" in checked.output
    assert "not-the-secret" not in checked.output


def test_crm_objects_are_read_by_lookup_when_asked_for(server: MarketoServer, data: MarketoData, lake: Lake) -> None:
    """Companies and named accounts by the leads' company names; roles by lead id; opportunities by their ids."""
    entities = ["leads", "companies", "named_accounts", "opportunities"]
    report = source_for(server, entities=entities).backfill(lake)
    names = {n for n in data.leads["company"].to_pylist() if n}
    companies = [c for c in data.companies if c["company"] in names]
    named = [a for a in data.named_accounts if a["name"] in names]
    assert versions(lake, "account") == len(companies) + len(named) > 0
    assert versions(lake, "opportunity_person") == len(data.opportunity_roles) > 0
    expected = {r["externalOpportunityId"] for r in data.opportunity_roles}
    assert {r[0] for r in lake.execute("SELECT source_id FROM opportunity").fetchall()} == expected
    assert lake.scalar("SELECT count(*) FROM account WHERE crm_account_id IS NOT NULL") == len(companies)
    assert report.quarantined() == 0
    assert server.count("/rest/v1/opportunities/roles.json") >= 2  # more leads than 300: several lookups
    assert source_for(server, entities=entities).sync(lake).loaded() == 0
    assert "companies" not in MarketoSourceConfig(name="m", munchkin_id="123-ABC-456", endpoint="http://x",
                                                  client_id="c", client_secret="env:S").entities


def test_declared_custom_lead_fields_marketo_describes_are_exported(data: MarketoData, lake: Lake) -> None:
    """A custom lead field (REST name buyingRole) comes through the bulk lead export once it is declared."""
    roles = pa.array([["Champion", None, "Economic Buyer"][i % 3] for i in range(data.leads.num_rows)])
    data.leads = data.leads.append_column("buyingRole", roles)
    schema = Schema((CustomField(entity="person", name="buyingRole", label="Buying Role"),))
    declare(lake, schema.custom)
    with MarketoServer(data, limits=FAST) as server:
        settings = {"name": "mkto", **server.connection("env:MKTO_SECRET"), "backfill_since": SINCE}
        MarketoSource(MarketoSourceConfig.model_validate(settings), client_for(server), schema).backfill(lake)
    got = dict(lake.execute('SELECT "buyingRole", count(*) FROM person_current GROUP BY 1').fetchall())
    assert got == {"Champion": roles.to_pylist().count("Champion"), None: roles.null_count,
                   "Economic Buyer": roles.to_pylist().count("Economic Buyer")}


CARS = CustomObject(name="car_c", related_to="person", relation_column="leadId",
                    fields=[{"name": "vin"}, {"name": "model"}, {"name": "year", "type": "integer"}])


def test_a_declared_field_marketo_spells_otherwise_is_read(data: MarketoData, lake: Lake) -> None:
    roles = pa.array([["Champion", None][i % 2] for i in range(data.leads.num_rows)], pa.string())
    data.leads = data.leads.append_column("buyingRole", roles)
    schema = Schema((CustomField(entity="person", name="BuyingRole"), CustomField(entity="person", name="Region")))
    declare(lake, schema.custom)
    with MarketoServer(data, limits=FAST) as server:
        found = source_for(server, schema, entities=["leads"]).check()
        source_for(server, schema, entities=["leads"]).backfill(lake)
    assert found["declared person fields the lead describe lacks (Region)"] == 1
    assert lake.scalar("SELECT count(*) FROM person_current WHERE BuyingRole = 'Champion'") == roles.to_pylist().count(
        "Champion") > 0


def test_a_declared_custom_object_of_leads_is_backfilled_synced_and_audienced(data: MarketoData, lake: Lake,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Cars linked to leads by id: read by the link field 300 leads a call (loaded a few records a batch here),
    changed and removed ones followed for the leads a sync re-reads, a merged-away lead's car followed to the
    winner, and usable in audiences."""
    monkeypatch.setattr(marketo_source, "OBJECT_ROWS_PER_BATCH", 2)
    ids = sorted(str(i) for i in data.leads["id"].to_pylist())  # as the source asks for them: 300 a call
    leads = [int(ids[i]) for i in (0, 1, 300, 301, 2)]
    at = datetime.now(timezone.utc)
    cars = CustomObjectType("car_c", {"vin": "string", "model": "string", "year": "integer", "color": "string"})
    for guid, lead, year in (("c-0", leads[0], 2019), ("c-0b", leads[0], 2021), ("c-1", leads[1], 2022),
                             ("c-2", leads[2], 2023), ("c-3", leads[3], 2024), ("c-5", leads[4], 2020),
                             ("c-6", leads[4], 2025)):
        cars.upsert({"marketoGUID": guid, "leadId": lead, "vin": f"VIN-{guid}", "model": "Ünïcode “Roadster”",
                     "year": year, "color": "red"}, at)
    data.custom_objects["car_c"] = cars
    schema = Schema(tuple(CARS.custom_fields()), (CARS,))
    declare(lake, schema.custom, schema.objects)
    with MarketoServer(data, limits=FAST) as server:
        source = source_for(server, schema, custom_objects=["car_c"])
        assert source.check()["car_c fields (linked to leads by leadId)"] == 6  # with its id, link and time
        report = source.backfill(lake)
        suffix = f"@{server.munchkin_id}.Marketo"

        def cars_held() -> dict[str, tuple[str, int]]:
            return {r["source_id"]: (r["person_key"], r["year"]) for r in lake.query(
                'SELECT source_id, person_key, "year" FROM "car_c_current"')}

        assert cars_held() == {"c-0": (f"{leads[0]}{suffix}", 2019), "c-0b": (f"{leads[0]}{suffix}", 2021),
                               "c-1": (f"{leads[1]}{suffix}", 2022), "c-2": (f"{leads[2]}{suffix}", 2023),
                               "c-3": (f"{leads[3]}{suffix}", 2024), "c-5": (f"{leads[4]}{suffix}", 2020),
                               "c-6": (f"{leads[4]}{suffix}", 2025)}
        assert report.loaded("car_c") == 7 and report.quarantined() == 0
        assert [r.loaded for r in report.results if r.entity == "car_c"] == [5, 2]  # loaded as pages came
        assert lake.scalar("SELECT model FROM \"car_c_current\" WHERE source_id = 'c-1'") == "Ünïcode “Roadster”"
        assert server.count("/rest/v1/customobjects/car_c.json") == -(-data.leads.num_rows // 300) >= 2
        assert not server.lead_writes

        later = datetime.now(timezone.utc) + timedelta(seconds=2)
        cars.upsert({"marketoGUID": "c-1", "year": 2031}, later)
        cars.delete("c-0b")
        for lead in leads[:2]:  # Marketo logs no activity for a custom object: the sync sees them with their leads
            data.upsert_lead({"id": lead, "title": f"Driver {lead}"}, later)
        data.merge_leads(leads[3], [leads[2]], later)
        report = source.sync(lake)
        assert cars_held() == {"c-0": (f"{leads[0]}{suffix}", 2019), "c-1": (f"{leads[1]}{suffix}", 2031),
                               "c-2": (f"{leads[3]}{suffix}", 2023), "c-3": (f"{leads[3]}{suffix}", 2024),
                               "c-5": (f"{leads[4]}{suffix}", 2020), "c-6": (f"{leads[4]}{suffix}", 2025)}
        assert report.deleted == 1 and report.merged == 1
        assert source.sync(lake).loaded() == 0

        cars.upsert({"marketoGUID": "c-5", "year": 2040}, later)  # changed and removed with no change to a lead:
        cars.delete("c-6")  # seen when every lead's records are read again, every reread_objects_days
        report = source.sync(lake)
        assert report.loaded("car_c") == 0 and report.deleted == 0
        week_ago = datetime.now(timezone.utc) - timedelta(days=7, minutes=1)
        SourceState(lake, source.config.state_key).put("objects", "read_at", week_ago.isoformat())
        calls = server.count("/rest/v1/customobjects/car_c.json")
        report = source.sync(lake)
        held = lake.scalar("SELECT count(*) FROM person_current WHERE source_type = 'Marketo'")
        assert server.count("/rest/v1/customobjects/car_c.json") == calls + -(-held // 300)  # every lead once
        assert cars_held() == {"c-0": (f"{leads[0]}{suffix}", 2019), "c-1": (f"{leads[1]}{suffix}", 2031),
                               "c-2": (f"{leads[3]}{suffix}", 2023), "c-3": (f"{leads[3]}{suffix}", 2024),
                               "c-5": (f"{leads[4]}{suffix}", 2040)}
        assert report.deleted == 1 and source.sync(lake).loaded("car_c") == 0

    run_identity(lake, IdentityConfig())
    evaluate(lake, [parse_audience('audience "new cars" of person where any car_c (year >= 2024)', schema)], later)
    members = {r[0] for r in lake.execute(
        "SELECT n.value FROM audience_membership m JOIN identity_nodes n ON n.profile_id = m.profile_id "
        "WHERE m.status <> 'exited' AND n.namespace = 'b2b_person' AND n.value LIKE '%.Marketo'").fetchall()}
    assert members == {f"{leads[1]}{suffix}", f"{leads[2]}{suffix}", f"{leads[3]}{suffix}", f"{leads[4]}{suffix}"}


def test_a_backfill_stopped_by_the_daily_quota_while_reading_custom_objects_ends_at_the_next_sync(
        data: MarketoData, lake: Lake) -> None:
    """Reading custom objects costs a call per 300 leads, so Marketo's daily quota can run out there: the backfill
    stops with Marketo's error, and the next sync finishes it, every record loaded once."""
    ids = sorted(str(i) for i in data.leads["id"].to_pylist())
    cars = CustomObjectType("car_c", {"vin": "string", "model": "string", "year": "integer"})
    for n, lead in enumerate((ids[0], ids[301], ids[5], ids[302])):
        cars.upsert({"marketoGUID": f"c-{n}", "leadId": int(lead), "vin": f"VIN-{n}", "model": "Coupé",
                     "year": 2020 + n}, datetime.now(timezone.utc))
    data.custom_objects["car_c"] = cars
    schema = Schema(tuple(CARS.custom_fields()), (CARS,))
    declare(lake, schema.custom, schema.objects)
    with MarketoServer(data, limits=FAST) as server:
        source = source_for(server, schema, custom_objects=["car_c"])
        server.fail_next("607", 1, "/customobjects/car_c.json")
        with pytest.raises(ConnectorError, match="607"):
            source.backfill(lake)
        assert versions(lake, "car_c") == 0 and versions(lake, "person") > 0
        assert source.sync(lake).mode == "backfill"
        assert {r[0] for r in lake.execute("SELECT source_id FROM car_c_current").fetchall()} == {
            "c-0", "c-1", "c-2", "c-3"}
        assert versions(lake, "car_c") == 4 and source.sync(lake).loaded("car_c") == 0


BADGES = CustomObject(name="badge_c", related_to="person", relation_column="email", fields=[{"name": "level"}])


def email_badges(data: MarketoData, lake: Lake, at: datetime,
                 badges: list[tuple[str, str, str]]) -> tuple[CustomObjectType, Schema]:
    """Badges (guid, e-mail address, level) linked to leads by e-mail in the local Marketo, declared in the lake."""
    kind = CustomObjectType("badge_c", {"level": "string"}, link="email", links_to="email")
    for guid, address, level in badges:
        kind.upsert({"marketoGUID": guid, "email": address, "level": level}, at)
    data.custom_objects["badge_c"] = kind
    schema = Schema(tuple(BADGES.custom_fields()), (BADGES,))
    declare(lake, schema.custom, schema.objects)
    return kind, schema


def test_a_custom_object_linked_by_email_goes_to_the_lead_holding_the_address(data: MarketoData, lake: Lake) -> None:
    """Badges linked to leads by e-mail, as most Marketo custom objects are: asked for by the leads' addresses and
    matched regardless of case; an address two leads share gives its badges to the one changed last (never to
    both); a lead whose address changed holds the new address's badges and no longer the old one's; a deleted
    lead's badges are deleted with it."""
    at = datetime.now(timezone.utc) - timedelta(hours=1)
    ids = [int(i) for i in data.leads["id"].to_pylist()[:4]]
    email = {int(r["id"]): r["email"] for r in data.leads.to_pylist() if int(r["id"]) in ids}
    data.upsert_lead({"id": ids[3], "email": email[ids[2]]}, at)  # a duplicate, changed after the lead it copies
    badges, schema = email_badges(data, lake, at, [
        ("b-0", email[ids[0]].upper(), "gold"), ("b-1", email[ids[1]], "silver"), ("b-2", email[ids[2]], "gold"),
        ("b-x", "nobody@elsewhere.example", "gold")])
    with MarketoServer(data, limits=FAST) as server:
        source = source_for(server, schema, custom_objects=["badge_c"])
        report = source.backfill(lake)
        suffix = f"@{server.munchkin_id}.Marketo"

        def badges_held() -> dict[str, str]:
            return {r["source_id"]: r["person_key"].removesuffix(suffix) for r in lake.query(
                'SELECT source_id, person_key FROM "badge_c_current"')}

        assert badges_held() == {"b-0": str(ids[0]), "b-1": str(ids[1]), "b-2": str(ids[3])}
        assert report.loaded("badge_c") == 3 and report.quarantined() == 0

        later = datetime.now(timezone.utc)
        data.upsert_lead({"id": ids[1], "email": "Moved.Here@new-address.example"}, later)
        badges.upsert({"marketoGUID": "b-1n", "email": "moved.here@new-address.example", "level": "gold"}, later)
        report = source.sync(lake)
        assert badges_held() == {"b-0": str(ids[0]), "b-1n": str(ids[1]), "b-2": str(ids[3])}
        assert report.deleted == 1 and source.sync(lake).loaded("badge_c") == 0
        data.delete_lead(ids[0], later)  # Marketo deletes a lead's records with it
        assert source.sync(lake).deleted == 2
        assert badges_held() == {"b-1n": str(ids[1]), "b-2": str(ids[3])}
        assert not server.lead_writes

    run_identity(lake, IdentityConfig())
    evaluate(lake, [parse_audience('audience "gold" of person where any badge_c (level = "gold")', schema)], later)
    members = {r[0] for r in lake.execute(
        "SELECT profile_id FROM audience_membership WHERE status <> 'exited'").fetchall()}
    holders = {r[0] for r in lake.execute(
        "SELECT profile_id FROM identity_nodes WHERE namespace = 'b2b_person' AND list_contains($keys, value)",
        {"keys": [f"{ids[i]}{suffix}" for i in (1, 3)]}).fetchall()}
    assert members == holders and len(holders) == 2


def test_a_lead_whose_link_value_marketo_cannot_be_asked_for_is_quarantined_not_skipped(data: MarketoData,
                                                                                       lake: Lake) -> None:
    """Marketo takes the values asked for as a comma-separated list: a lead whose address holds a comma (a quoted
    local part may) cannot have its badges asked for. It goes to quarantine naming the lead, once."""
    at = datetime.now(timezone.utc) - timedelta(hours=1)
    ids = [int(i) for i in data.leads["id"].to_pylist()[:2]]
    address = '"smith,j"@acme.example'
    data.upsert_lead({"id": ids[0], "email": address}, at)
    email = {int(r["id"]): r["email"] for r in data.leads.to_pylist() if int(r["id"]) in ids}
    _, schema = email_badges(data, lake, at, [("b-0", address, "gold"), ("b-1", email[ids[1]], "gold")])
    with MarketoServer(data, limits=FAST) as server:
        source = source_for(server, schema, custom_objects=["badge_c"])
        report = source.backfill(lake)
        assert report.loaded("badge_c") == 1 and report.quarantined() == 1
        (row,) = lake.quarantine(reason="unaskable_link")
        assert row["entity"] == "badge_c" and json.loads(row["raw_record"]) == {"leadId": str(ids[0]), "email": address}
        assert "records of a lead whose email holds a comma cannot be read" in row["reason"]
        data.upsert_lead({"id": ids[0], "firstName": "Jo"}, datetime.now(timezone.utc))
        assert source.sync(lake).quarantined() == 0 and len(lake.quarantine(reason="unaskable_link")) == 1


def test_custom_objects_marketo_cannot_read_as_declared_are_refused_clearly(data: MarketoData, lake: Lake) -> None:
    data.custom_objects["badge_c"] = CustomObjectType("badge_c", {"level": "string"}, link="crm", links_to="siebelId")
    data.custom_objects["plant_c"] = CustomObjectType("plant_c", link="companyId", parent="Company")
    fleet = CustomObject(name="fleet_c", related_to="account", relation_column="companyId")
    plant = CustomObject(name="plant_c", related_to="person", relation_column="companyId")
    schema = Schema((), (CARS, BADGES, fleet, plant))
    declare(lake, schema.custom, schema.objects)
    with MarketoServer(data, limits=FAST) as server:
        def source(*objects: str) -> MarketoSource:
            return source_for(server, schema, custom_objects=list(objects))

        with pytest.raises(MappingError, match="reads custom object 'truck_c', which is not declared"):
            source("truck_c")
        with pytest.raises(MappingError, match="declared related_to account.*related_to: person"):
            source("fleet_c")
        with pytest.raises(MappingError, match="badge_c .*linked to leads by siebelId, which Accord does not keep: "
                                               "declare siebelId as a custom field of person"):
            source("badge_c").check()
        by_company = r"plant_c .*not linked to leads \(its links: companyId → Company.id\)"
        with pytest.raises(MappingError, match=by_company):
            source("plant_c").check()
        with pytest.raises(ConnectorError, match="1013.*car_c"):
            source("car_c").check()
        schema = Schema((CustomField(entity="person", name="siebelId"),), schema.objects)
        assert source("badge_c").check()["badge_c fields (linked to leads by crm)"] == 3  # once the field is kept
        data.custom_objects["badge_c"] = CustomObjectType("badge_c", link="contact", links_to="sfdcContactId")
        assert source("badge_c").check()["badge_c fields (linked to leads by contact)"] == 3  # a CRM id Accord keeps


def test_custom_activity_types_are_told_by_name_not_by_the_ids_each_instance_gives_them(data: MarketoData,
                                                                                      lake: Lake) -> None:
    """In this instance 100001 is Visit Booth (not the generator's Click Ad), Click Ad is 100007, and Start Trial
    is named by the source's settings: each becomes its own event type, in the backfill and in syncs."""
    booth = int(pc.sum(pc.equal(data.activities["activityTypeId"], "100001")).as_py())
    data.type_catalog = {i: t for i, t in data.type_catalog.items() if i < 100_000} | {
        100001: ("Visit Booth", "Booth"), 100007: ("Click Ad", "Ad"), 100009: ("Start Trial", "Product")}
    lead = int(data.leads["id"][0].as_py())
    at = datetime(2026, 11, 2, tzinfo=timezone.utc)
    data.add_activity(lead, 100007, at, "Retargeting Q4", {"Ad Network": "LinkedIn"})
    data.add_activity(lead, 100009, at, "Accord Cloud", {"Plan": "Trial ✓ 30 days"})
    with MarketoServer(data, limits=FAST) as server:
        settings = {"name": "mkto", **server.connection("env:MKTO_SECRET"), "backfill_since": SINCE,
                    "custom_activities": {"startTrial": "product.trial_started"}}
        source = MarketoSource(MarketoSourceConfig.model_validate(settings), client_for(server))
        source.backfill(lake)

        def counted() -> dict[str, int]:
            return dict(lake.execute("SELECT event_type, count(*) FROM event WHERE event_type IN "
                                     "('marketo.visit_booth', 'ad.click', 'product.trial_started', 'webinar.attend') "
                                     "GROUP BY 1").fetchall())

        assert booth > 0 and counted() == {"marketo.visit_booth": booth, "ad.click": 1, "product.trial_started": 1}
        plan = lake.scalar("SELECT properties->>'plan' FROM event WHERE event_type = 'product.trial_started'")
        assert plan == "Trial ✓ 30 days"
        data.add_activity(lead, 100001, datetime.now(timezone.utc) + timedelta(seconds=2), "Booth 12", {})
        assert source.sync(lake).loaded("event") == 1
        assert counted()["marketo.visit_booth"] == booth + 1


def test_custom_event_types_follow_settings_then_names() -> None:
    types = [{"id": 13, "name": "Change Data Value"}, {"id": 100001, "name": "Visit Booth", "apiName": "visitBooth_c"},
             {"id": 100002, "name": "Start Trial", "apiName": "startTrial"},
             {"id": 100003, "name": "✓✓", "apiName": ""}]
    assert custom_event_types(types, {"startTrial": "product.trial"}) == {
        100001: "marketo.visit_booth", 100002: "product.trial", 100003: "marketo.type_100003"}


def workspace_syncing(server: MarketoServer, tmp_path: Path) -> Workspace:
    """A new workspace whose one source, `mkto`, reads `server`."""
    ws = Workspace.init(tmp_path / "ws")
    (ws.root / "mkto.secret").write_text(server.client_secret)
    config = yaml.safe_load((ws.root / "accord.yaml").read_text())
    config["sources"] = [{"type": "marketo", "name": "mkto", **server.connection("file:mkto.secret"),
                          "backfill_since": "2026-09-01", "bulk_poll_seconds": 0.01}]
    (ws.root / "accord.yaml").write_text(yaml.safe_dump(config))
    return Workspace.load(ws.root)


def test_two_syncs_of_one_source_at_once_take_turns(server: MarketoServer, tmp_path: Path) -> None:
    """A relayed `accord sync` beside serve's own sync of the source: both read the same cursor, and both exported
    and loaded the whole backfill."""
    import threading

    from accord.sources.sync import run_source

    ws = workspace_syncing(server, tmp_path)
    ws.lake().close()
    reports: list = []
    failed: list[BaseException] = []

    def sync() -> None:
        try:
            reports.extend(run_source(ws, ws.config.sources[0]))
        except Exception as err:  # noqa: BLE001 - what the assertion shows
            failed.append(err)

    syncs = [threading.Thread(target=sync) for _ in range(2)]
    for sync in syncs:
        sync.start()
    for sync in syncs:
        sync.join(timeout=120)
    assert failed == [] and sorted(r.mode for r in reports) == ["backfill", "sync"], (failed, reports)
    assert sorted(r.loaded() > 0 for r in reports) == [False, True], "the second found what the first loaded"


def test_a_relayed_sync_that_waits_for_serves_own_says_so_as_it_waits(server: MarketoServer, tmp_path: Path) -> None:
    """Relayed to serve, `accord sync` behind serve's own sync of the source says at once why it waits (its output
    streams back as written); a command relayed behind it says what it waits for; both then run."""
    import base64
    import threading

    from accord.api import relay
    from accord.lake.turns import writing

    ws = workspace_syncing(server, tmp_path)
    env = {"ACCORD_WORKSPACE": str(ws.root), "COLUMNS": "200"}
    answers: dict[str, list[dict]] = {"sync": [], "status": []}
    heard = {name: threading.Event() for name in answers}

    def relayed(name: str, argv: list[str]) -> None:
        for line in relay.execute(argv, env):
            answers[name].append(json.loads(line))
            heard[name].set()

    def said(name: str) -> str:
        return b"".join(base64.b64decode(p["bytes"]) for p in answers[name] if "bytes" in p).decode()

    with ws.lake() as lake, writing(lake, ["source mkto"]):  # serve's own sync, under way
        sync = threading.Thread(target=relayed, args=("sync", ["sync", "marketo", "--name", "mkto"]))
        sync.start()
        assert heard["sync"].wait(30), "the relayed sync said nothing while it waited"
        assert "waiting: accord serve is syncing mkto now" in said("sync")
        assert not any("exit_code" in p for p in answers["sync"])
        status = threading.Thread(target=relayed, args=("status", ["status"]))
        status.start()
        assert heard["status"].wait(30)
        assert said("status") == "waiting: accord serve is running `accord sync`; this command starts when it ends\n"
    for thread in (sync, status):
        thread.join(timeout=120)
    assert answers["sync"][-1] == {"exit_code": 0}, said("sync")
    assert "mkto → prod: backfill" in said("sync")
    assert answers["status"][-1] == {"exit_code": 0} and "Pipeline stages" in said("status")
