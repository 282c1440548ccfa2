"""The CLI end to end: demo, status, ingest with a mapping, quarantine, sandboxes, XDM export and import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.cli import app
from accord.workspace import Workspace
from tests.conftest import write_csv

runner = CliRunner()


def run(*args: str, ok: bool = True):
    result = runner.invoke(app, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo") / "accord-demo"
    run("demo", "--workspace", str(folder), "--scale", "tiny")
    return folder


def test_demo_leaves_an_explorable_workspace(demo_ws) -> None:
    with Workspace.load(demo_ws).lake() as lake:
        counts = lake.counts()
        assert all(counts[e]["current"] > 0 for e in counts)
        assert lake.scalar("SELECT min(batch_id) FROM batches") == 1
    out = run("status", "--workspace", str(demo_ws)).output
    assert "opportunity_person" in out and "Latest batches" in out


def test_a_demo_never_replaces_a_workspace_it_did_not_make(tmp_path, demo_ws) -> None:
    """Any folder holding accord.yaml was deleted and made a demo: a real workspace's store, secrets, audiences."""
    real = Workspace.init(tmp_path / "acme")
    (real.root / "audiences" / "mine.aud").write_text('audience "Mine" of person where email ends with "@acme.com"\n')
    refused = run("demo", "--workspace", str(real.root), "--scale", "tiny", ok=False)
    assert refused.exit_code == 1 and "no demo made" in " ".join(refused.output.split())
    assert (real.root / "audiences" / "mine.aud").exists() and Workspace.load(real.root).config.name == "acme"
    assert (demo_ws / ".accord-demo").exists(), "a demo's folder says so, and a demo may replace it"


def test_demo_pauses_what_its_stopped_stand_ins_served_so_the_workspace_stays_healthy(demo_ws) -> None:
    config = Workspace.load(demo_ws).config
    assert {d.name for d in config.destinations if not d.paused} == {"audience-files"}
    assert all(s.paused for s in config.sources)
    assert "no rule fires" in run("alerts", "check", "-w", str(demo_ws)).output
    everything = " ".join(run("deliveries", "run", "-w", str(demo_ws), ok=False).output.split())  # a policy blocks one
    assert "audience-files" in everything and "linkedin-abm" not in everything, "a run of all skips the paused"


def test_demo_activates_to_linkedin_google_and_salesforce(tmp_path) -> None:
    folder = tmp_path / "d"
    out = run("demo", "-w", str(folder), "--scale", "tiny").output
    with Workspace.load(folder).lake() as lake:
        added = dict(lake.execute(
            "SELECT destination || ' ← ' || audience, count(*) FILTER (WHERE outcome = 'added') "
            "FROM delivery_receipts GROUP BY 1").fetchall())
        kinds = dict(lake.execute("SELECT name, audience_of FROM audiences").fetchall())
    by_destination = {d: {a.split(" ← ")[1] for a in added if a.startswith(d)} for d in
                      ("linkedin-abm", "google-customer-match", "salesforce-campaigns")}
    assert {kinds[a] for a in by_destination["linkedin-abm"]} == {"person", "account"}
    assert by_destination["google-customer-match"] and by_destination["salesforce-campaigns"]
    assert all(n > 0 for n in added.values()), added
    listed = runner.invoke(app, ["destinations", "list", "-w", str(folder)], env={"COLUMNS": "200"}).output
    assert all(name in listed for name in ("linkedin-abm", "google-customer-match", "salesforce-campaigns"))
    flat = " ".join(out.split())
    assert "linkedin-abm ← " in flat and "LinkedIn company segment" in flat and "Salesforce campaign" in flat
    erased = flat.split("privacy delete ")[1].split(" of ")[1].split(":")[0]
    assert "removal sent to marketo-lists" in flat
    with Workspace.load(folder).lake() as lake:
        assert not lake.scalar("SELECT count(*) FROM person WHERE lower(email) = ?", [erased.lower()])


def test_demo_twice_starts_afresh(tmp_path) -> None:
    folder = tmp_path / "d"
    run("demo", "-w", str(folder), "--scale", "tiny")
    (folder / "leftover.txt").write_text("x")
    run("demo", "-w", str(folder), "--scale", "tiny")
    assert not (folder / "leftover.txt").exists()
    with Workspace.load(folder).lake() as lake:
        assert lake.scalar("SELECT max(batch_id) FROM batches") == lake.scalar("SELECT count(*) FROM batches")


def test_demo_refuses_a_folder_that_is_not_a_workspace(tmp_path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    result = run("demo", "-w", str(tmp_path), ok=False)
    assert result.exit_code == 1 and "not an Accord workspace" in result.output
    assert (tmp_path / "precious.txt").exists()


def test_ingest_with_a_mapping_then_look_at_quarantine(tmp_path) -> None:
    ws = tmp_path / "ws"
    run("init", str(ws))
    data = write_csv(tmp_path / "contacts.csv", ["Id", "AccountId", "Email", "FirstName", "LastName", "Title", "MailingCountry",
                                                 "HasOptedOutOfEmail", "LeadSource", "CreatedDate", "SystemModstamp", "IsDeleted"],
                     [["0031", "0011", "a@acme.com", "A", "B", "CTO", "US", "false", "Web", "2024-01-01", "2024-01-02", "false"],
                      ["0032", "0011", "broken", "C", "D", "CEO", "US", "false", "Web", "2024-01-01", "2024-01-02", "false"]])
    out = run("ingest", "files", str(data), "--mapping", "salesforce/contact", "--entity", "person",
              "--instance", "00Dprod", "-w", str(ws)).output
    assert "bad_email: 1" in out
    listed = run("quarantine", "list", "-w", str(ws)).output
    assert "bad_email" in listed and "person/bad_email: 1" in listed
    shown = run("quarantine", "show", "1", "-w", str(ws)).output
    assert "row 2" in shown and '"Email":"broken"' in shown
    with Workspace.load(ws).lake() as lake:
        assert lake.current("person")[0]["source_key"] == "0031@00Dprod.Salesforce"


def test_a_quote_left_open_is_reported_with_what_to_do(tmp_path) -> None:
    ws = tmp_path / "ws"
    run("init", str(ws))
    data = tmp_path / "contacts.csv"
    data.write_text('Id,Email,Title\n0031,a@acme.com,"CTO\n0032,b@acme.com,CEO\n')
    out = " ".join(run("ingest", "files", str(data), "--mapping", "salesforce/contact", "-w", str(ws)).output.split())
    assert "runaway_quote: 1" in out and "close the quote" in out
    shown = " ".join(run("quarantine", "show", "1", "-w", str(ws)).output.split())
    assert "never closed" in shown and "0032,b@acme.com,CEO" in shown


def test_where_no_bar_can_be_drawn_progress_is_a_plain_line_now_and_then(tmp_path, monkeypatch) -> None:
    """Output to a file, or relayed from serve, shows a bar only at its end: a long load says how far it got."""
    from accord import cli

    run("init", str(tmp_path / "ws"))
    data = write_csv(tmp_path / "contacts.csv", ["Id", "Email"], [[str(i), f"p{i}@acme.com"] for i in range(3)])
    quiet = run("ingest", "files", str(data), "--mapping", "salesforce/contact", "--entity", "person",
                "--instance", "00Dprod", "-w", str(tmp_path / "ws")).output
    assert "contacts.csv: 1/1, 3 rows" not in quiet, "a short load prints its bar alone"
    monkeypatch.setattr(cli, "PLAIN_EVERY", 0.0)
    data = write_csv(tmp_path / "contacts.csv", ["Id", "Email"], [[str(i), f"q{i}@acme.com"] for i in range(3)])
    said = run("ingest", "files", str(data), "--mapping", "salesforce/contact", "--entity", "person",
               "--instance", "00Dprod", "-w", str(tmp_path / "ws")).output
    assert "contacts.csv: 0/1, 0 rows, " in said and "contacts.csv: 1/1, 3 rows, " in said, said


def test_an_error_naming_brackets_shows_them(tmp_path) -> None:
    run("init", str(tmp_path / "ws"))
    result = run("status", "-w", str(tmp_path / "ws"), "--sandbox", "[qa]", ok=False)
    assert result.exit_code == 1 and "[qa]" in result.output


def test_clear_errors(tmp_path, demo_ws) -> None:
    result = run("status", "-w", str(demo_ws), "--sandbox", "qa", ok=False)
    assert result.exit_code == 1 and "unknown sandbox 'qa'" in result.output
    result = run("status", "-w", str(tmp_path), ok=False)
    assert "no workspace" in result.output
    result = run("ingest", "files", str(demo_ws / "accord.yaml"), "-w", str(demo_ws), ok=False)
    assert "--mapping" in result.output


def test_sandboxes_and_xdm_round_trip_through_the_cli(tmp_path, demo_ws) -> None:
    out = tmp_path / "people.jsonl"
    run("export", "xdm", "person", "--out", str(out), "-w", str(demo_ws))
    first = json.loads(out.read_text().splitlines()[0])
    assert "xdm:workEmail" in first
    dashed = run("export", "xdm", "person", "--out", "-", "--limit", "1", "-w", str(demo_ws)).output
    assert json.loads(dashed.splitlines()[0]) == first and not Path("-").exists()
    run("sandboxes", "create", "dev", "-w", str(demo_ws))
    assert "dev" in run("sandboxes", "list", "-w", str(demo_ws)).output
    run("import", "xdm", str(out), "--entity", "person", "-w", str(demo_ws), "-s", "dev")
    ws = Workspace.load(demo_ws)
    cols = "source_key, email, first_name, last_name, job_title, account_key, lead_score, created_at, source_updated_at"
    with ws.lake("prod") as prod, ws.lake("dev") as dev:
        assert dev.query(f"SELECT {cols} FROM person_current ORDER BY 1") == prod.query(f"SELECT {cols} FROM person_current ORDER BY 1")


def test_an_export_that_fails_leaves_the_file_as_it_was(tmp_path, demo_ws) -> None:
    """The file was opened (emptied) before the first record was read: a failed export lost the last good one."""
    out = tmp_path / "people.jsonl"
    out.write_text("the last good export\n")
    failed = run("export", "xdm", "nosuch", "--out", str(out), "-w", str(demo_ws), ok=False)
    assert failed.exit_code == 1 and out.read_text() == "the last good export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["people.jsonl"]
    folder = run("export", "xdm", "person", "--out", str(tmp_path), "-w", str(demo_ws), ok=False)
    assert folder.exit_code == 1 and "is a folder" in " ".join(folder.output.split())
    missing = run("export", "xdm", "person", "--out", str(tmp_path / "no" / "p.jsonl"), "-w", str(demo_ws), ok=False)
    assert missing.exit_code == 1 and f"no folder {tmp_path / 'no'}" in " ".join(missing.output.split())


def test_one_record_the_schemas_refuse_does_not_stop_the_export_of_the_others(tmp_path) -> None:
    ws = tmp_path / "ws"
    run("init", str(ws))
    data = tmp_path / "accounts.csv"
    data.write_text("Id,Name,AnnualRevenue\n0011,Acme,100\n0012,Beacon,200\n0013,Cobalt,300\n")
    run("ingest", "files", str(data), "--mapping", "salesforce/account", "-w", str(ws))
    with Workspace.load(ws).lake() as lake:  # as an earlier Accord let a NaN in
        lake.execute("UPDATE account SET annual_revenue = 'NaN'::DOUBLE WHERE source_id = '0012'")
    out = tmp_path / "accounts.jsonl"
    done = run("export", "xdm", "account", "--out", str(out), "-w", str(ws), ok=False)
    said = " ".join(done.output.split())
    assert done.exit_code == 1 and "1 account records not exported" in said and "0012@" in said
    assert [json.loads(line)["xdm:accountName"] for line in out.read_text().splitlines()] == ["Acme", "Cobalt"]


def test_the_module_runs_as_the_console_script_does(tmp_path) -> None:
    """`python -m accord.cli` once called the Typer app directly: an unforeseen failure printed a traceback."""
    ws = Workspace.init(tmp_path / "ws")
    ws.lake_path().parent.mkdir(parents=True, exist_ok=True)
    ws.lake_path().write_text("not a store")
    done = subprocess.run([sys.executable, "-m", "accord.cli", "status", "-w", str(ws.root)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr and done.stderr.startswith("error: ")


def test_generate_command(tmp_path) -> None:
    out = run("generate", str(tmp_path / "g"), "--scale", "tiny", "--seed", "2", "--as-of", "2026-11-01").output
    assert "marketo/activity" in out
    assert (tmp_path / "g" / "manifest.yaml").exists() and (tmp_path / "g" / "truth" / "persons.csv").exists()


def test_console_script_is_installed(tmp_path) -> None:
    exe = Path(sys.executable).with_name("accord")
    done = subprocess.run([str(exe), "demo", "--scale", "tiny"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "accord-demo" / "accord.yaml").exists()


def test_demo_stitches_and_profiles_can_be_looked_up(demo_ws) -> None:
    with Workspace.load(demo_ws).lake() as lake:
        person = lake.query("SELECT person_id, email FROM person_profile WHERE records > 1 AND email IS NOT NULL LIMIT 1")[0]
        domain = lake.scalar("SELECT domain FROM account_profile WHERE domain IS NOT NULL LIMIT 1")
    out = run("profile", "get", f"email:{person['email'].upper()}", "-w", str(demo_ws)).output
    assert person["person_id"] in out and "b2b_person:" in out
    data = json.loads(run("profile", "get", f"person_id:{person['person_id']}", "--json", "-w", str(demo_ws)).output)
    assert data["person_id"] == person["person_id"] and data["attributes"]
    out = run("account", "get", f"domain:{domain}", "-w", str(demo_ws)).output
    assert "Account A" in out
    missing = run("profile", "get", "email:nobody@nowhere.io", "-w", str(demo_ws), ok=False)
    assert missing.exit_code == 1 and "no person profile holds" in missing.output


def test_identity_commands(tmp_path) -> None:
    folder = tmp_path / "d"
    out = run("demo", "-w", str(folder), "--scale", "tiny").output
    assert "person records →" in out and "people linked to accounts" in out
    assert "unchanged" in run("identity", "run", "-w", str(folder)).output
    assert "Links refused" in run("identity", "merges", "-w", str(folder)).output
    with Workspace.load(folder).lake() as lake:
        row = lake.query(
            "SELECT profile_id, min(value) AS one, max(value) AS other FROM identity_nodes "
            "WHERE kind = 'person' AND namespace = 'b2b_person' GROUP BY 1 HAVING count(*) > 1 ORDER BY 1 LIMIT 1"
        )[0]
    out = run("identity", "split", row["profile_id"], "--identity", f"b2b_person:{row['one']}", "-w", str(folder)).output
    assert "it now belongs to P" in out
    with Workspace.load(folder).lake() as lake:
        owner = "SELECT profile_id FROM identity_nodes WHERE namespace = 'b2b_person' AND value = ?"
        assert lake.scalar(owner, [row["one"]]) != lake.scalar(owner, [row["other"]])


def test_audience_commands(demo_ws) -> None:
    w = ["-w", str(demo_ws)]
    assert "12 audiences are valid" in run("audiences", "validate", *w).output
    listed = run("audiences", "list", *w).output
    assert "Webinar attendees" in listed and "streaming" in listed and "batch" in listed
    assert 'audience "Webinar attendees" of person' in run("audiences", "show", "Webinar attendees", *w).output
    assert '"kind": "or"' in run("audiences", "show", "Webinar attendees", "--json", *w).output
    explained = run("audiences", "explain", "Customer accounts with an open expansion deal", "--sql", *w).output
    assert "batch" in explained and "SELECT" in explained
    assert "streaming" in run("audiences", "explain", "Hot leads with no pipeline yet", *w).output
    with Workspace.load(demo_ws).lake() as lake:
        runs = lake.scalar("SELECT count(*) FROM audience_runs")
    for command in (["audiences", "run"], ["run"]):  # a what-if recorded would send destinations exits
        back = run(*command, "--as-of", "2026-11-01", *w, ok=False)
        assert back.exit_code == 1 and "would have members exit, then enter again" in " ".join(back.output.split())
        ahead = run(*command, "--as-of", "2099-01-01", "--rewind", *w, ok=False)
        assert ahead.exit_code == 1 and "2099-01-01 00:00 UTC is still to come" in ahead.output
    with Workspace.load(demo_ws).lake() as lake:
        assert lake.scalar("SELECT count(*) FROM audience_runs") == runs
    ran = run("audiences", "run", "--as-of", "2026-11-01", "--rewind", *w).output
    assert "Audiences as of 2026-11-01 00:00 UTC" in ran
    size = run("audiences", "size", "Webinar attendees", *w).output
    assert size.startswith("Webinar attendees: ")
    with Workspace.load(demo_ws).lake() as lake:
        member = lake.scalar(
            "SELECT min(profile_id) FROM audience_membership WHERE audience = 'Webinar attendees' AND status <> 'exited'")
    assert member, "campaign attendees are members whatever the date"
    assert member in run("audiences", "sample", "Webinar attendees", "--limit", "1000", "--as-of", "2026-11-01", *w).output
    why = run("audiences", "why", "Webinar attendees", f"person_id:{member}", "--as-of", "2026-11-01", *w).output
    assert f"{member} is in 'Webinar attendees'" in why and "yes" in why
    assert run("audiences", "why", "Webinar attendees", f"person_id:{member}", "--as-of", "2026-11-01",
               "--engine", "duckdb", *w).output == why
    unknown = run("audiences", "why", "Webinar attendees", f"person_id:{member}", "--engine", "nosuch", *w, ok=False)
    assert unknown.exit_code == 1 and "no engine named 'nosuch'" in unknown.output
    profile = json.loads(run("profile", "get", f"person_id:{member}", "--json", *w).output)
    assert "Webinar attendees" in {m["audience"] for m in profile["audiences"]}, "a profile shows its audiences"
    assert "audience Webinar attendees" in run("profile", "get", f"person_id:{member}", *w).output
    assert "both:" in run("audiences", "overlap", "Webinar attendees", "Hot leads with no pipeline yet", *w).output
    typo = run("audiences", "overlap", "Webinar attendee", "Hot leads with no pipeline yet", *w, ok=False)
    assert typo.exit_code == 1 and "no audience named 'Webinar attendee' has been evaluated" in typo.output
    missing = run("audiences", "size", "Nope", *w, ok=False)
    assert missing.exit_code == 1 and "no audience named 'Nope'" in missing.output
    out = run("run", *w).output
    assert "person records →" in out and "Audiences as of" in out
    bad = run("run", "--every", "soon", *w, ok=False)
    assert "an interval is a whole number" in bad.output
    endless = run("run", "--every", "99999999999d", *w, ok=False)  # overflowed the clock
    assert endless.exit_code == 1 and "an interval is at most 366 days" in endless.output
    huge = run("quarantine", "list", "--limit", "99999999999999999999", *w, ok=False)  # past the store's 64 bits
    assert huge.exit_code == 2 and "less than or equal to" in huge.output and "1000000000" in huge.output



def test_a_name_no_file_defines_is_answered_with_why_the_files_defining_none_are_left_out(tmp_path) -> None:
    """A typo in the file meant (a number Accord does not read) makes it define no audience: `size T` says why,
    not only that there is no T."""
    ws = tmp_path / "ws"
    run("init", str(ws))
    (ws / "audiences" / "t.aud").write_text('audience "T" of person\nwhere lead_score >= 1e3\n')
    for command in (["size", "T"], ["sample", "T"], ["show", "T"], ["explain", "T"], ["why", "T", "email:a@x.io"]):
        said = run("audiences", *command, "-w", str(ws), ok=False)
        assert said.exit_code == 1, command
        flat = " ".join(said.output.split())
        assert "no audience named 'T' (audiences: none); left out: " in flat and "t.aud" in flat
        assert "line 2, column 21: '1e3' is not a number Accord reads" in flat


def test_cli_names_the_generator_scales() -> None:
    from accord import cli
    from accord.generate import SCALES

    assert cli.SCALES == tuple(SCALES)


def test_each_command_takes_the_width_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """A console made while the process had another width (as `accord serve`'s, at import) does not keep it."""
    from accord import cli

    monkeypatch.setattr(cli.console, "width", 40)
    listed = runner.invoke(app, ["destinations", "types"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and max(len(line) for line in listed.output.splitlines()) > 80


def test_a_relayed_command_carries_the_terminals_width(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The width goes to `accord serve` even when the shell does not export COLUMNS."""
    from accord.cli import _relayed_env

    assert runner.invoke(app, ["init", str(tmp_path / "ws")]).exit_code == 0
    ws = Workspace.load(tmp_path / "ws")
    monkeypatch.setenv("COLUMNS", "137")
    assert _relayed_env(ws)["COLUMNS"] == "137"
    monkeypatch.delenv("COLUMNS")
    assert _relayed_env(ws)["COLUMNS"].isdigit()


def test_a_summary_lists_forty_column_names_and_counts_the_rest() -> None:
    from accord.cli import names_listed

    assert names_listed(["a", "b"]) == "a, b"
    many = names_listed([f"c{i}" for i in range(16_000)])
    assert many.startswith("c0, c1, ") and many.endswith("c39 and 15,960 more")
