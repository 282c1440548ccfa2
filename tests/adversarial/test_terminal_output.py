"""Data an attacker controls (a collected trait, a cell of a file) printed by the CLI cannot drive the terminal: its
control characters and direction overrides are written out as escapes, never sent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from accord.terminal import for_terminal

NAME = "Jane\x1b]0;owned\x07\x1b[2J\x9b31m\u202eevil"
"""A first name that retitles the window, clears the screen (ESC and C1's CSI) and reverses what follows."""
LAST_NAME = "Doe [/] [renewal]"
"""What Rich reads as markup: a closing tag that failed the command, a style that swallowed the word."""


def test_a_value_with_escape_sequences_is_printed_escaped(tmp_path: Path) -> None:
    accord = str(Path(sys.executable).with_name("accord"))
    ws = tmp_path / "ws"
    assert subprocess.run([accord, "init", str(ws)], capture_output=True).returncode == 0
    people = tmp_path / "people\x1b]0;owned\x07[blink].csv"  # a name Rich's progress bar read as markup, too
    people.write_text(f"Id,Email,FirstName,LastName\n1,jane@acme.com,{NAME},{LAST_NAME}\n", encoding="utf-8")
    (tmp_path / "people.yaml").write_text(yaml.safe_dump({
        "entity": "person", "source_type": "Test", "source_instance_id": "t1",
        "fields": {"source_id": "Id", "email": "Email", "first_name": "FirstName", "last_name": "LastName"}}))

    def run(*args: str) -> bytes:
        done = subprocess.run([accord, *args, "-w", str(ws)], capture_output=True, timeout=120,
                              env={**os.environ, "COLUMNS": "300"})
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout

    ingested = run("ingest", "files", str(people), "--mapping", str(tmp_path / "people.yaml")).decode("utf-8")
    assert "\x1b" not in ingested and r"people\x1b]0;owned\x07[blink].csv" in ingested
    run("run")
    printed = run("profile", "get", "email:jane@acme.com").decode("utf-8")
    assert not any(ch in printed for ch in "\x1b\x07\x9b\u202e")
    assert r"Jane\x1b]0;owned\x07\x1b[2J\x9b31m\u202eevil" in printed
    assert LAST_NAME in printed


@pytest.mark.parametrize(("text", "printed"), [
    ("plain text, tabs\tand\nnew lines", "plain text, tabs\tand\nnew lines"),
    ("bell\x07 null\x00 del\x7f", r"bell\x07 null\x00 del\x7f"),
    ("ab\u2066c\u2069 \u200f", r"ab\u2066c\u2069 \u200f"),
    ("accents é, 日本, emoji 🙂 stay", "accents é, 日本, emoji 🙂 stay"),
])
def test_what_is_written_out(text: str, printed: str) -> None:
    assert for_terminal(text) == printed
