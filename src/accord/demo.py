"""`accord demo`: generate a world, ingest all of it into a fresh workspace, and report what landed."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from accord.activation.run import deliver
from accord.activation.sync import DeliveryReport
from accord.audiences.evaluate import EvaluationReport, evaluate
from accord.audiences.files import load_audiences
from accord.generate import generate
from accord.identity.run import IdentityReport, run_identity
from accord.ingest.loader import IngestResult
from accord.lake.store import Lake
from accord.profiles.lookup import PersonProfile, get_person
from accord.sources.files import FileJob, jobs_from_manifest, load_file
from accord.workspace import CONFIG_FILE, Workspace, WorkspaceError

if TYPE_CHECKING:
    from accord.testing.marketo_server import MarketoServer

GENERATED = "sources/generated"
DEMO_SOURCES = ("files", "marketo")
DEMO_AUDIENCES = ["Webinar attendees", "Senior people on won deals worth over $100k"]


@dataclass
class DemoReport:
    workspace: Path
    results: list[IngestResult] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    identity: IdentityReport | None = None
    sample_person: PersonProfile | None = None
    sample_email: str = ""
    audiences: EvaluationReport | None = None
    deliveries: list[DeliveryReport] = field(default_factory=list)
    marketo_lead_writes: int = 0


def fresh_workspace(folder: Path) -> Workspace:
    """A new workspace in `folder`; an earlier demo workspace there is removed, anything else is refused."""
    if folder.exists() and any(folder.iterdir()):
        if not (folder / CONFIG_FILE).exists():
            raise WorkspaceError(f"{folder} exists and is not an Accord workspace; choose another --workspace")
        shutil.rmtree(folder)
    return Workspace.init(folder, name="accord-demo")


def run_demo(
    folder: Path,
    scale: str = "small",
    seed: int = 7,
    as_of: datetime | None = None,
    on_step: Callable[[str, int], None] | None = None,
    on_rows: Callable[[int], None] | None = None,
    source: str = "files",
) -> DemoReport:
    """Generate → ingest → stitch and profile → evaluate audiences → activate; `on_step(what, total)` reports progress.

    A local Marketo server plays the marketing team's Marketo instance: with `source="marketo"` the Marketo records
    are read from it through the connector instead of from files; either way audiences are activated to its lists.
    """
    from accord.testing.marketo_data import MarketoData
    from accord.testing.marketo_server import Limits, MarketoServer

    if source not in DEMO_SOURCES:
        raise WorkspaceError(f"unknown demo source {source!r}; choose one of: {', '.join(DEMO_SOURCES)}")
    ws = fresh_workspace(folder)
    for example in sorted(resources.files("accord.audiences").joinpath("examples").iterdir(), key=lambda p: p.name):
        if example.name.endswith(".aud"):
            (ws.root / "audiences" / example.name).write_text(example.read_text())
    out = folder / GENERATED
    generate(out, scale=scale, seed=seed, as_of=as_of)
    jobs: list[FileJob] = jobs_from_manifest(out)
    if source == "marketo":
        jobs = [job for job in jobs if job.path.parent.name != "marketo"]
    steps = len(jobs) + 3
    report = DemoReport(folder)
    # Marketo's limits, but a 20-second window allows 1,000 calls here so the demo does not sit waiting.
    marketo = MarketoServer(MarketoData.from_folder(out / "marketo"), limits=Limits(calls_per_window=1000, bulk_seconds=0.01))
    with marketo, ws.lake() as lake:
        _configure(ws, marketo, source)
        for job in jobs:
            if on_step:
                on_step(str(job.path.relative_to(folder)), steps)
            report.results.append(load_file(lake, job, on_rows))
        if source == "marketo":
            if on_step:
                on_step("syncing from a local Marketo server", steps)
            report.results.extend(_sync(ws, lake, on_rows))
        report.counts = lake.counts()
        if on_step:
            on_step("stitching identities", steps)
        report.identity = run_identity(lake, ws.config.identity)
        if on_step:
            on_step("evaluating audiences", steps)
        report.audiences = evaluate(lake, load_audiences(ws.root / "audiences"), as_of)
        if on_step:
            on_step("activating audiences", steps)
        report.deliveries = [deliver(ws, lake, config) for config in ws.config.destinations]
        report.marketo_lead_writes = len(marketo.lead_writes)
        sample = lake.query(
            "SELECT person_id, email FROM person_profile WHERE email IS NOT NULL "
            "ORDER BY records DESC, (SELECT count(*) FROM person_account pa WHERE pa.person_id = person_profile.person_id) DESC, "
            "person_id LIMIT 1"
        )
        if sample:
            report.sample_email = sample[0]["email"]
            report.sample_person = get_person(lake, f"person_id:{sample[0]['person_id']}", events=5)
    return report


def _configure(ws: Workspace, marketo: MarketoServer, source: str) -> None:
    """Point the workspace at the local Marketo server (source and lists) and at an export folder."""
    from accord.activation.config import FileDestinationConfig, MarketoDestinationConfig
    from accord.sources.config import MarketoSourceConfig

    (ws.root / "secrets").mkdir(exist_ok=True)
    (ws.root / "secrets" / "marketo.yaml").write_text(f"client_secret: {marketo.client_secret}\n")
    connection = {"munchkin_id": marketo.munchkin_id, "endpoint": marketo.endpoint, "client_id": marketo.client_id,
                  "client_secret": "file:secrets/marketo.yaml#client_secret", "calls_per_20s": 1000}
    sources = []
    if source == "marketo":
        earliest = min(str(v) for v in marketo.data.leads["createdAt"].to_pylist() if v)
        sources.append(MarketoSourceConfig(name="marketo-demo", backfill_since=date.fromisoformat(earliest[:10]),
                                           bulk_poll_seconds=0.02, **connection))
    destinations = [
        MarketoDestinationConfig(name="marketo-lists", audiences=DEMO_AUDIENCES, folder_id=1, **connection),
        FileDestinationConfig(name="audience-files", url="exports", audiences=DEMO_AUDIENCES,
                              fields=["email", "first_name", "last_name", "company_name"]),
    ]
    ws.config = ws.config.model_copy(update={"sources": sources, "destinations": destinations})
    ws.save()


def _sync(ws: Workspace, lake: Lake, on_rows: Callable[[int], None] | None) -> list[IngestResult]:
    from accord.sources.marketo import open_source

    source = open_source(ws.config.sources[0], ws.root)
    try:
        return list(source.backfill(lake, (lambda what, rows: on_rows(rows)) if on_rows else None).results)
    finally:
        source.close()
