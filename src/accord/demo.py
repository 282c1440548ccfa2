"""`accord demo`: generate a world, ingest all of it into a fresh workspace, and report what landed."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib import resources
from pathlib import Path

from accord.audiences.evaluate import EvaluationReport, evaluate
from accord.audiences.files import load_audiences
from accord.generate import generate
from accord.identity.run import IdentityReport, run_identity
from accord.ingest.loader import IngestResult
from accord.lake.store import Lake
from accord.profiles.lookup import PersonProfile, get_person
from accord.sources.files import FileJob, jobs_from_manifest, load_file
from accord.workspace import CONFIG_FILE, Workspace, WorkspaceError

GENERATED = "sources/generated"
DEMO_SOURCES = ("files", "marketo")


@dataclass
class DemoReport:
    workspace: Path
    results: list[IngestResult] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    identity: IdentityReport | None = None
    sample_person: PersonProfile | None = None
    sample_email: str = ""
    audiences: EvaluationReport | None = None


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
    """Generate → ingest everything → stitch identities and build profiles; `on_step(what, total)` reports progress.

    `source="marketo"` reads the Marketo part from a local Marketo server through the connector instead of files.
    """
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
    report = DemoReport(folder)
    with ws.lake() as lake:
        for job in jobs:
            if on_step:
                on_step(str(job.path.relative_to(folder)), len(jobs))
            report.results.append(load_file(lake, job, on_rows))
        if source == "marketo":
            if on_step:
                on_step("syncing from a local Marketo server", len(jobs))
            report.results.extend(_sync_from_local_marketo(ws, lake, out / "marketo", on_rows))
        report.counts = lake.counts()
        if on_step:
            on_step("stitching identities", len(jobs))
        report.identity = run_identity(lake, ws.config.identity)
        if on_step:
            on_step("evaluating audiences", len(jobs))
        report.audiences = evaluate(lake, load_audiences(ws.root / "audiences"), as_of)
        sample = lake.query(
            "SELECT person_id, email FROM person_profile WHERE email IS NOT NULL "
            "ORDER BY records DESC, (SELECT count(*) FROM person_account pa WHERE pa.person_id = person_profile.person_id) DESC, "
            "person_id LIMIT 1"
        )
        if sample:
            report.sample_email = sample[0]["email"]
            report.sample_person = get_person(lake, f"person_id:{sample[0]['person_id']}", events=5)
    return report


def _sync_from_local_marketo(ws: Workspace, lake: Lake, folder: Path, on_rows: Callable[[int], None] | None
                             ) -> list[IngestResult]:
    """Serve the generated Marketo records from a local Marketo server and backfill them through the connector."""
    from accord.sources.config import MarketoSourceConfig
    from accord.sources.marketo import open_source
    from accord.testing.marketo_data import MarketoData
    from accord.testing.marketo_server import Limits, MarketoServer

    data = MarketoData.from_folder(folder)
    earliest = min(str(v) for v in data.leads["createdAt"].to_pylist() if v)
    # Marketo's limits, but a 20-second window allows 1,000 calls here so the demo does not sit waiting.
    with MarketoServer(data, limits=Limits(calls_per_window=1000, bulk_seconds=0.01)) as server:
        (ws.root / "secrets").mkdir(exist_ok=True)
        (ws.root / "secrets" / "marketo.yaml").write_text(f"client_secret: {server.client_secret}\n")
        config = MarketoSourceConfig(
            name="marketo-demo", munchkin_id=server.munchkin_id, endpoint=server.endpoint, client_id=server.client_id,
            client_secret="file:secrets/marketo.yaml#client_secret", backfill_since=date.fromisoformat(earliest[:10]),
            calls_per_20s=1000, bulk_poll_seconds=0.02,
        )
        ws.config = ws.config.model_copy(update={"sources": [config]})
        ws.save()
        source = open_source(config, ws.root)
        try:
            report = source.backfill(lake, (lambda what, rows: on_rows(rows)) if on_rows else None)
        finally:
            source.close()
    return report.results
