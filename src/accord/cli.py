"""`accord …`: the command line, a thin layer over the Python API."""

from __future__ import annotations

import io
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from accord.connectors.registry import Connector, with_sources
from accord.governance import audit
from accord.ingest.limits import text_problem
from accord.lake.faults import store_failure
from accord.lake.sql import ident
from accord.lake.store import Lake
from accord.model.entities import ENTITIES
from accord.model.schema import STANDARD, Schema
from accord.readable import problems
from accord.replaced import replacing
from accord.scratch import scratch
from accord.terminal import for_terminal
from accord.workspace import Workspace, WorkspaceError

if TYPE_CHECKING:
    from accord.api import relay
    from accord.api.edge import Edge
    from accord.audiences.evaluate import EvaluationReport
    from accord.engines.adapter import Engine
    from accord.identity.run import IdentityReport
    from accord.ingest.loader import IngestResult
    from accord.profiles.lookup import AttributeValue, PersonProfile
    from accord.sources.files import FileJob

SCALES = ("tiny", "small", "medium", "large")  # accord.generate.SCALES, named here to keep start-up light

app = typer.Typer(help="Accord: a self-hostable B2B Customer Data Platform.", no_args_is_help=True)
ingest_app = typer.Typer(help="Load records into the lake.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Records that did not load, and why.", no_args_is_help=True)
export_app = typer.Typer(help="Write records out in other formats.", no_args_is_help=True)
import_app = typer.Typer(help="Read records written by `accord export`.", no_args_is_help=True)
sandboxes_app = typer.Typer(help="Isolated stores inside one workspace.", no_args_is_help=True)
mappings_app = typer.Typer(help="Mappings shipped with Accord.", no_args_is_help=True)
identity_app = typer.Typer(help="Stitch records into people and accounts; inspect and undo merges.", no_args_is_help=True)
profile_app = typer.Typer(help="Unified person profiles.", no_args_is_help=True)
account_app = typer.Typer(help="Unified account profiles.", no_args_is_help=True)
audiences_app = typer.Typer(help="Audiences: files in audiences/*.aud, evaluated into memberships.", no_args_is_help=True)
keys_app = typer.Typer(help="Write keys for the collector, API keys for the REST API.", no_args_is_help=True)
sources_app = typer.Typer(help="API sources configured in accord.yaml (Marketo instances, ...).", no_args_is_help=True)
privacy_app = typer.Typer(help="Privacy requests: everything held on a person, or the person erased everywhere.",
                           no_args_is_help=True)
audit_app = typer.Typer(help="The audit log: who changed what, when, before and after.", no_args_is_help=True)
fields_app = typer.Typer(help="The fields of the model, standard and custom, with their usage labels.",
                         no_args_is_help=True)
policies_app = typer.Typer(help="Data usage policies: which marketing actions labelled data may not be used for.",
                           no_args_is_help=True)
destinations_app = typer.Typer(help="Destinations: the types Accord can send to, and those accord.yaml configures.",
                               no_args_is_help=True)
sync_app = typer.Typer(help="Pull records from API sources: a backfill the first time, then what changed.",
                       no_args_is_help=True)
alerts_app = typer.Typer(help="Alerts: failed deliveries, dead letters, failing or stale sources, audiences that "
                              "jumped, failing stages; sent by e-mail and webhook.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(export_app, name="export")
app.add_typer(import_app, name="import")
app.add_typer(sandboxes_app, name="sandboxes")
app.add_typer(mappings_app, name="mappings")
app.add_typer(identity_app, name="identity")
app.add_typer(profile_app, name="profile")
app.add_typer(account_app, name="account")
app.add_typer(audiences_app, name="audiences")
app.add_typer(keys_app, name="keys")
deliveries_app = typer.Typer(help="Send audiences to destinations; runs, receipts and failures.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")
app.add_typer(destinations_app, name="destinations")
app.add_typer(fields_app, name="fields")
app.add_typer(audit_app, name="audit")
app.add_typer(privacy_app, name="privacy")
app.add_typer(policies_app, name="policies")
app.add_typer(deliveries_app, name="deliveries")
app.add_typer(sync_app, name="sync")
app.add_typer(alerts_app, name="alerts")
schema_app = typer.Typer(help="Custom fields: declared in accord.yaml, held by each sandbox's store.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")


class _Console(Console):
    """A console that prints the text it is given (a name, a value, a table's cell) with its control characters
    written out as escapes (`accord/terminal.py`): data from files and the collector cannot drive the terminal.
    It reads no markup unless a call asks (`markup=True`, the data in it escaped): an event's URL holding `[/]`
    failed `accord profile get`, and a list named `webinar [emea/q3]` was printed as `webinar `."""

    def render_str(self, text: str, **options: Any) -> Text:
        return super().render_str(for_terminal(text), **options)


console = _Console(markup=False)
err_console = _Console(stderr=True, markup=False)


@app.callback()
def _each_command() -> None:
    # Rich fixes a console's width when it is made, at import: a command that `accord serve` runs for a terminal
    # (the relay sends that terminal's width as COLUMNS) must take that width, not the server's.
    console.width = err_console.width = Console().width
    for stream in (sys.stdout, sys.stderr):
        # A file name that is no UTF-8 is printed as the bytes it is (as `ls` does), not refused half-way through a
        # command that did its work; a refused write would also stay in a console's buffer and fail every later
        # command `accord serve` runs.
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="surrogateescape")

EngineOpt = Annotated[Optional[str], typer.Option(
    "--engine", help="Run the batch stages on this engine (duckdb, spark) instead of accord.yaml's `engine:`.")]
WorkspaceOpt = Annotated[
    Optional[Path], typer.Option("--workspace", "-w", help="Workspace folder (default: nearest accord.yaml).")
]
SandboxOpt = Annotated[
    Optional[str], typer.Option("--sandbox", "-s", envvar="ACCORD_SANDBOX", help="Sandbox (default: the workspace's).")
]
USER_ERRORS = (ValueError, LookupError, FileNotFoundError)  # our own errors derive from the first two

DateFormatOpt = Annotated[Optional[list[str]], typer.Option(
    "--date-format", help="A strptime format dates and times may come in besides ISO 8601, e.g. '%m/%d/%Y %I:%M %p' "
                          "for a US report export; repeat for more.")]
TimeZoneOpt = Annotated[Optional[str], typer.Option(
    "--time-zone", help="The IANA time zone of times that name no offset, e.g. America/New_York for a report exported "
                        "by a user in New York (default UTC).")]
NumberFormatOpt = Annotated[Optional[str], typer.Option(
    "--number-format", help="How the file writes numbers when grouped as a locale does: '1,234.56', '1.234,56', "
                            "'1 234,56' or \"1'234.56\" (a currency code or symbol around an amount is then left "
                            "out, as in 'USD 1,500.00').")]
EncodingOpt = Annotated[Optional[str], typer.Option(
    "--encoding", help="A CSV file's text encoding when it is not UTF-8, e.g. cp1252 for what a spreadsheet saves as "
                       "'CSV (Comma delimited)' in the Americas and Western Europe, or utf-16.")]
SheetOpt = Annotated[Optional[str], typer.Option(
    "--sheet", help="An Excel workbook's sheet to read, by name (default: its first).")]
DATE_FORMAT_HINT = ("dates in a locale's format (11/20/2026 10:00 AM, 20.11.2026) load with `--date-format`, e.g. "
                    "--date-format '%m/%d/%Y %I:%M %p' --date-format '%m/%d/%Y'")


@contextmanager
def user_errors() -> Iterator[None]:
    """Known failures print one clear line and exit 1 instead of a traceback."""
    try:
        yield
    except USER_ERRORS as err:
        err_console.print(f"[red]error:[/red] {escape(str(err))}", highlight=False, markup=True)
        raise typer.Exit(1) from None


def open_workspace(workspace: Path | None) -> Workspace:
    return Workspace.load(workspace) if workspace else Workspace.find()


def open_lake(workspace: Path | None, sandbox: str | None) -> Lake:
    return open_workspace(workspace).lake(sandbox)


def _schema_if_any(workspace: Path | None) -> Schema:
    """The workspace's model when there is a workspace here, else Accord's own."""
    try:
        return open_workspace(workspace).schema
    except WorkspaceError:
        if workspace:
            raise
        return STANDARD


class _Description(ProgressColumn):
    """A task's description (a file's or a source's name) as plain text under the terminal rule: the console's own
    rule does not reach a progress bar's columns, which read `[...]` as markup."""

    def render(self, task: Task) -> Text:
        return Text(for_terminal(task.description))


PLAIN_EVERY = 10.0
"""Seconds between the progress lines written where no bar can be drawn (a file, or a command relayed to serve)."""


class _Progress(Progress):
    """Where the console is no terminal, a bar is drawn only once, at the end: a plain line of each task every
    PLAIN_EVERY seconds says meanwhile how far it got (a backfill relayed to serve runs for hours)."""

    def __init__(self, *columns: ProgressColumn, **settings: Any) -> None:
        super().__init__(*columns, **settings)
        self._said_at = time.monotonic()

    def update(self, task_id: TaskID, **changes: Any) -> None:
        super().update(task_id, **changes)
        if self.console.is_terminal or time.monotonic() - self._said_at < PLAIN_EVERY:
            return
        self._said_at = time.monotonic()
        for task in self.tasks:
            done = f"{task.completed:,.0f}/{task.total:,.0f}, " if task.total else ""
            self.console.print(Text(f"{for_terminal(task.description)}: {done}{task.fields.get('rows', 0):,} rows, "
                                    f"{task.elapsed or 0:.0f} s"))


def progress_bar() -> Progress:
    return _Progress(
        SpinnerColumn(),
        _Description(),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def ingest_jobs(engine: Engine, jobs: list[FileJob]) -> list[IngestResult]:
    results = []
    with progress_bar() as progress:
        task = progress.add_task("ingesting", total=len(jobs), rows=0)
        for job in jobs:
            progress.update(task, description=job.path.name)
            rows = progress.tasks[task].fields["rows"]

            def count(n: int, _task: int = task) -> None:
                progress.update(_task, rows=progress.tasks[_task].fields["rows"] + n)

            results.append(engine.load_file(job, count))
            progress.update(task, advance=1, rows=max(rows, progress.tasks[task].fields["rows"]))
    return results


MAX_COUNT = 1_000_000_000
"""The most rows a count option (`--limit`, `--rows`, `--events`) takes: the store counts in 64 bits."""
LISTED = 40
"""Column names a summary lists before saying how many more there are."""


def names_listed(names: list[str], listed: int = LISTED, separator: str = ", ") -> str:
    """`names` joined: the first `listed` of them, and how many more."""
    more = f" and {len(names) - listed:,} more" if len(names) > listed else ""
    return separator.join(names[:listed]) + more


def print_results(results: list[IngestResult], not_utf8_hint: str | None = None) -> None:
    table = Table(title="Ingested")
    for col in ("file", "entity", "batch", "read", "loaded", "unchanged", "quarantined", "seconds"):
        table.add_column(col, justify="left" if col in ("file", "entity") else "right")
    for r in results:
        batch = str(r.batch_id) if r.batch_id else f"= {r.already_ingested_as} (same file)"
        table.add_row(
            Path(r.source_name).name, r.entity, batch, f"{r.rows_read:,}", f"{r.loaded:,}", f"{r.unchanged:,}",
            f"{r.quarantined:,}", f"{r.seconds:.2f}",
        )
    console.print(table)
    for r in results:
        name = Path(r.source_name).name
        if r.absent_columns:
            console.print(f"{name}: absent, left empty — {names_listed(r.absent_columns)}", highlight=False)
        if r.unmapped_columns:
            console.print(f"{name}: not mapped — {names_listed(r.unmapped_columns)}", highlight=False)
        if r.footer_lines:
            console.print(f"{name}: a report's footer, {r.footer_lines} lines after the records (Salesforce's "
                          "copyright, 'Generated By'), not read", highlight=False)
    print_quarantined(results, not_utf8_hint)


def print_quarantined(results: list[IngestResult], not_utf8_hint: str | None = None) -> None:
    """How many records went to quarantine, by reason, and how to load them instead."""
    reasons: dict[str, int] = {}
    for r in results:
        for code, n in r.reasons.items():
            reasons[code] = reasons.get(code, 0) + n
    if reasons:
        said = ", ".join(f"{code}: {n:,}" for code, n in sorted(reasons.items()))
        console.print(f"[yellow]quarantined[/yellow] {escape(said)} — see `accord quarantine list`", markup=True)
        if "unparsable_date" in reasons:
            console.print(DATE_FORMAT_HINT, highlight=False)
        if "wrong_type" in reasons:
            console.print("numbers grouped as a locale writes them (USD 1,500,000.00) load with `--number-format`, "
                          "e.g. --number-format '1,234.56'", highlight=False)
        if "runaway_quote" in reasons:
            console.print("a quote left open took in the lines after it: `accord quarantine show` names them; close "
                          'the quote (a quote inside a quoted value is written twice: "") and load the file again',
                          highlight=False)
        if "invalid_utf8" in reasons:
            from accord.sources.files import NOT_UTF8_HINT

            console.print(f"rows not UTF-8: {not_utf8_hint or NOT_UTF8_HINT}", highlight=False)


def print_counts(counts: dict[str, dict[str, int]]) -> None:
    table = Table(title="Lake")
    table.add_column("entity")
    table.add_column("current", justify="right")
    table.add_column("versions", justify="right")
    for name, c in counts.items():
        table.add_row(name, f"{c['current']:,}", f"{c['versions']:,}")
    console.print(table)


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(help="Where to create the workspace.")] = Path("."),
    name: Annotated[Optional[str], typer.Option(help="Workspace name (default: the folder's).")] = None,
) -> None:
    """Create a workspace: accord.yaml, audiences/ and the data directory."""
    with user_errors():
        ws = Workspace.init(folder, name)
    console.print(f"created workspace [bold]{escape(ws.config.name)}[/bold] in {escape(str(folder.resolve()))}",
                  markup=True)


@app.command("generate")
def generate_cmd(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the source files and the truth into.")],
    scale: Annotated[str, typer.Option(help=f"One of: {', '.join(SCALES)}.")] = "small",
    seed: Annotated[int, typer.Option(help="Same seed and --as-of, same world.")] = 1,
    as_of: Annotated[Optional[str], typer.Option(help="Last day of the 90 days of events (default: today, UTC).")] = None,
) -> None:
    """Generate a consistent B2B world in Salesforce and Marketo export shapes, plus its ground truth."""
    from accord.generate import generate

    with user_errors():
        when = parse_as_of(as_of)
        with console.status(f"generating {scale} world (seed {seed})") as status:
            files = generate(out_dir, scale, seed, when, on_file=lambda rel: status.update(f"wrote {rel}"))
    table = Table(title=f"Generated into {out_dir}")
    table.add_column("file")
    table.add_column("mapping")
    table.add_column("rows", justify="right")
    for f in files:
        table.add_row(f.path, f.mapping, f"{f.rows:,}")
    console.print(table)
    console.print(f"ground truth in {out_dir / 'truth'}; ingest with `accord ingest files {out_dir}`")


@ingest_app.command("files")
def ingest_files(
    path: Annotated[Path, typer.Argument(help="A CSV, JSONL, Parquet or Excel (.xlsx, .xls) file, a folder with "
                                              "manifest.yaml, or a Salesforce Data Export (a zip of it, or the "
                                              "folder it was extracted into).")],
    mapping: Annotated[Optional[str], typer.Option(help="Mapping YAML file or shipped mapping name.")] = None,
    entity: Annotated[Optional[str], typer.Option(help=f"Target entity: {', '.join(ENTITIES)}.")] = None,
    instance: Annotated[Optional[str], typer.Option(help="Source instance id (overrides the mapping's).")] = None,
    date_format: DateFormatOpt = None,
    time_zone: TimeZoneOpt = None,
    number_format: NumberFormatOpt = None,
    encoding: EncodingOpt = None,
    sheet: SheetOpt = None,
    engine: EngineOpt = None,
    workspace: WorkspaceOpt = None,
    sandbox: SandboxOpt = None,
) -> None:
    """Ingest files through a mapping (read and mapped on the workspace's engine); bad records go to quarantine,
    the rest load."""
    from accord.connectors.salesforce.export import (
        EXPORT_ENCODING_HINT,
        DataExport,
        data_export,
    )
    from accord.engines.registry import workspace_engine
    from accord.ingest.mapping import MappingError
    from accord.sources.files import FileJob, jobs_from_manifest
    from accord.sources.mappings import resolve_mapping

    with user_errors(), scratch("export") as extracted:
        ws = open_workspace(workspace)
        schema = ws.schema
        export = data_export(path, extracted, instance, schema) if mapping is None else DataExport()
        if export.files:
            jobs = export.jobs
        elif path.is_dir():
            jobs = jobs_from_manifest(path, schema)
        elif not path.exists():
            raise FileNotFoundError(f"no such file: {path}")
        elif mapping is None:
            raise MappingError(f"{path}: name the mapping that reads it with --mapping (shipped: see `accord mappings list`)")
        else:
            jobs = [FileJob(path, resolve_mapping(mapping, entity, schema), instance)]
        if date_format or time_zone or number_format:
            jobs = [replace(job, mapping=job.mapping.in_locale(date_format or [], time_zone, number_format))
                    for job in jobs]
        if encoding:
            jobs = [replace(job, encoding=encoding) for job in jobs]
        if sheet:
            jobs = [replace(job, sheet=sheet) for job in jobs]
        with ws.lake(sandbox) as lake:
            results = ingest_jobs(workspace_engine(ws, lake, engine), jobs)
    print_results(results, EXPORT_ENCODING_HINT if export.files else None)
    if export.files:
        print_unread(export.unread)


@ingest_app.command("messages")
def ingest_messages(
    paths: Annotated[list[Path], typer.Argument(help="Files of archived messages, a message a line (.gz, .json, "
                                                     ".jsonl, .ndjson, .tsv) or a row (.parquet), zips of such files, "
                                                     "or folders holding them.")],
    instance: Annotated[Optional[str], typer.Option(
        help="The collector whose messages these are (default: the workspace's, as `accord serve` takes them).")] = None,
    shape: Annotated[str, typer.Option(
        "--format", help="segment: messages as Segment archives them (its S3 destination, RudderStack's dumps); "
                         "ga4: rows of Google Analytics 4's BigQuery export, extracted as JSON lines or "
                         "Parquet; mixpanel: Mixpanel's raw event export; amplitude: Amplitude's event export "
                         "(the zip its Export API answers); posthog: PostHog's batch exports; snowplow: Snowplow's "
                         "enriched events (TSV, or atomic.events extracted).")] = "segment",
    time_zone: Annotated[Optional[str], typer.Option(
        help="The time zone an export writes its times in, when not UTC: a Mixpanel project created before 2023 "
             "exports `time` in its project's time zone (e.g. America/Los_Angeles).")] = None,
    workspace: WorkspaceOpt = None,
    sandbox: SandboxOpt = None,
) -> None:
    """Load a site's or app's history: each message (or GA4 event) becomes what the collector makes of it live;
    bad lines go to quarantine, the rest load."""
    from accord.sources.message_archive import SHAPES, archive_files, load_archive

    with user_errors():
        if shape not in SHAPES:
            raise ValueError(f"--format is one of {', '.join(SHAPES)}, not {shape!r}")
        archive_files(paths)  # what is not there is named before anything starts
        ws = open_workspace(workspace)
        with ws.lake(sandbox) as lake, progress_bar() as progress:
            task = progress.add_task("messages", total=None, rows=0)

            def told(name: str, messages: int) -> None:
                progress.update(task, description=name.rsplit("/", 1)[-1], rows=messages)

            report = load_archive(lake, paths, instance or ws.config.name, ws.config.collector.track_events, told,
                                  shape, time_zone)
    before = f" ({report.loaded_before:,} loaded before)" if report.loaded_before else ""
    table = Table(title=f"Ingested: {report.files:,} files{before}, {report.messages:,} messages")
    for col in ("entity", "batches", "read", "loaded", "unchanged", "quarantined"):
        table.add_column(col, justify="left" if col == "entity" else "right")
    for entity in ("account", "person", "account_person", "event"):
        of = [r for r in report.results if r.entity == entity]
        if of:
            new = [r for r in of if r.batch_id]
            table.add_row(entity, f"{len(new):,}" + (f" (+{len(of) - len(new):,} loaded before)" if len(new) < len(of)
                                                     else ""),
                          *(f"{sum(getattr(r, n) for r in of):,}" for n in ("rows_read", "loaded", "unchanged",
                                                                           "quarantined")))
    console.print(table)
    print_quarantined(report.results)


@quarantine_app.command("list")
def quarantine_list(
    batch: Annotated[Optional[int], typer.Option(help="Only this batch.")] = None,
    reason: Annotated[Optional[str], typer.Option(help="Only this reason code, e.g. bad_email.")] = None,
    limit: Annotated[int, typer.Option(min=0, max=MAX_COUNT, help="At most this many rows.")] = 50,
    workspace: WorkspaceOpt = None,
    sandbox: SandboxOpt = None,
) -> None:
    """Quarantined records with the reason each was refused."""
    with user_errors(), open_lake(workspace, sandbox) as lake:
        rows = lake.quarantine(batch, reason, limit=limit)
        summary = lake.quarantine_summary()
    table = Table(title="Quarantine")
    for col in ("batch", "entity", "row", "reason"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["batch_id"]), r["entity"], str(r["source_row"]), r["reason"])
    console.print(table)
    console.print("by reason: " + (", ".join(f"{s['entity']}/{s['reason_code']}: {s['rows']:,}" for s in summary) or "none"))


@quarantine_app.command("show")
def quarantine_show(
    batch: Annotated[int, typer.Argument(help="Batch id (from `accord quarantine list` or `accord status`).")],
    row: Annotated[Optional[int], typer.Option(help="Only this row of the batch's input.")] = None,
    limit: Annotated[int, typer.Option(min=0, max=MAX_COUNT, help="At most this many rows.")] = 20,
    workspace: WorkspaceOpt = None,
    sandbox: SandboxOpt = None,
) -> None:
    """Each quarantined record of a batch in full: where it came from, why, and the raw record."""
    with user_errors(), open_lake(workspace, sandbox) as lake:
        rows = lake.quarantine(batch, row=row, limit=limit)
    if not rows:
        console.print(f"nothing quarantined in batch {batch}" + (f" at row {row}" if row else ""))
        return
    for r in rows:
        console.print(f"[bold]batch {r['batch_id']} row {r['source_row']}[/bold] ({r['entity']}, "
                      f"{escape(r['source_name'])})", markup=True)
        console.print(f"  reason: {r['reason']}", highlight=False)
        console.print(f"  raw:    {r['raw_record']}", highlight=False)


@app.command()
def migrate(workspace: WorkspaceOpt = None, sandbox: SandboxOpt = None) -> None:
    """Bring each sandbox's store (or the one named) up to this Accord's version; records are kept."""
    with user_errors():
        ws = open_workspace(workspace)
        for name in [sandbox] if sandbox else ws.config.sandboxes:
            with ws.lake(name, migrate=True) as lake:
                console.print(f"{name}: version {lake.schema_version}", highlight=False)


@app.command()
def status(workspace: WorkspaceOpt = None, sandbox: SandboxOpt = None) -> None:
    """Records per entity, the latest batches, the last run of each pipeline stage and what is in quarantine."""
    from accord.pipeline.runs import latest
    from accord.services.overview import collector_log

    with user_errors():
        ws = open_workspace(workspace)
        with ws.lake(sandbox) as lake:
            counts = lake.counts()
            batches = lake.batches(limit=10)
            summary = lake.quarantine_summary()
            total_batches = lake.scalar("SELECT count(*) FROM batches")
            stages = latest(lake)
            log = collector_log(ws, lake)
    print_counts(counts)
    table = Table(title=f"Latest batches (of {total_batches})")
    for col in ("batch", "entity", "source", "loaded", "unchanged", "quarantined", "finished"):
        table.add_column(col)
    for b in batches:
        table.add_row(
            str(b["batch_id"]), b["entity"], Path(b["source_name"]).name, f"{b['rows_loaded']:,}",
            f"{b['rows_unchanged']:,}", f"{b['rows_quarantined']:,}", f"{b['finished_at']:%Y-%m-%d %H:%M:%S}",
        )
    console.print(table)
    runs = Table("stage", "run", "trigger", "finished", "seconds", "rows in", "rows out", "error",
                 title="Pipeline stages (last run of each; times UTC)")
    for s in stages:
        finished = f"{s['finished_at']:%H:%M:%S}" if s["finished_at"] else "running"
        runs.add_row(s["stage"], str(s["run_id"]), s["trigger"], finished, f"{s['seconds'] or 0:.2f}",
                     f"{s['rows_in']:,}", f"{s['rows_out']:,}", s["error"] or "")
    console.print(runs if stages else "pipeline: no stage has run yet (accord run)")
    said = ", ".join(f"{s['entity']}/{s['reason_code']}: {s['rows']:,}" for s in summary)
    console.print(f"quarantine: {said or 'empty'}")
    if log.segments:
        console.print(f"collector log: {log.summary()}")


@app.command()
def demo(
    workspace: Annotated[Path, typer.Option("--workspace", "-w", help="Folder for the demo workspace.")] = Path(
        "accord-demo"
    ),
    scale: Annotated[str, typer.Option(help=f"One of: {', '.join(SCALES)}.")] = "small",
    seed: Annotated[int, typer.Option(help="Seed of the generated world.")] = 7,
    source: Annotated[str, typer.Option(help="files, or which systems to read through their connectors from local "
                                             "servers: marketo, salesforce, or marketo,salesforce.")] = "files",
    serve: Annotated[bool, typer.Option("--serve", help="Then serve the workspace: web UI, REST API, collector.")] = False,
    port: Annotated[int, typer.Option(help="Port for --serve.")] = 8000,
    engine: Annotated[str, typer.Option(help="Run the batch stages on this engine: duckdb, or spark.")] = "duckdb",
    as_of: Annotated[Optional[str], typer.Option(
        help="The moment the world ends and audiences are evaluated, ISO 8601 (default: now): two demos as of one "
             "moment find the same members.")] = None,
) -> None:
    """Generate a B2B world, ingest all of it into a fresh workspace and print a summary."""
    from accord.demo import run_demo

    with user_errors(), progress_bar() as progress:
        when = parse_as_of(as_of)
        task = progress.add_task("generating", total=None, rows=0)

        def step(what: str, total: int) -> None:
            done = progress.tasks[task].completed
            progress.update(task, description=what, total=total, completed=done + (1 if done or what else 0))

        report = run_demo(
            workspace, scale, seed, when, on_step=step,
            on_rows=lambda n: progress.update(task, rows=progress.tasks[task].fields["rows"] + n), source=source,
            engine=engine,
        )
        progress.update(task, description="done", completed=len(report.results))
    print_results(report.results)
    print_counts(report.counts)
    if report.identity:
        print_identity(report.identity)
    if report.sample_person:
        print_person(report.sample_person)
    if report.audiences:
        print_evaluation(report.audiences)
    for delivery in report.deliveries:
        print_delivery(delivery)
    console.print(f"lead-creating calls made to Marketo: {report.marketo_lead_writes}")
    for line in report.held:
        console.print(f"  {line}", highlight=False)
    if report.erased:
        email, request_id, receipt = report.erased
        removed = ", ".join(f"{name} (run {sent['run_id']})" for name, sent in receipt["destinations"].items())
        console.print(f"privacy delete {request_id} of {email}: removal sent to {removed or 'no destination'}; "
                      f"{sum(receipt['export_rows'].values())} export rows and {sum(receipt['store_rows'].values())} "
                      f"stored rows in {len(receipt['store_rows'])} tables erased", highlight=False)
    console.print(
        f"\nworkspace left in [bold]{escape(str(workspace.resolve()))}[/bold]; explore it with:\n"
        f"  cd {escape(str(workspace))} && accord status\n  accord quarantine list\n"
        f"  accord profile get email:{escape(report.sample_email)}\n  accord identity merges\n  accord audiences list\n"
        f"  accord audiences why \"Webinar attendees\" email:{escape(report.sample_email)}\n"
        "  accord export xdm person --limit 1\n"
        f"  accord deliveries list && accord deliveries show 1 --receipts  (files in exports/)", markup=True
    )
    if serve:
        from accord.api.app import listening
        from accord.api.app import serve as run_server
        from accord.api.keys import create_key

        with user_errors():
            bound = listening("127.0.0.1", port)
        ws = Workspace.load(workspace)
        with ws.lake() as lake:
            key = create_key(lake, "api", "demo").secret
        console.print(f"\nweb UI: http://127.0.0.1:{port}/login?key={key}\nREST API: http://127.0.0.1:{port}/docs "
                      f"(Authorization: Bearer {key})", highlight=False)
        edge = _profile_edge("127.0.0.1", port + 1)
        console.print("Ctrl-C stops")
        run_server(ws, None, bound, 2.0, edge)


@export_app.command("xdm")
def export_xdm(
    entity: Annotated[str, typer.Argument(help="Entity to export.")],
    key: Annotated[Optional[str], typer.Option(help="Only the record with this source key.")] = None,
    limit: Annotated[Optional[int], typer.Option(min=0, max=MAX_COUNT, help="At most this many records.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Write JSON lines here (default, or -: standard output).")] = None,
    workspace: WorkspaceOpt = None,
    sandbox: SandboxOpt = None,
) -> None:
    """Current records as XDM B2B JSON (one object a line), each validated against the XDM schemas."""
    from accord.lake.export import iter_xdm

    out = None if out == Path("-") else out  # as other tools read `-`: standard output, not a file named so
    with user_errors():
        ws = open_workspace(workspace)
        rejected: list[tuple[str, str]] = []
        with ws.lake(sandbox) as lake, (replacing(out) if out else nullcontext(sys.stdout)) as target:
            count = 0
            for doc in iter_xdm(lake, entity, key, limit, ws.config.xdm_tenant, rejected):
                target.write(json.dumps(doc) + "\n")
                count += 1
    if out:
        console.print(f"wrote {count:,} {entity} records to {out}")
    if rejected:
        named = names_listed([f"{source_key}: {why}" for source_key, why in rejected], 5, "; ")
        said = f"{len(rejected):,} {entity} records not exported, their values failing the XDM schemas: {named}"
        err_console.print(f"[red]error:[/red] {escape(said)}", highlight=False, markup=True)
        raise typer.Exit(1)


@import_app.command("xdm")
def import_xdm(
    path: Annotated[Path, typer.Argument(help="JSON lines of XDM objects, as `accord export xdm` writes.")],
    entity: Annotated[str, typer.Option(help="Entity the objects are.")],
    workspace: WorkspaceOpt = None,
    sandbox: SandboxOpt = None,
) -> None:
    """Load XDM B2B JSON back into the lake; objects that fail the schemas are quarantined."""
    from accord.sources.xdm import load_xdm_file

    with user_errors():
        ws = open_workspace(workspace)
        with ws.lake(sandbox) as lake:
            results = load_xdm_file(lake, path, entity, ws.config.xdm_tenant)
    print_results(results)


@sandboxes_app.command("list")
def sandboxes_list(workspace: WorkspaceOpt = None) -> None:
    """The workspace's sandboxes."""
    with user_errors():
        ws = Workspace.load(workspace) if workspace else Workspace.find()
    for name in ws.config.sandboxes:
        marker = " (default)" if name == ws.config.default_sandbox else ""
        console.print(f"{name}{marker}  {ws.root / ws.config.data_dir / name}")


@sandboxes_app.command("create")
def sandboxes_create(name: Annotated[str, typer.Argument(help="New sandbox name.")], workspace: WorkspaceOpt = None) -> None:
    """Add an isolated sandbox to the workspace."""
    with user_errors():
        ws = Workspace.load(workspace) if workspace else Workspace.find()
        ws.add_sandbox(name)
        ws.lake(name).close()
    console.print(f"created sandbox {name}")


@schema_app.command("list")
def schema_list(workspace: WorkspaceOpt = None, sandbox: SandboxOpt = None) -> None:
    """The custom fields the sandbox's store holds, with type, label and how many current records fill each."""
    from accord.lake.custom_fields import CustomFieldTypeChanged

    with user_errors():
        ws = open_workspace(workspace)
        try:
            lake = ws.lake(sandbox)
        except CustomFieldTypeChanged:
            lake = ws.lake(sandbox, declare_fields=False)
        with lake:
            declared = {(f.entity, f.name): f for f in ws.schema.custom}
            table = Table("field", "type", "label", "filled", "declared")
            for f in lake.schema.custom:
                filled = lake.scalar(f"SELECT count({ident(f.name)}) FROM {ident(f.entity + '_current')}")
                said = declared.get((f.entity, f.name))
                state = "yes" if said == f else f"as {said.type}" if said else "no longer"
                table.add_row(f.qualified, f.type, f.label, f"{filled:,}", state)
    console.print(table if table.row_count else "no custom fields (declare them under custom_fields: in accord.yaml)")


@schema_app.command("convert")
def schema_convert(
    field: Annotated[str, typer.Argument(help="entity.name, e.g. account.ABM_Tier__c")],
    to: Annotated[str, typer.Argument(help="The new type: string, number, integer, boolean, date, timestamp or "
                                           "string_list.")],
    workspace: WorkspaceOpt = None,
    sandbox: SandboxOpt = None,
) -> None:
    """Change a custom field's type in the store, converting every value; refused, naming records, if any would
    not convert. Declare the new type in accord.yaml too."""
    from accord.lake.custom_fields import convert

    with user_errors():
        entity, _, name = field.partition(".")
        with open_workspace(workspace).lake(sandbox, declare_fields=False) as lake:
            count = convert(lake, entity, name, to)
    console.print(f"{field} is now {to} ({count:,} stored values converted)")


@schema_app.command("xdm")
def schema_xdm(entity: Annotated[str, typer.Argument(help="account, person, opportunity, ...")],
               workspace: WorkspaceOpt = None) -> None:
    """The XDM field group (JSON Schema) that declares an entity's custom fields under the tenant namespace."""
    from accord.model.xdm import tenant_field_group

    with user_errors():
        ws = open_workspace(workspace)
        group = tenant_field_group(entity, ws.schema, ws.config.xdm_tenant)
    print(json.dumps(group, indent=2))


@mappings_app.command("list")
def mappings_list() -> None:
    """Names of the shipped mappings, for `accord ingest files --mapping NAME`."""
    from accord.sources.mappings import builtin_mappings

    for name in builtin_mappings():
        console.print(name)


@mappings_app.command("check")
def mappings_check(
    path: Annotated[Path, typer.Argument(help="A CSV, JSONL, Parquet or Excel (.xlsx, .xls) file, or a Salesforce "
                                              "Data Export (its zip, or the folder extracted).")],
    mapping: Annotated[Optional[str], typer.Option(
        help="Mapping file or shipped name (default: the best fit).")] = None,
    rows: Annotated[int, typer.Option(min=0, max=MAX_COUNT, help="Mapped rows shown.")] = 5,
    date_format: DateFormatOpt = None,
    time_zone: TimeZoneOpt = None,
    number_format: NumberFormatOpt = None,
    encoding: EncodingOpt = None,
    sheet: SheetOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Before loading: the mapping a file would use, what becomes of each column, and its first rows mapped.
    Inside a workspace its custom fields are known; elsewhere only Accord's own."""
    from accord.ingest.preview import preview
    from accord.sources.files import FileReader
    from accord.sources.mappings import best_fit, resolve_mapping

    with user_errors():
        schema = _schema_if_any(workspace)
        if mapping is None and checked_data_export(path, schema, encoding):
            return
        first = next(iter(FileReader(path, encoding, sheet).chunks()))
        if mapping:
            used = resolve_mapping(mapping, schema=schema)
        else:
            name, present, read = best_fit(first.columns)
            console.print(f"best fit: {name} ({present:.0%} of its columns present; it reads {read:.0%} of the "
                          "file's)", highlight=False)
            used = resolve_mapping(name, schema=schema)
        seen = preview(used.in_locale(date_format or [], time_zone, number_format), first, rows)
    table = Table("column", "becomes")
    for column, fields in seen.columns.items():
        table.add_row(column, ", ".join(fields) or Text("not mapped", style="dim"))
    console.print(table)
    if seen.absent and not seen.missing:  # else the error names what is wrong with them
        console.print(f"absent, left empty: {', '.join(seen.absent)}", highlight=False)
    if seen.missing:
        err_console.print(f"[red]error:[/red] {escape(seen.missing)}", highlight=False, markup=True)
        raise typer.Exit(1)
    for row in seen.sample:
        console.print(json.dumps(row, default=str, ensure_ascii=False), highlight=False)
    if any("unparsable_date" in str(row.get("_reason")) for row in seen.sample):
        console.print(DATE_FORMAT_HINT, highlight=False)


def checked_data_export(path: Path, schema: Schema, encoding: str | None) -> bool:
    """What `accord ingest files` would load of a Salesforce Data Export: each object's file, its mapping's fit;
    False when `path` holds no export."""
    from accord.connectors.salesforce.export import data_export
    from accord.connectors.salesforce.source import mapping_name
    from accord.ingest.preview import preview
    from accord.sources.files import FileReader

    table = Table("file", "mapping", "entity", "not mapped", "absent, left empty", title="A Salesforce Data Export")
    refused = []
    with scratch("export") as extracted:
        export = data_export(path, extracted, schema=schema)
        if not export.files:
            return False
        for sobject, job in export.files:
            first = next(iter(FileReader(job.path, encoding).chunks()))
            seen = preview(job.mapping, first, 0)
            unmapped = [column for column, fields in seen.columns.items() if not fields]
            table.add_row(job.path.name, sobject if schema.object(sobject) else mapping_name(sobject),
                          job.mapping.entity, names_listed(unmapped, 8), names_listed(seen.absent, 8))
            if seen.missing:
                refused.append(f"{job.path.name}: {seen.missing}")
    console.print(table)
    print_unread(export.unread)
    for said in refused:
        err_console.print(f"[red]error:[/red] {escape(said)}", highlight=False, markup=True)
    if refused:
        raise typer.Exit(1)
    return True


def print_unread(names: list[str]) -> None:
    """An export's files that no shipped mapping reads."""
    if names:
        console.print(f"not loaded, no shipped mapping reads them: {names_listed(names)}", highlight=False)


def print_identity(report: IdentityReport) -> None:
    p, a = report.people, report.accounts
    console.print(
        f"identity ({p.mode}, on {report.engine or 'duckdb'}): {p.records:,} person records → {p.profiles:,} people; "
        f"{a.records:,} account records → {a.profiles:,} accounts; {p.merges + a.merges:,} merges, "
        f"{p.rejections + a.rejections:,} links refused by guardrails ({p.seconds + a.seconds:.2f} s)"
    )
    links = ", ".join(f"{method}: {n:,}" for method, n in sorted(report.account_links.items()))
    console.print(f"people linked to accounts — {links or 'none'}")


def attribute_table(title: str, attributes: list[AttributeValue]) -> Table:
    """A profile's unified attributes, each with the record that gave it."""
    table = Table(title=title)
    for col in ("attribute", "value", "from record"):
        table.add_column(col)
    for a in attributes:
        table.add_row(a.name, str(a.value), a.source_key or "")
    return table


def print_person(profile: PersonProfile) -> None:
    console.print(attribute_table(f"Person {profile.person_id}", profile.attributes))
    console.print("identities: " + ", ".join(f"{ns}:{v}" for ns, v in profile.identities), highlight=False)
    for acc in profile.accounts:
        console.print(
            f"account {acc['account_id']} {acc['name'] or ''} — {acc['method']} ({acc['detail']}), "
            f"score {acc['score']}, role {acc['role'] or '-'}", highlight=False,
        )
    for opp in profile.opportunities[:10]:
        console.print(f"opportunity {opp['name']} — {opp['stage']}, {opp['amount']}, role {opp['role']}", highlight=False)
    for c in profile.campaigns[:10]:
        console.print(f"campaign {c['campaign']} — {c['status']}", highlight=False)
    for m in profile.lists[:10]:
        console.print(f"list {m['list']}", highlight=False)
    for e in profile.events[:10]:
        console.print(f"event {e['timestamp']:%Y-%m-%d %H:%M} {e['event_type']} {e['url'] or ''}", highlight=False)
    for c in profile.consent:
        why = f" ({c['reason']})" if c["reason"] else ""
        console.print(f"consent {c['purpose']}{'.' + c['channel'] if c['channel'] else ''}: {c['value']}{why}, "
                      f"stated by {c['source_key']}", highlight=False)
    print_memberships(profile.audiences)


def print_memberships(memberships: list[dict]) -> None:
    for m in memberships:
        left = f", left {m['exited_at']:%Y-%m-%d %H:%M}" if m["exited_at"] else ""
        console.print(f"audience {m['audience']} — {m['status']}, entered {m['entered_at']:%Y-%m-%d %H:%M}{left}",
                      highlight=False)


@identity_app.command("run")
def identity_run(
    full: Annotated[bool, typer.Option(help="Restitch everything, not only what new batches touched.")] = False,
    engine: EngineOpt = None,
    workspace: WorkspaceOpt = None,
    sandbox: SandboxOpt = None,
) -> None:
    """Stitch records into people and accounts, link people to accounts, rebuild profiles."""
    from accord.pipeline import run_identity

    with user_errors():
        ws = open_workspace(workspace)
        with ws.lake(sandbox) as lake:
            started = datetime.now(timezone.utc)
            report = run_identity(lake, ws.config.identity, full, engine=engine, workspace=ws)
            published = published_since(lake, started)
    print_identity(report)
    print_published(ws, lake, published)


@identity_app.command("merges")
def identity_merge_log(
    limit: Annotated[int, typer.Option(min=0, max=MAX_COUNT, help="At most this many.")] = 50,
    workspace: WorkspaceOpt = None,
    sandbox: SandboxOpt = None,
) -> None:
    """Profiles merged into others, with the link that merged them; and links refused by guardrails."""
    with user_errors(), open_lake(workspace, sandbox) as lake:
        from accord.identity import history

        merges, refused, splits = history.merges(lake, limit), history.refused(lake, limit), history.splits(lake, limit)
    table = Table(title="Merges")
    for col in ("run", "kind", "surviving", "merged", "because"):
        table.add_column(col)
    for m in merges:
        table.add_row(str(m["run_id"]), m["kind"], m["surviving_id"], m["merged_id"], m["evidence"] or "")
    console.print(table)
    table = Table(title="Links refused (latest run)")
    for col in ("kind", "record", "identity", "rule"):
        table.add_column(col)
    for r in refused:
        table.add_row(r["kind"], r["record_key"], f"{r['namespace']}:{r['value']}", r["rule"])
    console.print(table)
    for u in splits:
        console.print(f"split: {u['namespace']}:{u['value']} out of {u['profile_id']} ({u['created_at']:%Y-%m-%d %H:%M})")


@identity_app.command("split")
def identity_split(
    profile_id: Annotated[str, typer.Argument(help="The person (or account) id that holds a wrong merge.")],
    identity: Annotated[str, typer.Option(help="namespace:value to separate out, e.g. email:info@acme.com.")],
    workspace: WorkspaceOpt = None,
    sandbox: SandboxOpt = None,
) -> None:
    """Undo a wrong merge: the identity stops linking records, and the profile is restitched now."""
    from accord.services.identity import split

    with user_errors():
        ws = open_workspace(workspace)
        with ws.lake(sandbox) as lake:
            audit.record(lake, audit.cli_actor(), "identity split", profile_id, after=identity)
            done = split(ws, lake, profile_id, identity)
    console.print(f"split {done['namespace']}:{done['value']} out of {profile_id}: it now belongs to "
                  f"{done['now_in'] or 'no profile'}")
    print_identity(done["identity_run"])


@profile_app.command("get")
def profile_get(
    identity: Annotated[str, typer.Argument(help="Any identity: email:…, crm_id:…, marketo_lead_id:INSTANCE:ID, person_id:…")],
    events: Annotated[int, typer.Option(min=0, max=MAX_COUNT, help="How many recent events to show.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    workspace: WorkspaceOpt = None,
    sandbox: SandboxOpt = None,
) -> None:
    """A unified person: attributes with their source, identities, accounts, opportunities, memberships, events."""
    from accord.profiles.lookup import get_person

    with user_errors(), open_lake(workspace, sandbox) as lake:
        profile = get_person(lake, identity, events)
    if as_json:
        console.print_json(json.dumps(asdict(profile), default=str))
    else:
        print_person(profile)


@account_app.command("get")
def account_get(
    identity: Annotated[str, typer.Argument(help="Any identity: domain:acme.com, b2b_account_crm:001…, account_id:…")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    workspace: WorkspaceOpt = None,
    sandbox: SandboxOpt = None,
) -> None:
    """A unified account: firmographics with their source, people with roles, opportunities, engagement."""
    from accord.profiles.lookup import get_account

    with user_errors(), open_lake(workspace, sandbox) as lake:
        profile = get_account(lake, identity)
    if as_json:
        console.print_json(json.dumps(asdict(profile), default=str))
        return
    console.print(attribute_table(f"Account {profile.account_id}", profile.attributes))
    for p in profile.people[:25]:
        console.print(f"person {p['person_id']} {p['email'] or ''} {p['job_title'] or ''} — {p['method']}", highlight=False)
    for o in profile.opportunities[:10]:
        console.print(f"opportunity {o['name']} — {o['stage']}, {o['amount']}", highlight=False)
    for e in profile.engagement:
        console.print(f"engagement {e['event_type']}: {e['last_30_days']} in 30 days, {e['all_time']} in all", highlight=False)
    print_memberships(profile.audiences)


def parse_as_of(text: str | None) -> datetime | None:
    from accord.model.times import InstantOutOfRange, parse_instant

    if not text:
        return None
    try:
        return parse_instant(text)
    except InstantOutOfRange as err:
        raise ValueError(f"--as-of {err}") from None
    except ValueError:
        raise ValueError(f"--as-of {text!r} is not an ISO 8601 date or time (e.g. 2026-11-01 or "
                         "2026-11-01T09:30:00+01:00)") from None


AsOfOpt = Annotated[Optional[str], typer.Option(
    help="Evaluation time, ISO 8601 (default: now). UTC unless a zone is given; a date alone is its midnight UTC.")]
RewindOpt = Annotated[bool, typer.Option(
    help="Record a run as of a moment before the last recorded run: members exit or enter by then, and "
         "destinations are sent those changes.")]


def published_since(lake: Lake, started: datetime) -> list[dict[str, Any]]:
    """The publish stage's record, if one ran since `started`: for commands whose runner keeps no records."""
    from accord.pipeline.runs import latest

    return [r for r in latest(lake) if r["stage"] == "publish" and r["started_at"] >= started]


def print_published(ws: Workspace, lake: Lake, records: list[dict[str, Any]]) -> None:
    """Where a run's publish stage, if it ran, showed the store to the cluster's other tools."""
    from accord.engines.spark.lake import catalog_database

    for record in records:
        if record["stage"] == "publish" and not record["error"]:
            console.print(f"published {record['rows_in']} tables and their views to Spark's catalog, database "
                          f"{catalog_database(lake, ws.config.spark)} ({record['rows_out']} batches or tables "
                          "written)", soft_wrap=True)


def print_evaluation(report: EvaluationReport) -> None:
    decided = (f"incremental: {report.people:,} people and {report.accounts:,} accounts decided"
               if report.mode == "incremental" else "full")
    table = Table(title=f"Audiences as of {report.as_of:%Y-%m-%d %H:%M} UTC "
                        f"(run {report.run_id}, {decided}, on {report.engine}, {report.seconds:.2f} s)")
    for col in ("audience", "of", "size", "entered", "stayed", "exited", "method"):
        table.add_column(col, justify="right" if col in ("size", "entered", "stayed", "exited") else "left")
    for r in report.results:
        table.add_row(r.name, r.of, f"{r.size:,}", f"{r.entered:,}", f"{r.stayed:,}", f"{r.exited:,}", r.method)
    console.print(table)
    print_not_evaluated(report.failed)


def print_not_evaluated(failed: dict[str, str]) -> None:
    """Each audience (or file) left out of an evaluation, and why: on stderr, one line each."""
    for name, why in failed.items():
        err_console.print(f"[red]{escape(name)}: not evaluated[/red] {escape(why)}", highlight=False, markup=True)


@audiences_app.command("validate")
def audiences_validate(workspace: WorkspaceOpt = None, sandbox: SandboxOpt = None) -> None:
    """Parse and compile every audience file; errors name the file, line and column."""
    from accord.audiences.compile import Compiler
    from accord.audiences.files import load_audiences
    from accord.governance.retention import reads_beyond

    with user_errors():
        ws = open_workspace(workspace)
        audiences = load_audiences(ws.audiences_dir(sandbox), ws.schema)
        Compiler(datetime.now(timezone.utc), ws.schema).compile_all(audiences)
    console.print(f"{len(audiences)} audiences are valid")
    for audience in audiences:
        for note in reads_beyond(audience, ws.config.governance.retention):
            console.print(f"note: {audience.name} {note} (governance.retention)")


@audiences_app.command("list")
def audiences_list(workspace: WorkspaceOpt = None, sandbox: SandboxOpt = None) -> None:
    """Audiences with their evaluation method and size at the last run."""
    from accord.services.audiences import (
        evaluation_times,
        list_audiences,
        usable_audiences,
    )

    with user_errors():
        ws = open_workspace(workspace)
        with ws.lake(sandbox) as lake:
            summaries = list_audiences(ws, lake)
            times = evaluation_times(ws, lake)
        left_out = usable_audiences(ws, sandbox).problems
    table = Table(title="Audiences")
    for col in ("audience", "of", "method", "size", "evaluated"):
        table.add_column(col)
    for a in summaries:
        table.add_row(
            a.name, a.of, a.method, f"{a.size:,}" if a.size is not None else "-",
            f"{a.evaluated_at:%Y-%m-%d %H:%M}" if a.evaluated_at else "never",
        )
    console.print(table)
    last = f"{times['last']:%Y-%m-%d %H:%M} UTC ({times['decided']})" if times["last"] else "never"
    console.print(f"last batch evaluation: {last}; next under `accord serve`: {times['next']:%Y-%m-%d %H:%M} UTC",
                  highlight=False)
    print_not_evaluated(left_out)
    if left_out:
        raise typer.Exit(1)


@audiences_app.command("show")
def audiences_show(
    name: Annotated[str, typer.Argument(help="Audience name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the AST as JSON.")] = False,
    workspace: WorkspaceOpt = None,
    sandbox: SandboxOpt = None,
) -> None:
    """An audience's text form (or its JSON AST)."""
    from accord.audiences.text import print_audience
    from accord.services.audiences import named

    with user_errors():
        audience = named(open_workspace(workspace), sandbox, name)[1]
    if as_json:
        console.print_json(audience.model_dump_json())
    else:
        console.print(print_audience(audience), highlight=False)


@audiences_app.command("explain")
def audiences_explain(
    name: Annotated[str, typer.Argument(help="Audience name.")],
    sql: Annotated[bool, typer.Option(help="Also print the compiled SQL (DuckDB dialect).")] = False,
    workspace: WorkspaceOpt = None,
    sandbox: SandboxOpt = None,
) -> None:
    """Streaming or batch, and why."""
    from accord.audiences.compile import Compiler
    from accord.audiences.evaluate import needed
    from accord.audiences.method import evaluation_method
    from accord.services.audiences import named

    with user_errors():
        ws = open_workspace(workspace)
        audiences, audience = named(ws, sandbox, name)
        method, reason = evaluation_method(audience, {a.name: a for a in audiences})
        compiled = Compiler(datetime.now(timezone.utc), ws.schema).compile_all(needed(audiences, name))
    console.print(f"{escape(name)}: [bold]{method}[/bold] — {escape(reason)}", markup=True)
    if sql:
        for table, query in compiled.feature_tables():
            console.print(f"-- {table}\n{query.sql('duckdb', pretty=True)}", highlight=False)
        console.print(f"-- {name}\n{compiled.queries[name].sql('duckdb', pretty=True)}", highlight=False)


FullOpt = Annotated[bool, typer.Option(
    help="Decide every profile, not only those whose inputs changed since the last run.")]


@audiences_app.command("run")
def audiences_run(as_of: AsOfOpt = None, full: FullOpt = False, engine: EngineOpt = None, rewind: RewindOpt = False,
                  workspace: WorkspaceOpt = None, sandbox: SandboxOpt = None) -> None:
    """Evaluate every audience and record who entered, stayed and exited."""
    from accord.services.audiences import refuse_going_back, run

    with user_errors():
        ws = open_workspace(workspace)
        with ws.lake(sandbox) as lake:
            at = parse_as_of(as_of)
            refuse_going_back(lake, at, rewind)
            audit.record(lake, audit.cli_actor(), "audiences run", "all")
            started = datetime.now(timezone.utc)
            report = run(ws, lake, as_of=at, full=full, engine=engine)
            published = published_since(lake, started)
    print_evaluation(report)
    print_published(ws, lake, published)
    if report.failed:
        raise typer.Exit(1)


@audiences_app.command("size")
def audiences_size(
    name: Annotated[str, typer.Argument(help="Audience name.")], as_of: AsOfOpt = None,
    workspace: WorkspaceOpt = None, sandbox: SandboxOpt = None,
) -> None:
    """How many profiles are in the audience now (nothing is recorded)."""
    from accord.services.audiences import members_now

    with user_errors():
        ws = open_workspace(workspace)
        with ws.lake(sandbox) as lake:
            members = members_now(ws, lake, name, parse_as_of(as_of))
    console.print(f"{name}: {len(members):,}")


@audiences_app.command("sample")
def audiences_sample(
    name: Annotated[str, typer.Argument(help="Audience name.")],
    limit: Annotated[int, typer.Option(min=0, max=MAX_COUNT, help="How many.")] = 10,
    as_of: AsOfOpt = None, workspace: WorkspaceOpt = None, sandbox: SandboxOpt = None,
) -> None:
    """Some members of the audience now."""
    from accord.services.audiences import sample

    with user_errors():
        ws = open_workspace(workspace)
        with ws.lake(sandbox) as lake:
            rows = sample(ws, lake, name, limit, parse_as_of(as_of))
    for r in rows:
        console.print(f"{r['id']}  {r['label'] or ''}  {r['detail'] or ''}", highlight=False)


@audiences_app.command("overlap")
def audiences_overlap(
    first: Annotated[str, typer.Argument(help="An audience.")], second: Annotated[str, typer.Argument(help="Another.")],
    workspace: WorkspaceOpt = None, sandbox: SandboxOpt = None,
) -> None:
    """Members in one, the other and both, at the last run."""
    from accord.services.audiences import overlap

    with user_errors(), open_lake(workspace, sandbox) as lake:
        n = overlap(lake, first, second)
    console.print(f"{first}: {n['first']:,}\n{second}: {n['second']:,}\nboth: {n['both']:,}\n"
                  f"only {first}: {n['only_first']:,}\nonly {second}: {n['only_second']:,}")


@audiences_app.command("why")
def audiences_why(
    name: Annotated[str, typer.Argument(help="Audience name.")],
    identity: Annotated[str, typer.Argument(help="A profile: email:…, person_id:…, domain:… for accounts.")],
    as_of: AsOfOpt = None, workspace: WorkspaceOpt = None, sandbox: SandboxOpt = None,
    engine: Annotated[Optional[str], typer.Option(
        "--engine", help="Explain on this engine (duckdb, spark); default: the store's own, which answers at once.")] = None,
) -> None:
    """Each condition of the audience for one profile, with the value that made it true or false."""
    from accord.services.audiences import why

    with user_errors():
        ws = open_workspace(workspace)
        with ws.lake(sandbox) as lake:
            explained = why(ws, lake, name, identity, parse_as_of(as_of), engine)
    verdict = "is in" if explained["member"] else "is not in"
    console.print(f"{explained['profile_id']} {verdict} {name!r}")
    for line in explained["conditions"]:
        mark = "[green]yes[/green]" if line["holds"] else "[red]no [/red]"
        value = "" if line["value"] is None else f"   (value: {line['value']})"
        console.print(f"{'  ' * line['depth']}{mark} {escape(line['condition'])}{escape(value)}", markup=True)


@app.command("run")
def run_all(
    every: Annotated[Optional[str], typer.Option(help="Repeat every interval, e.g. 15m, 1h (until stopped).")] = None,
    scheduled: Annotated[bool, typer.Option(help="Repeat on the cron schedule in accord.yaml (audiences.schedule).")] = False,
    as_of: AsOfOpt = None, workspace: WorkspaceOpt = None, sandbox: SandboxOpt = None,
    full: Annotated[bool, typer.Option(help="Restitch every record and decide every profile, not only what "
                                            "changed since the last run.")] = False,
    engine: EngineOpt = None,
    rewind: RewindOpt = False,
) -> None:
    """Stitch identities, rebuild profiles and evaluate every audience — once, on an interval, or on the schedule."""
    from accord.pipeline import run_batch
    from accord.services.audiences import refuse_going_back, usable_audiences

    with user_errors():
        ws = open_workspace(workspace)
        pause = parse_interval(every) if every else None
        if scheduled:
            ws.config.audiences.next_run(datetime.now(timezone.utc))
        repeat = f"every {every}" if every else "on the schedule" if scheduled else "once"
        while True:
            with ws.lake(sandbox) as lake:
                if repeat:
                    audit.record(lake, audit.cli_actor(), "run", "identity, profiles, audiences", detail=repeat)
                    repeat = ""
                at = parse_as_of(as_of)
                refuse_going_back(lake, at, rewind)
                usable = usable_audiences(ws, lake.sandbox, at)
                done = run_batch(ws, lake, usable.audiences, at, full=full, engine=engine)
            assert done.identity is not None and done.evaluation is not None
            done.evaluation.failed = usable.problems | done.evaluation.failed
            print_identity(done.identity)
            if done.retention is not None and ws.config.governance.retention.limited:
                console.print(f"retention: {done.retention.events:,} events past their retention removed from "
                              f"the store, {done.retention.log_messages:,} from the collector log; "
                              f"{done.retention.people:,} people re-decided")
            if done.retention is not None and done.retention.log_bytes:
                console.print(f"retention: {done.retention.log_bytes / 1e6:,.1f} MB of collector log the store "
                              "had loaded removed")
            print_evaluation(done.evaluation)
            print_published(ws, lake, done.records)
            if pause is None and not scheduled and done.evaluation.failed:
                raise typer.Exit(1)  # the others were evaluated; a job's exit says some were not
            if scheduled:
                moment = datetime.now(timezone.utc)
                pause = (ws.config.audiences.next_run(moment) - moment).total_seconds()
                console.print(f"next run in {pause:.0f} s")
            if pause is None:
                return
            time.sleep(pause)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    ingest_every: Annotated[float, typer.Option(help="Seconds between loads of the collector log into the lake.")] = 2.0,
    edge: Annotated[bool, typer.Option(help="Serve page-time profile summaries from a process of their own.")] = True,
    edge_port: Annotated[Optional[int], typer.Option(help="The profile edge's port (default: --port + 1).")] = None,
    workspace: WorkspaceOpt = None,
    sandbox: SandboxOpt = None,
) -> None:
    """Serve the collector (Segment HTTP Tracking API) and keep the lake, identities and audiences current."""
    from accord.api import relay
    from accord.api.app import listening
    from accord.api.app import serve as run_server

    with user_errors():
        ws = open_workspace(workspace)
        name = ws.sandbox(sandbox)
        running = relay.announced(ws.lake_path(name).parent)
        if running is not None:  # it holds the store: this one would wait for it, then fail
            raise ValueError(f"`accord serve` already serves sandbox {name!r} of this workspace at {running.url} "
                             f"(PID {running.pid}): stop it first, or serve another sandbox with --sandbox")
        bound = listening(host, port)
    console.print(f"serving workspace {ws.config.name} (sandbox {name}) on http://{host}:{port} — collector at /v1/batch")
    run_server(ws, name, bound, ingest_every, _profile_edge(host, port + 1 if edge_port is None else edge_port)
               if edge else None)


def _profile_edge(host: str, port: int) -> Edge:
    """The profile edge's socket, listening before `serve` starts it; a port it cannot take is one warning."""
    from accord.api.edge import Edge

    edge = Edge(host, port)
    failed = edge.listen()
    if failed:
        err_console.print(f"[yellow]{escape(failed)}[/yellow]: summaries are served on the main port only "
                          "(--edge-port chooses another, --no-edge turns it off)", markup=True)
    else:
        console.print(f"profile edge on {edge.url} — GET /api/v1/profiles/{{identity}}/summary", highlight=False)
    return edge


@sources_app.command("list")
def sources_list(workspace: WorkspaceOpt = None) -> None:
    """Each configured source, the sandboxes it feeds and how far each has synced."""
    from accord.sources.state import SourceState

    with user_errors():
        ws = open_workspace(workspace)
        table = Table("name", "type", "instance", "sandbox", "synced up to")
        for source in ws.config.sources:
            for sandbox in source.sandboxes:
                with ws.lake(sandbox) as lake:
                    synced = SourceState(lake, source.state_key).synced_up_to()
                table.add_row(source.name, source.type, source.instance_id, sandbox, synced or "never")
    console.print(table)


@sources_app.command("check")
def sources_check(
    name: Annotated[Optional[str], typer.Argument(help="Source name (default: all).")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Connect to each source and print what it can read; exit 1 if any connection fails."""
    from accord.sources.sync import SOURCE_FAILURES, configured, open_source

    with user_errors():
        ws = open_workspace(workspace)
        checks = [(c.name, f"{c.type} {c.instance_id}", lambda c=c: open_source(ws, c))
                  for c in configured(ws, name=name)]
        report_checks(checks, (*SOURCE_FAILURES, ValueError))


def report_checks(checks: list[tuple[str, str, Callable[[], Any]]], failures: tuple[type[Exception], ...]) -> None:
    """Open each (name, what, opener), ask it what it reaches, close it; one line each, exit 1 if any failed."""
    failed = False
    for name, what, opener in checks:
        try:
            connection = opener()
            try:
                found = connection.check()
            finally:
                connection.close()
        except failures as err:
            failed = True
            err_console.print(f"[red]{escape(name)}: failed[/red] {escape(str(err))}", markup=True)
            continue
        listed = ", ".join(f"{n:,} {what_}" for what_, n in found.items())
        console.print(f"[green]{escape(name)}: ok[/green] ({escape(what)}): {escape(listed)}", markup=True)
    if failed:
        raise typer.Exit(1)


def run_sync(source_type: str, name: str | None, backfill: bool, workspace: Path | None, sandbox: str | None) -> None:
    from accord.sources.sync import SOURCE_FAILURES, configured, run_source

    failed = False
    with user_errors():
        ws = open_workspace(workspace)
        for config in [c for c in configured(ws, source_type, name) if name or not c.paused]:
            with progress_bar() as progress:
                task = progress.add_task(config.name, total=None, rows=0)

                def advance(what: str, rows: int, _task: int = task, _name: str = config.name) -> None:
                    fields = progress.tasks[_task].fields
                    progress.update(_task, description=f"{_name}: {what}", rows=fields["rows"] + rows)

                def waiting(_held: str, _name: str = config.name) -> None:
                    err_console.print(f"waiting: accord serve is syncing {escape(_name)} now; this sync starts when "
                                      "that one ends", markup=True)

                try:
                    reports = run_source(ws, config, sandbox, backfill=backfill, progress=advance, waiting=waiting)
                except SOURCE_FAILURES as err:  # one instance down must not keep the others stale
                    failed = True
                    err_console.print(f"[red]{escape(config.name)}: failed[/red] {escape(str(err))}", markup=True)
                    continue
            for sandbox_name, report in zip([sandbox] if sandbox else config.sandboxes, reports):
                rate = f" ({report.rate_used:.0%} of the rate limit)" if report.rate_used else ""
                merged = f", {report.merged:,} merged" if report.merged else ""
                absent = f"; left out, not in the system: {', '.join(report.absent)}" if report.absent else ""
                console.print(
                    f"{config.name} → {sandbox_name}: {report.mode}, {report.loaded():,} records loaded, "
                    f"{report.quarantined():,} quarantined, {report.deleted:,} deleted{merged}; "
                    f"{report.calls:,} API calls in {report.seconds:.1f} s{rate}{absent}"
                )
    if failed:
        raise typer.Exit(1)


SyncName = Annotated[Optional[str], typer.Option("--name", help="Only this source (default: every one of the type).")]
SyncBackfill = Annotated[bool, typer.Option("--backfill", help="Read all history again.")]
SyncSandbox = Annotated[Optional[str], typer.Option("--sandbox", "-s", help="Only this sandbox.")]


def _add_sync_command(connector: Connector) -> None:
    """`accord sync <type>` for one connector that reads."""
    def sync(name: SyncName = None, backfill: SyncBackfill = False, workspace: WorkspaceOpt = None,
             sandbox: SyncSandbox = None) -> None:
        run_sync(connector.type, name, backfill, workspace, sandbox)

    sync.__doc__ = (f"Sync {connector.title} sources into the sandboxes they feed: a backfill the first time (an "
                    "interrupted one resumes where it stopped), then what changed.")
    sync_app.command(connector.type)(sync)


for _connector in with_sources():
    _add_sync_command(_connector)


def print_delivery(report) -> None:  # type: ignore[no-untyped-def]
    for audience in report.audiences:
        if audience.blocked:
            err_console.print(f"run {report.run_id} {report.destination} ← {audience.audience}: not sent, "
                              f"{audience.blocked}", highlight=False)
            continue
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(audience.skipped.items())) or "0"
        excluded = ", ".join(f"{n} {why}" for why, n in sorted(audience.excluded.items())) or "0"
        console.print(
            f"run {report.run_id} {report.destination} ← {audience.audience}: {audience.activated} activated, "
            f"{audience.removed} removed, {audience.updated} updated, skipped {skipped}, excluded {excluded}, "
            f"{audience.failed} failed"
            + (f", {audience.settled} settled from an interrupted run" if audience.settled else ""),
            highlight=False,
        )
        for reason, n in sorted(audience.failures.items(), key=lambda kv: -kv[1])[:5]:
            err_console.print(f"  failed × {n}: {reason}", highlight=False)


@fields_app.command("list")
def fields_list(
    entity: Annotated[Optional[str], typer.Option("--entity", "-e", help="Only this entity's fields.")] = None,
    labelled: Annotated[bool, typer.Option("--labelled", help="Only fields that carry a label.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Every field as `entity.field`, its type, and the usage labels it carries with where each comes from."""
    with user_errors():
        ws = open_workspace(workspace)
        labels = ws.labels
        if entity and entity not in ws.schema.entities:
            raise WorkspaceError(f"unknown entity {entity!r}; known: {', '.join(ws.schema.entities)}")
        table = Table("field", "type", "labels")
        for name, column, kind, found in labels.fields(entity, labelled):
            table.add_row(f"{name}.{column}", kind, ", ".join(f"{item.label} ({item.because})" for item in found))
    console.print(table if table.row_count else "no field carries a label (declare them under governance: fields)")


@privacy_app.command("access")
def privacy_access(
    identity: Annotated[str, typer.Argument(help="Any identity of the person: email:…, crm_id:…, person_id:…")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the JSON document here.")] = None,
    workspace: WorkspaceOpt = None, sandbox: SandboxOpt = None,
) -> None:
    """Everything held on a person, as one JSON document: identities, every row that mentions them, their
    collector messages."""
    from accord.privacy.access import access

    with user_errors():
        ws = open_workspace(workspace)
        # The file is opened before the request is recorded: a path that cannot be written must not leave a
        # completed request whose document went nowhere. A person's whole record: this account's to read only.
        with ws.lake(sandbox) as lake, (replacing(out, mode=0o600) if out else nullcontext(sys.stdout)) as target:
            document = access(ws, lake, identity, audit.cli_actor())
            target.write(json.dumps(document, indent=2, default=str) + "\n")
    if out:
        rows = sum(len(r) for r in document["held"].values())
        err_console.print(f"request {document['request_id']}: {rows} rows in {len(document['held'])} tables and "
                          f"{len(document['collector_log'])} collector messages written to {out}")


@privacy_app.command("delete")
def privacy_delete(
    identity: Annotated[str, typer.Argument(help="Any identity of the person: email:…, crm_id:…, person_id:…")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    workspace: WorkspaceOpt = None, sandbox: SandboxOpt = None,
) -> None:
    """Erase a person: removed from every destination that received them, then from export files, the collector
    log, the served copy and every table of the store. It cannot be undone."""
    from accord.privacy.erase import ErasureBlocked, delete
    from accord.privacy.subject import find_subject

    with user_errors():
        ws = open_workspace(workspace)
        if not yes:
            with ws.lake(sandbox) as lake:  # closed while asking: a prompt left open must not hold the store
                profiles = ", ".join(find_subject(lake, identity).profile_ids)
            if not typer.confirm(f"erase {identity} (person {profiles}) from every store and destination? "
                                 "This cannot be undone"):
                raise typer.Exit(1)
        try:
            with ws.lake(sandbox) as lake:
                request_id, receipt = delete(ws, lake, identity, audit.cli_actor())
        except ErasureBlocked as err:
            raise ValueError(str(err)) from None
    console.print(f"request {request_id}: erased", highlight=False)
    for name, sent in receipt["destinations"].items():
        console.print(f"  {name}: removal sent (run {sent['run_id']}, {sent['removed']} removed)", highlight=False)
    for name, rows in receipt["export_rows"].items():
        console.print(f"  {name}: {rows} rows taken out of its files", highlight=False)
    console.print(f"  collector log: {receipt['collector_messages']} messages; served copy: "
                  f"{receipt['served_copy_rows']} rows; store: {sum(receipt['store_rows'].values())} rows in "
                  f"{len(receipt['store_rows'])} tables", highlight=False)


@privacy_app.command("list")
def privacy_list(workspace: WorkspaceOpt = None, sandbox: SandboxOpt = None) -> None:
    """Privacy requests, newest first: id, kind, status, when, who asked (the identity is kept only as a hash)."""
    from accord.privacy.requests import listed

    with user_errors(), open_lake(workspace, sandbox) as lake:
        rows = listed(lake)
    table = Table("request", "kind", "status", "requested", "by", "error")
    for r in rows:
        table.add_row(r["request_id"], r["kind"], r["status"], f"{r['requested_at']:%Y-%m-%d %H:%M:%S}", r["actor"],
                      r["error"] or "")
    console.print(table if rows else "no privacy requests yet")


@audit_app.command("list")
def audit_list(
    action: Annotated[Optional[str], typer.Option(help="Only this action, e.g. 'audience saved', configuration.")] = None,
    limit: Annotated[int, typer.Option(min=0, max=MAX_COUNT, help="How many entries, newest first.")] = 30,
    full: Annotated[bool, typer.Option("--full", help="Show the values before and after.")] = False,
    workspace: WorkspaceOpt = None, sandbox: SandboxOpt = None,
) -> None:
    """Who changed what: audiences, configuration (destinations, policies, sources), keys and manual runs."""
    with user_errors(), open_lake(workspace, sandbox) as lake:
        rows = audit.entries(lake, limit, action)
    table = Table("#", "at", "who", "what", "on", "detail")
    for r in rows:
        table.add_row(str(r["entry_id"]), f"{r['recorded_at']:%Y-%m-%d %H:%M:%S}", r["actor"], r["action"], r["target"],
                      r["detail"] or "")
    console.print(table if rows else "the audit log is empty")
    if full:
        for r in rows:
            console.print(f"\n#{r['entry_id']} {r['action']} {r['target']}\n-- before:\n{r['before_value'] or ''}\n"
                          f"-- after:\n{r['after_value'] or ''}", highlight=False)


@alerts_app.command("list")
def alerts_list(
    all_: Annotated[bool, typer.Option("--all", help="Resolved alerts too.")] = False,
    workspace: WorkspaceOpt = None, sandbox: SandboxOpt = None,
) -> None:
    """The alerts open now (as the last check found them), newest first."""
    from accord.alerts.store import open_alerts

    with user_errors(), open_lake(workspace, sandbox) as lake:
        rows = open_alerts(lake, include_resolved=all_)
    table = Table("since", "rule", "alert", "sent", "resolved")
    for r in rows:
        sent = f"{r['sent_at']:%Y-%m-%d %H:%M}" if r["sent_at"] else (f"no: {r['send_error']}" if r["send_error"] else "-")
        table.add_row(f"{r['first_seen']:%Y-%m-%d %H:%M}", r["rule"], r["message"], sent,
                      f"{r['resolved_at']:%Y-%m-%d %H:%M}" if r["resolved_at"] else "")
    console.print(table if rows else "no alerts (`accord alerts check` checks the rules now)")


@alerts_app.command("check")
def alerts_check(workspace: WorkspaceOpt = None, sandbox: SandboxOpt = None) -> None:
    """Check the rules now and send the new alerts (`accord serve` does this every alerts.every_seconds)."""
    from accord.alerts.check import check

    with user_errors():
        ws = open_workspace(workspace)
        with ws.lake(sandbox) as lake:
            report = check(ws, lake)
    for alert in report.firing:
        console.print(f"alert: {alert.message}", highlight=False)
    if report.sent:
        console.print(f"sent {len(report.sent)} new alert(s) by {' and '.join(report.channels)}")
    if report.error:
        err_console.print(f"[red]error:[/red] the alerts could not be sent: {escape(report.error)}", highlight=False,
                          markup=True)
        raise typer.Exit(1)
    if not report.firing:
        console.print("no rule fires")


@alerts_app.command("test")
def alerts_test(workspace: WorkspaceOpt = None) -> None:
    """Send a made-up alert on every configured channel, to see it arrive."""
    from accord.alerts.check import send_test_alert

    with user_errors():
        channels = send_test_alert(open_workspace(workspace))
    console.print(f"a test alert went by {' and '.join(channels)}")


@policies_app.command("list")
def policies_list(workspace: WorkspaceOpt = None) -> None:
    """The policies in force: the core ones (unless turned off) and the workspace's own."""
    from accord.governance.policies import enforced

    with user_errors():
        ws = open_workspace(workspace)
        table = Table("policy", "denies", "for labels", "meaning")
        for policy in enforced(ws.labels):
            joined = (" or " if policy.any_of else " and ").join(policy.labels)
            table.add_row(policy.name, policy.deny, joined, policy.description)
    console.print(table)


@policies_app.command("check")
def policies_check(
    destination: Annotated[Optional[str], typer.Option("--destination", "-d", help="Only this destination.")] = None,
    workspace: WorkspaceOpt = None,
    sandbox: SandboxOpt = None,
) -> None:
    """Check every destination's audiences and fields against the policies; each violation with the path that
    causes it; exit 1 if any."""
    from accord.activation.run import configured
    from accord.governance.enforce import destination_violations
    from accord.governance.policies import enforced

    with user_errors():
        ws = open_workspace(workspace)
        chosen = ws.sandbox(sandbox)
        checked = configured(ws, destination, chosen)
        found = [v for config in checked for v in destination_violations(ws, config, chosen)]
    for violation in found:
        err_console.print(f"[red]violation:[/red] {escape(violation.explain())}", highlight=False, markup=True)
    if found:
        raise typer.Exit(1)
    console.print(f"no violations: {len(checked)} destinations checked against {len(enforced(ws.labels))} policies")


@app.command("engines")
def engines_list() -> None:
    """The engines the batch stages can run on (`engine:` in accord.yaml, `--engine`): what each can do and
    what it needs installed."""
    from dataclasses import fields

    from accord.engines.registry import engines

    table = Table("engine", "title", "can", "needs")
    for kind in engines().values():
        can = [f.name.replace("_", " ") for f in fields(kind.capabilities) if getattr(kind.capabilities, f.name)]
        table.add_row(kind.name, kind.title, ", ".join(can), kind.needs or "nothing more")
    console.print(table)


@destinations_app.command("types")
def destinations_types() -> None:
    """Every destination type Accord knows (built in or added by an installed package): what it takes and the
    settings it requires."""
    from accord.connectors.registry import with_destinations

    table = Table("type", "title", "takes", "required settings")
    for connector in with_destinations():
        model = connector.destination
        assert model is not None
        required = [n for n, f in model.model_fields.items() if f.is_required() and n not in ("name", "audiences")]
        table.add_row(connector.type, connector.title, ", ".join(model.takes), ", ".join(required))  # type: ignore[attr-defined]
    console.print(table)


@destinations_app.command("list")
def destinations_list(workspace: WorkspaceOpt = None) -> None:
    """Each configured destination: its type, how many audiences it sends, its schedule, its last run and dead
    letters (per sandbox, when a destination reads more than prod)."""
    from accord.activation.deliveries import dead_letter_count, list_runs

    with user_errors():
        ws = open_workspace(workspace)
        several = any(c.sandboxes != ["prod"] for c in ws.config.destinations)
        table = Table("name", "type", "audiences", "schedule", *(["sandbox"] if several else []), "last run")
        table.columns[0].overflow = "fold"  # a name is what a user types next: wrapped, never cut
        for config in ws.config.destinations:
            for sandbox in config.sandboxes:
                with ws.lake(sandbox) as lake:
                    runs = list_runs(lake, config.name, 1)
                    last = (f"{runs[0]['status']} {runs[0]['started_at']:%m-%d %H:%M}" if runs else "never")
                    dead = dead_letter_count(lake, config.name)
                    table.add_row(config.name, config.type, str(len(config.audiences)), config.schedule,
                                  *([sandbox] if several else []), last + (f"; {dead} dead letters" if dead else ""))
    console.print(table)


@deliveries_app.command("run")
def deliveries_run(
    destination: Annotated[Optional[str], typer.Option("--destination", "-d", help="Only this destination.")] = None,
    audience: Annotated[Optional[list[str]], typer.Option("--audience", "-a", help="Only these audiences.")] = None,
    workspace: WorkspaceOpt = None,
    sandbox: SandboxOpt = None,
) -> None:
    """Send each destination the changes since what it acknowledged (every configured sandbox it reads)."""
    from accord.activation.run import configured, deliver

    with user_errors():
        ws = open_workspace(workspace)
        failed = False
        for config in [c for c in configured(ws, destination) if destination or not c.paused]:
            for name in [ws.sandbox(sandbox)] if sandbox else config.sandboxes:
                with ws.lake(name) as lake:
                    audit.record(lake, audit.cli_actor(), "deliveries run", config.name,
                                 detail=", ".join(audience) if audience else None)
                    report = deliver(ws, lake, config, audience)
                print_delivery(report)
                if report.error:
                    err_console.print(f"[red]run {report.run_id} {escape(report.destination)}:[/red] "
                                      f"{escape(report.error)}", markup=True)
                failed = failed or report.total("failed") > 0 or report.problem is not None
    if failed:
        err_console.print("some changes failed or were blocked: see `accord deliveries show RUN`, `accord policies "
                          "check` and `accord deliveries retry`")
        raise typer.Exit(1)


@deliveries_app.command("check")
def deliveries_check(
    name: Annotated[Optional[str], typer.Argument(help="Destination name (default: all).")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Connect to each destination and say what it reaches, sending no member; exit 1 if any fails."""
    from accord.activation.run import configured, open_destination
    from accord.connectors.errors import ConnectorError

    with user_errors():
        ws = open_workspace(workspace)
        checks = [(c.name, c.type, lambda c=c: open_destination(ws, c, c.sandboxes[0])) for c in configured(ws, name)]
        report_checks(checks, (ConnectorError, ValueError, OSError))


@deliveries_app.command("list")
def deliveries_list(
    destination: Annotated[Optional[str], typer.Option("--destination", "-d")] = None,
    limit: Annotated[int, typer.Option(min=0, max=MAX_COUNT, help="Most recent runs shown.")] = 20,
    workspace: WorkspaceOpt = None,
    sandbox: SandboxOpt = None,
) -> None:
    """Recent delivery runs: activated, removed, updated, skipped, excluded, failed, duration."""
    from accord.activation.deliveries import list_runs

    with user_errors(), open_lake(workspace, sandbox) as lake:
        runs = list_runs(lake, destination, limit)
    table = Table("run", "destination", "trigger", "status", "activated", "removed", "updated", "skipped", "excluded",
                  "failed", "seconds", "started")
    for r in runs:
        table.add_row(str(r["run_id"]), r["destination"], r["trigger"], r["status"], *(f"{r[k]:,}" for k in (
            "activated", "removed", "updated", "skipped", "excluded", "failed")), f"{r['seconds'] or 0:.1f}",
            f"{r['started_at']:%Y-%m-%d %H:%M:%S}")
    console.print(table)


@deliveries_app.command("show")
def deliveries_show(
    run_id: Annotated[int, typer.Argument(help="Run number from `accord deliveries list`.")],
    receipts: Annotated[bool, typer.Option("--receipts", help="Every member's receipt.")] = False,
    workspace: WorkspaceOpt = None,
    sandbox: SandboxOpt = None,
) -> None:
    """One run: counts by audience, change, outcome and reason; with --receipts, one line per member."""
    from accord.activation.deliveries import receipts as run_receipts
    from accord.activation.deliveries import run_details

    with user_errors(), open_lake(workspace, sandbox) as lake:
        run = run_details(lake, run_id)
        if run is None:
            raise LookupError(f"no delivery run {run_id}")
        rows = run_receipts(lake, run_id) if receipts else []
    console.print(f"run {run_id}: {run['destination']} ({run['trigger']}), {run['status']}, "
                  f"{run['seconds'] or 0:.1f} s" + (f", error: {run['error']}" if run["error"] else ""), highlight=False)
    table = Table("audience", "change", "outcome", "reason", "members")
    for r in run["by_outcome"]:
        table.add_row(r["audience"], r["change"], r["outcome"], r["reason"], f"{r['members']:,}")
    console.print(table)
    for r in rows:
        console.print(f"{r['profile_id']}\t{r['audience']}\t{r['change']}\t{r['outcome']}\t{r['reason'] or ''}"
                      f"\tattempts={r['attempts']}", highlight=False)


@deliveries_app.command("reach")
def deliveries_reach(
    destination: Annotated[Optional[str], typer.Option("--destination", "-d", help="Only this destination.")] = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="Ask the platforms now, not what the last runs read.")]
    = False,
    workspace: WorkspaceOpt = None,
    sandbox: SandboxOpt = None,
) -> None:
    """What the ad platforms say of each audience's list: its state, how many they matched, the size they can
    target; beside how many members Accord has sent there."""
    from accord.activation.reach import platform_size, reach_rows
    from accord.activation.run import configured, refresh_reach

    failed = False
    with user_errors():
        ws = open_workspace(workspace)
        name = ws.sandbox(sandbox)
        chosen = configured(ws, destination, name)
        with ws.lake(name) as lake:
            for config in chosen if refresh else []:
                errors = refresh_reach(ws, lake, config)
                if errors is None and destination:
                    raise ValueError(f"destination {config.name!r} ({config.type}) is no ad platform: it holds "
                                     "exactly the members its receipts say (`accord deliveries list`)")
                for audience, error in (errors or {}).items():
                    err_console.print(f"{config.name} · {audience}: {error}", highlight=False, markup=False)
                    failed = True
            rows = reach_rows(lake, [c.name for c in chosen])
    if not rows:
        console.print("no platform has been read yet: ad platforms (google_ads, linkedin, meta_ads) are read after "
                      "their runs, or now with --refresh")
    else:
        table = Table("destination", "audience", "sent", "state", "matched", "size", "match rate", "read", "note")
        for column in table.columns[:2]:
            column.overflow = "fold"  # names are what a user types next: wrapped, never cut
        for r in rows:
            said = "; ".join(filter(None, [r["note"], r["error"] and f"last read failed: {r['error']}"]))
            table.add_row(r["destination"], escape(r["audience"]), f"{r['held']:,}", escape(r["state"] or ""),
                          "" if r["matched"] is None else f"{r['matched']:,}",
                          platform_size(r["size_low"], r["size_high"]),
                          "" if r["match_rate"] is None else f"{r['match_rate']:.0f}%",
                          f"{r['checked_at']:%m-%d %H:%M}",
                          escape(said))
        console.print(table)
    if failed:
        raise typer.Exit(1)


@deliveries_app.command("retry")
def deliveries_retry(
    destination: Annotated[str, typer.Argument(help="Destination whose dead letters are sent again.")],
    workspace: WorkspaceOpt = None,
    sandbox: SandboxOpt = None,
) -> None:
    """Send again every change that went to the dead-letter list, then report the run."""
    from accord.activation.run import configured, retry

    with user_errors():
        ws = open_workspace(workspace)
        config = configured(ws, destination)[0]
        with ws.lake(ws.sandbox(sandbox)) as lake:
            audit.record(lake, audit.cli_actor(), "deliveries retry", config.name)
            released, report = retry(ws, lake, config)
    console.print(f"{released} dead-lettered change(s) released")
    print_delivery(report)
    if report.total("failed"):
        raise typer.Exit(1)


@keys_app.command("create")
def keys_create(
    kind: Annotated[str, typer.Argument(help="write (collector) or api (REST API).")],
    note: Annotated[Optional[str], typer.Option(help="What the key is for.")] = None,
    role: Annotated[Optional[list[str]], typer.Option(
        "--role", help="What an API key may do (repeatable): read, write-audiences, activate, privacy, admin. "
                       "Default: admin (everything).")] = None,
    workspace: WorkspaceOpt = None, sandbox: SandboxOpt = None,
) -> None:
    """Create a key; it is printed once and stored only as a hash."""
    from accord.api.keys import create_key

    with user_errors(), open_lake(workspace, sandbox) as lake:
        key = create_key(lake, kind, note, tuple(role or ["admin"]))
        audit.record(lake, audit.cli_actor(), "key created", key.key_id, after={"kind": kind, "roles": key.roles,
                                                                                 "note": note})
    console.print(key.secret, highlight=False)
    roles = f" with roles {', '.join(key.roles)}" if kind == "api" else ""
    err_console.print(f"{kind} key {key.key_id}{roles}: keep it now, it is not shown again")


@keys_app.command("list")
def keys_list(workspace: WorkspaceOpt = None, sandbox: SandboxOpt = None) -> None:
    """Keys by id and kind (never the secrets)."""
    with user_errors(), open_lake(workspace, sandbox) as lake:
        rows = lake.query("SELECT key_id, kind, created_at, revoked_at, note, roles FROM api_keys ORDER BY created_at")
    for r in rows:
        state = f"revoked {r['revoked_at']:%Y-%m-%d %H:%M}" if r["revoked_at"] else "active"
        roles = ",".join(r["roles"] or []) if r["kind"] == "api" else ""
        console.print(f"{r['key_id']}  {r['kind']:<5}  {state:<22}  {roles:<24}  {r['note'] or ''}", highlight=False)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id `accord keys list` shows.")],
    workspace: WorkspaceOpt = None, sandbox: SandboxOpt = None,
) -> None:
    """Revoke a key: the server refuses it within seconds."""
    from accord.api.keys import revoke_key

    with user_errors(), open_lake(workspace, sandbox) as lake:
        revoke_key(lake, key_id)
        audit.record(lake, audit.cli_actor(), "key revoked", key_id)
    console.print(f"revoked {key_id}")


LONGEST_INTERVAL = 366 * 86_400
"""A year and a day: a longer wait cannot be slept (`99999999999d` overflowed the clock)."""


def parse_interval(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit() or int(text[:-1]) == 0:
        raise ValueError(f"an interval is a whole number and a unit (s, m, h, d), e.g. 15m — not {text!r}")
    seconds = int(text[:-1]) * units[text[-1]]
    if seconds > LONGEST_INTERVAL:
        raise ValueError(f"an interval is at most 366 days — not {text!r}")
    return seconds


def failure(err: Exception, argv: list[str]) -> str:
    """An unforeseen error of a command as one line."""
    if isinstance(err, ValidationError):  # each problem, never the values given
        return f"{type(err).__name__}: {problems(err)}"
    if (short := store_failure(err)) is not None:  # a disk failure DuckDB names last, after the error it caused
        return f"{short}, then run the command again"
    if "surrogate" in str(err) and (odd := next((a for a in argv if text_problem(a)), None)) is not None:
        # A terminal passes what it cannot decode as lone surrogates; only a file name may be such bytes.
        shown = odd.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return f"the argument '{shown}' is not UTF-8 text, which Accord needs (a file's name may be any bytes)"
    first = next((line.strip() for line in str(err).splitlines() if line.strip()), "")  # DuckDB's next point into SQL
    return f"{type(err).__name__}: {first}"


def main() -> None:
    """The `accord` command. While `accord serve` holds the sandbox's store, the command is run by that server (one
    process may hold a DuckDB file); else here. Any failure is one line and a non-zero exit (`ACCORD_DEBUG=1`
    shows the traceback)."""
    from accord.api import relay

    argv = sys.argv[1:]
    try:
        serving = _serving(argv)
        if serving is None:
            app()
            return
    except Exception as err:  # noqa: BLE001 - no traceback reaches a user
        if os.environ.get("ACCORD_DEBUG"):
            raise
        err_console.print(f"[red]error:[/red] {escape(failure(err, argv))} (set ACCORD_DEBUG=1 for the traceback)",
                          highlight=False, markup=True)
        raise SystemExit(1) from None
    server, ws = serving
    try:
        words = _command_words(argv)
        exit_code = relay.forward(server, argv[:words] + relay.absolute_paths(argv[words:], Path.cwd()),
                                  _relayed_env(ws))
    except KeyboardInterrupt:
        err_console.print(f"interrupted: the running `accord serve` ({server.url}) carries the command on to its end",
                          markup=False)
        raise SystemExit(130) from None
    except Exception as err:  # noqa: BLE001 - the server went away mid-command: say so in one line
        err_console.print(f"[red]error:[/red] the running `accord serve` ({server.url}) did not answer: "
                          f"{escape(str(err))}", markup=True)
        raise SystemExit(1) from None
    raise SystemExit(exit_code)


def _serving(argv: list[str]) -> tuple[relay.Announcement, Workspace] | None:
    """The live server holding the store this command's sandbox uses (and the workspace), if any."""
    from accord.api import relay
    from accord.workspace import WorkspaceError

    if not argv or argv[0] in relay.LOCAL_ONLY or "--help" in argv:
        return None
    try:
        named = _option(argv, "-w", "--workspace")
        ws = Workspace.load(Path(named)) if named else Workspace.find()
        folder = ws.lake_path(_option(argv, "-s", "--sandbox")).parent
    except WorkspaceError:
        return None
    server = relay.announced(folder)
    return (server, ws) if server else None


def _command_words(argv: list[str]) -> int:
    """How many leading arguments name the command (`audiences list`): they are never paths."""
    command = typer.main.get_command(app)
    words = 0
    while isinstance(command, typer.core.TyperGroup) and words < len(argv):
        sub = command.get_command(None, argv[words])  # type: ignore[arg-type]
        if sub is None:
            break
        command, words = sub, words + 1
    return words


def _option(argv: list[str], short: str, long: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg in (short, long) and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(long + "="):
            return arg.split("=", 1)[1]
    return None


def _relayed_env(ws: Workspace) -> dict[str, str]:
    """What decides a command's workspace and sandbox, and the terminal's width for its tables (a shell seldom
    exports COLUMNS: the width is the terminal's own)."""
    env = {"ACCORD_WORKSPACE": str(ws.root.resolve()), "COLUMNS": str(Console().width)}
    if os.environ.get("ACCORD_SANDBOX"):
        env["ACCORD_SANDBOX"] = os.environ["ACCORD_SANDBOX"]
    return env


if __name__ == "__main__":
    main()
