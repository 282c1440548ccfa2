"""What a careless user types or writes into a workspace's files ends in one clear line and a non-zero exit: no
traceback, no raw validation dump, and never the value of a setting (it may be a secret)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
import yaml

from accord import cli
from accord.cli import main
from accord.workspace import Workspace
from tests.adversarial.conftest import new_workspace
from tests.conftest import evaluated_workspace


def accord(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], cwd: Path, *args: str,
           answer: str = "") -> tuple[int, str]:
    """Run the `accord` command in this process; its exit code and what it printed (lines joined: one line of a
    terminal that fits it)."""
    monkeypatch.setenv("COLUMNS", "1000")  # each command takes the terminal's width; the error path, the import's
    for printer in (cli.console, cli.err_console):
        monkeypatch.setattr(printer, "width", 1000)
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["accord", *args])
    monkeypatch.setattr(sys, "stdin", io.StringIO(answer + "\n"))
    with pytest.raises(SystemExit) as done:
        main()
    out = capsys.readouterr()
    return int(done.value.code or 0), " ".join((out.out + out.err).split())


AUDIENCE = "Webinar attendees"


def with_config(ws_root: Path, **changes: object) -> None:
    config = yaml.safe_load((ws_root / "accord.yaml").read_text())
    (ws_root / "accord.yaml").write_text(yaml.safe_dump({**config, **changes}))


@pytest.fixture
def ws_root(tmp_path: Path) -> Path:
    return new_workspace(tmp_path / "ws")[0].root


def test_a_date_yaml_cannot_build_is_one_line_not_a_traceback(ws_root: Path, monkeypatch, capsys) -> None:
    text = (ws_root / "accord.yaml").read_text()
    assert "\nsources: []\n" in text
    bad = "\nsources:\n- type: marketo\n  backfill_since: 2024-13-01\n"
    (ws_root / "accord.yaml").write_text(text.replace("\nsources: []\n", bad))
    code, said = accord(monkeypatch, capsys, ws_root, "status")
    assert code == 1
    assert "Traceback" not in said
    assert said.startswith("error:") and said.count("error:") == 1
    assert "accord.yaml holds a value YAML cannot read: month must be in 1..12" in said


def test_yaml_that_does_not_parse_says_where(ws_root: Path, monkeypatch, capsys) -> None:
    (ws_root / "accord.yaml").write_text("name: ws\nsandboxes: [prod\n")
    code, said = accord(monkeypatch, capsys, ws_root, "status")
    assert code == 1 and said.count("error:") == 1
    assert "accord.yaml is not valid YAML at line 3, column 1" in said


def test_a_setting_given_twice_is_refused_not_half_kept(ws_root: Path, monkeypatch, capsys) -> None:
    """A second `destinations:` pasted at the end would have dropped the first one's destinations in silence."""
    text = (ws_root / "accord.yaml").read_text()
    lines = text.splitlines()
    first = next(n for n, line in enumerate(lines, 1) if line.startswith("destinations:"))
    hook = "- {type: webhook, name: hook, url: 'http://127.0.0.1:9/h', secret: 'env:S', audiences: [a]}\n"
    (ws_root / "accord.yaml").write_text(text + "destinations:\n" + hook)
    code, said = accord(monkeypatch, capsys, ws_root, "destinations", "list")
    assert code == 1 and said.count("error:") == 1
    assert f"accord.yaml is not valid YAML at line {len(lines) + 1}, column 1: 'destinations' is given twice in " \
           f"one mapping (first at line {first})" in said


def test_dates_in_a_locales_format_are_pointed_to_date_format_then_load_with_it(ws_root: Path, monkeypatch,
                                                                                capsys) -> None:
    (ws_root / "report.csv").write_text('"Contact ID","Email","Created Date"\n"003A","a@x.com","20.11.2026"\n')
    code, said = accord(monkeypatch, capsys, ws_root, "mappings", "check", "report.csv")
    assert code == 0 and "unparsable_date: created_at '20.11.2026'" in said and "load with `--date-format`" in said
    code, said = accord(monkeypatch, capsys, ws_root, "mappings", "check", "report.csv", "--date-format", "%d.%m.%Y")
    assert code == 0 and "unparsable_date" not in said and '"created_at": "2026-11-20 00:00:00+00:00"' in said
    ingest = ("ingest", "files", "report.csv", "--mapping", "salesforce/contact")
    code, said = accord(monkeypatch, capsys, ws_root, *ingest)
    assert code == 0 and "quarantined unparsable_date: 1" in said and "load with `--date-format`" in said
    code, said = accord(monkeypatch, capsys, ws_root, *ingest, "--date-format", "%d.%m.%Y")
    assert code == 0 and "│ report.csv │ person │ 2 │ 1 │ 1 │ 0 │ 0 │" in said and "unparsable_date" not in said
    code, said = accord(monkeypatch, capsys, ws_root, *ingest, "--date-format", "dd.mm.yyyy")
    assert code == 1 and "error: date format 'dd.mm.yyyy' names no part of a date" in said
    code, said = accord(monkeypatch, capsys, ws_root, *ingest, "--date-format", "%d.%Q.%Y")
    assert code == 1 and "error: date format '%d.%Q.%Y': '%Q' is no strptime directive" in said


def test_an_invalid_setting_never_echoes_the_values_given(ws_root: Path, monkeypatch, capsys) -> None:
    with_config(ws_root, engine="nope", sources=[{
        "type": "marketo", "name": "mk", "munchkin_id": "123-ABC-456", "client_id": "abc",
        "client_secret": "SUPERSECRET123", "endpoint": "https://123-ABC-456.mktorest.com",
        "backfill_since": "2024-01-01"}])
    code, said = accord(monkeypatch, capsys, ws_root, "status")
    assert code == 1 and said.count("error:") == 1
    assert "SUPERSECRET123" not in said
    assert "engine: no engine named 'nope'; engines: duckdb, spark" in said
    assert "sources.0.marketo.client_secret: a secret must be a reference" in said
    assert "input_value" not in said and "errors.pydantic.dev" not in said


def test_a_sandbox_name_that_escapes_is_refused_in_one_line(ws_root: Path, monkeypatch, capsys) -> None:
    rule = "begin with a lower-case letter, then up to 39 lower-case letters, digits, - and _"
    code, said = accord(monkeypatch, capsys, ws_root, "sandboxes", "create", "../evil")
    assert (code, said) == (1, f"error: sandbox name '../evil': {rule}")
    code, said = accord(monkeypatch, capsys, ws_root, "sandboxes", "create", "x" * 300)  # lower-case, yet too long
    assert (code, said) == (1, f"error: sandbox name '{'x' * 50}'…: {rule}")
    assert yaml.safe_load((ws_root / "accord.yaml").read_text())["sandboxes"] == ["prod"]


@pytest.mark.parametrize("args", [
    ["quarantine", "list", "--limit", "-1"],
    ["export", "xdm", "person", "--limit", "-1"],
    ["audiences", "sample", "anything", "--limit", "-1"],
    ["identity", "merges", "--limit", "-1"],
    ["audit", "list", "--limit", "-1"],
    ["deliveries", "list", "--limit", "-1"],
    ["profile", "get", "email:a@b.c", "--events", "-1"],
])
def test_a_negative_count_is_a_usage_error(ws_root: Path, monkeypatch, capsys, args: list[str]) -> None:
    code, said = accord(monkeypatch, capsys, ws_root, *args)
    assert code == 2
    assert "Input should be greater than or equal to 0" in said


def test_a_privacy_delete_of_no_one_fails_before_asking(ws_root: Path, monkeypatch, capsys) -> None:
    code, said = accord(monkeypatch, capsys, ws_root, "privacy", "delete", "email:", answer="y")
    assert (code, said) == (1, "error: look a profile up as namespace:value, e.g. email:jane@acme.com, or by its id (P00000042) "
                           "(got 'email:')")


def test_a_folder_manifest_without_its_files_is_refused(ws_root: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    folder = tmp_path / "world"
    folder.mkdir()
    (folder / "manifest.yaml").write_text("files:\n- path: contacts.csv\n")
    code, said = accord(monkeypatch, capsys, ws_root, "ingest", "files", str(folder))
    assert code == 1 and said.count("error:") == 1
    assert "manifest.yaml: list the files under `files:`, each with its `path` and `mapping`" in said


def test_a_mapping_file_yaml_cannot_read_is_one_line(ws_root: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / "people.csv").write_text("Email\na@b.c\n")
    (tmp_path / "bad.yaml").write_text("entity: person\nfields: {email: Email\n")
    code, said = accord(monkeypatch, capsys, ws_root, "ingest", "files", str(tmp_path / "people.csv"),
                        "--mapping", str(tmp_path / "bad.yaml"))
    assert code == 1 and said.count("error:") == 1
    assert "bad.yaml is not valid YAML at line 3" in said


def test_a_secrets_file_yaml_cannot_read_names_the_file_not_its_contents(ws_root: Path, monkeypatch,
                                                                         capsys) -> None:
    (ws_root / "secrets.yaml").write_text("marketo: SUPERSECRET123\n  broken: [\n")
    with_config(ws_root, sources=[{
        "type": "marketo", "name": "mk", "munchkin_id": "123-ABC-456", "client_id": "abc",
        "client_secret": "file:secrets.yaml#marketo", "endpoint": "http://127.0.0.1:9",
        "backfill_since": "2024-01-01"}])
    code, said = accord(monkeypatch, capsys, ws_root, "sync", "marketo")
    assert code == 1
    assert "SUPERSECRET123" not in said
    assert "secrets.yaml is not valid YAML at line 2" in said


def test_broken_audience_files_leave_out_only_themselves(evaluated_lake: Path, tmp_path: Path, monkeypatch,
                                                         capsys) -> None:
    """A typo, a bad byte or a cycle in some files: `run` evaluates every other audience and exits 1 naming each
    left out (a job notices); listing and reading the others work; `validate` still stops at the first."""
    root = evaluated_workspace(tmp_path, evaluated_lake).root
    folder = root / "audiences"
    (folder / "typo.aud").write_text('audience "Typo" of person\nwhere emali = "a"\n')
    (folder / "bytes.aud").write_bytes(b'audience "Bytes" of person\nwhere email = "\xff"\n')
    (folder / "loop-a.aud").write_text('audience "Loop A" of person\nwhere in audience "Loop B"\n')
    (folder / "loop-b.aud").write_text('audience "Loop B" of person\nwhere in audience "Loop A"\n')
    left_out = ["typo.aud: not evaluated", "bytes.aud: not evaluated", "Loop A: not evaluated",
                "Loop B: not evaluated"]

    code, said = accord(monkeypatch, capsys, root, "run")
    assert code == 1 and all(line in said for line in left_out), said
    assert "person has no field 'emali'" in said and "not UTF-8 text (invalid start byte at byte 42)" in said
    assert "reference each other in a cycle: Loop A → Loop B → Loop A" in said
    with Workspace.load(root).lake() as lake:
        evaluated = {r[0] for r in lake.execute("SELECT name FROM audiences WHERE last_run_id IS NOT NULL").fetchall()}
    assert AUDIENCE in evaluated and not evaluated & {"Typo", "Bytes", "Loop A", "Loop B"}

    code, said = accord(monkeypatch, capsys, root, "audiences", "list")
    assert code == 1 and AUDIENCE in said and all(line in said for line in left_out)
    code, said = accord(monkeypatch, capsys, root, "audiences", "size", AUDIENCE)
    assert code == 0 and said.startswith(f"{AUDIENCE}: ")
    code, said = accord(monkeypatch, capsys, root, "audiences", "explain", "Loop A")
    assert (code, said) == (1, "error: audiences reference each other in a cycle: Loop A → Loop B → Loop A")
    code, said = accord(monkeypatch, capsys, root, "audiences", "validate")
    assert code == 1 and said.count("error:") == 1


@pytest.mark.parametrize(("args", "said"), [
    (["init", "taken"], "error: taken is a file: name a folder for the workspace"),
    (["generate", "taken", "--scale", "tiny"], "error: taken is a file: name a folder to write the world into"),
])
def test_a_file_where_a_folder_is_wanted_is_named(tmp_path: Path, monkeypatch, capsys, args: list[str],
                                                  said: str) -> None:
    (tmp_path / "taken").write_text("mine\n")
    assert accord(monkeypatch, capsys, tmp_path, *args) == (1, said)
    assert (tmp_path / "taken").read_text() == "mine\n"


def test_a_world_generated_outside_the_accepted_years_is_refused(tmp_path: Path, monkeypatch, capsys) -> None:
    """Its events would all be refused on ingest (instants are kept between 1900 and 2199)."""
    code, said = accord(monkeypatch, capsys, tmp_path, "generate", "world", "--scale", "tiny", "--as-of", "3000-01-01")
    assert (code, said) == (1, "error: --as-of '3000-01-01' is not between 1900 and 2199 (UTC)")
    assert not (tmp_path / "world").exists()
