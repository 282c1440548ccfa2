"""`accord demo`: generate a world, ingest all of it into a fresh workspace, and report what landed."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from accord.activation.sync import DeliveryReport
from accord.audiences.evaluate import EvaluationReport
from accord.audiences.files import load_audiences
from accord.engines.registry import engine_kind, workspace_engine
from accord.generate import generate
from accord.governance.config import GovernanceConfig
from accord.identity.run import IdentityReport
from accord.ingest.loader import IngestResult
from accord.lake.store import Lake
from accord.model.schema import CustomField
from accord.pipeline import run_batch
from accord.profiles.lookup import PersonProfile, get_person
from accord.sources.files import FileJob, jobs_from_manifest
from accord.workspace import CONFIG_FILE, Workspace, WorkspaceError

if TYPE_CHECKING:
    from accord.connectors.google_ads.server import GoogleAdsServer
    from accord.connectors.linkedin.server import LinkedInServer
    from accord.connectors.marketo.server import MarketoServer
    from accord.connectors.salesforce.server import SalesforceServer
    from accord.sources.config import SourceConfig

GENERATED = "sources/generated"
DEMO_NAME = "accord-demo"
DEMO_MARK = ".accord-demo"
"""The file that tells a demo workspace from one an organisation keeps its data in."""
DEMO_SOURCES = ("marketo", "salesforce")
STAGE_STEPS = {"identity": "stitching identities", "profiles": "building profiles",
               "audiences": "evaluating audiences", "activation": "activating audiences",
               "publish": "publishing to Spark's catalog"}
DEMO_AUDIENCES = ["Webinar attendees", "Senior people on won deals worth over $100k"]
DEMO_ACCOUNTS = "Accounts with 3+ people who clicked an email in 14 days"
DEMO_CUSTOM_FIELDS = (
    CustomField(entity="account", name="ABM_Tier__c", label="ABM Tier",
                description="The account's tier in the account-based marketing programme."),
    CustomField(entity="account", name="Products__c", type="string_list", label="Products Owned",
                description="What the account has bought (a multi-select picklist)."),
    CustomField(entity="person", name="Persona__c", label="Persona", description="The buying-group role sales gave."),
)
"""The custom fields the demo's Salesforce org carries (the generator writes them), declared as a user would."""
DEMO_BLOCKED = "Tier 1 champions"
DEMO_GOVERNANCE = GovernanceConfig(fields={"person.email": ["I1"], "person.phone": ["I1"],
                                           "account.ABM_Tier__c": ["C2"]})
"""Labels as a data steward would set them: e-mail and phone identify a person; the ABM tier is the sales team's
own assessment, not to leave for a third party (C2)."""


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
    held: list[str] = field(default_factory=list)
    """What each local system holds after activation, one line each (a segment, a list, a campaign)."""
    erased: tuple[str, str, dict[str, Any]] | None = None
    """A privacy delete run on one webinar attendee: their e-mail, the request id, its receipt."""


def fresh_workspace(folder: Path) -> Workspace:
    """A new workspace in `folder`; an earlier demo workspace there is removed, anything else is refused (any
    workspace was removed once: `accord demo -w` naming a real one deleted its store, secrets and audiences)."""
    if folder.exists() and any(folder.iterdir()):
        if not (folder / CONFIG_FILE).exists():
            raise WorkspaceError(f"{folder} exists and is not an Accord workspace; choose another --workspace")
        if not _is_demo(folder):
            raise WorkspaceError(f"{folder} holds an Accord workspace that no demo made; the demo would delete it: "
                                 "choose another --workspace")
        shutil.rmtree(folder)
    ws = Workspace.init(folder, name=DEMO_NAME)
    (folder / DEMO_MARK).write_text("made by `accord demo`, which replaces this folder when run on it again\n")
    return ws


def _is_demo(folder: Path) -> bool:
    """Made by `accord demo`: its mark, or (made before the mark) the demo's name and generated world."""
    if (folder / DEMO_MARK).exists():
        return True
    try:
        name = (yaml.safe_load((folder / CONFIG_FILE).read_text()) or {}).get("name")
    except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError):
        return False
    return name == DEMO_NAME and (folder / GENERATED).is_dir()


def run_demo(
    folder: Path,
    scale: str = "small",
    seed: int = 7,
    as_of: datetime | None = None,
    on_step: Callable[[str, int], None] | None = None,
    on_rows: Callable[[int], None] | None = None,
    source: str = "files",
    engine: str = "duckdb",
) -> DemoReport:
    """Generate → ingest → stitch and profile → evaluate audiences → activate; `on_step(what, total)` reports progress.

    A local Marketo server plays the marketing team's Marketo instance and a local Salesforce server their org:
    `source` names which of them (`marketo`, `salesforce`, or both, comma-separated) are read through their
    connectors instead of from files. Either way audiences are activated to local stand-ins of Marketo lists,
    LinkedIn segments, a Google Ads user list and Salesforce campaigns, and to files. `engine` runs the batch
    stages (and is the workspace's `engine:` afterwards).
    """
    from accord.connectors.google_ads.server import GoogleAdsServer
    from accord.connectors.linkedin.server import Limits as LinkedInLimits
    from accord.connectors.linkedin.server import LinkedInServer
    from accord.connectors.marketo.data import MarketoData
    from accord.connectors.marketo.server import Limits, MarketoServer
    from accord.connectors.salesforce.server import SalesforceData, SalesforceServer

    systems = {s.strip() for s in source.split(",") if s.strip()} - {"files"}
    if systems - set(DEMO_SOURCES):
        raise WorkspaceError(f"unknown demo source {source!r}; choose files, or any of: {', '.join(DEMO_SOURCES)}")
    ws = fresh_workspace(folder)
    ws.config = ws.config.model_copy(update={"custom_fields": list(DEMO_CUSTOM_FIELDS),
                                             "engine": engine_kind(engine).name})
    ws.save()
    examples = resources.files("accord.audiences").joinpath("examples")
    for example in sorted([*examples.iterdir(), *examples.joinpath("custom").iterdir()], key=lambda p: p.name):
        if example.name.endswith(".aud"):
            (ws.root / "audiences" / example.name).write_text(example.read_text())
    out = folder / GENERATED
    generate(out, scale=scale, seed=seed, as_of=as_of)
    jobs: list[FileJob] = jobs_from_manifest(out, ws.schema)
    jobs = [job for job in jobs if job.path.parent.name not in systems]
    report = DemoReport(folder)
    # Marketo's limits, but a 20-second window allows 1,000 calls here so the demo does not sit waiting.
    marketo = MarketoServer(MarketoData.from_folder(out / "marketo"), limits=Limits(calls_per_window=1000, bulk_seconds=0.01))
    salesforce = SalesforceServer(SalesforceData.from_folder(out / "salesforce"))
    linkedin, google = LinkedInServer(LinkedInLimits(build_seconds=0.01)), GoogleAdsServer()
    with marketo, salesforce, linkedin, google, ws.lake() as lake:
        _configure(ws, marketo, salesforce, systems)
        _activate_to_ads_and_crm(ws, linkedin, google, salesforce)
        files_engine = workspace_engine(ws, lake)
        stages = [s for s in STAGE_STEPS if s != "publish" or files_engine.capabilities.copies_lake]
        steps = len(jobs) + len(stages) + len(systems)
        for job in jobs:
            if on_step:
                on_step(str(job.path.relative_to(folder)), steps)
            report.results.append(files_engine.load_file(job, on_rows))
        for config in ws.config.sources:
            if on_step:
                on_step(f"syncing from a local {config.type.capitalize()} server", steps)
            report.results.extend(_sync(ws, lake, config, on_rows))
        report.results.extend(_consent_from_a_cmp(ws, lake))
        report.counts = lake.counts()
        done = run_batch(ws, lake, load_audiences(ws.root / "audiences", ws.schema), as_of, trigger="demo",
                         activate=True, on_stage=lambda stage: on_step(STAGE_STEPS[stage], steps) if on_step else None)
        assert done.identity is not None and done.evaluation is not None
        report.identity, report.audiences, report.deliveries = done.identity, done.evaluation, done.deliveries
        report.marketo_lead_writes = len(marketo.lead_writes)
        report.erased = _erase_one(ws, lake)
        report.held = _held(ws, lake, linkedin, google, salesforce)
        _pause_stand_ins(ws)
        sample = lake.query(
            "SELECT person_id, email FROM person_profile WHERE email IS NOT NULL "
            "ORDER BY records DESC, (SELECT count(*) FROM person_account pa WHERE pa.person_id = person_profile.person_id) DESC, "
            "person_id LIMIT 1"
        )
        if sample:
            report.sample_email = sample[0]["email"]
            report.sample_person = get_person(lake, f"person_id:{sample[0]['person_id']}", events=5)
    return report


def _configure(ws: Workspace, marketo: MarketoServer, salesforce: SalesforceServer, systems: set[str]) -> None:
    """Point the workspace at the local servers (sources, Marketo lists) and at an export folder."""
    from accord.connectors.file.config import FileDestinationConfig
    from accord.connectors.marketo.config import (
        MarketoDestinationConfig,
        MarketoSourceConfig,
    )
    from accord.connectors.salesforce.config import SalesforceSourceConfig
    from accord.generate.export import SALESFORCE_ORG

    (ws.root / "secrets").mkdir(exist_ok=True)
    (ws.root / "secrets" / "demo.yaml").write_text(
        f"marketo: {marketo.client_secret}\nsalesforce: {salesforce.client_secret}\n")
    connection = {**marketo.connection("file:secrets/demo.yaml#marketo"), "calls_per_20s": 1000}
    sources: list[MarketoSourceConfig | SalesforceSourceConfig] = []
    if "salesforce" in systems:
        sources.append(SalesforceSourceConfig(
            name="salesforce-demo", org_id=SALESFORCE_ORG, instance_url=salesforce.endpoint,
            api_version=salesforce.api_version, client_id=salesforce.client_id,
            client_secret="file:secrets/demo.yaml#salesforce", bulk_poll_seconds=0.02))
    if "marketo" in systems:
        earliest = min(str(v) for v in marketo.data.leads["createdAt"].to_pylist() if v)
        sources.append(MarketoSourceConfig(name="marketo-demo", backfill_since=date.fromisoformat(earliest[:10]),
                                           bulk_poll_seconds=0.02, **connection))
    destinations = [
        # Daily, not streaming: the local Marketo server lives only as long as the demo command.
        MarketoDestinationConfig(name="marketo-lists", audiences=DEMO_AUDIENCES, folder_id=1, schedule="0 6 * * *",
                                 **connection),
        # Shared with an agency: a third party, so the C2 label on ABM tiers keeps "Tier 1 champions" back.
        FileDestinationConfig(name="audience-files", url="exports", audiences=[*DEMO_AUDIENCES, DEMO_BLOCKED],
                              schedule="0 6 * * *", fields=["email", "first_name", "last_name", "company_name"],
                              marketing_actions=["export", "export_to_third_party"]),
    ]
    ws.config = ws.config.model_copy(update={"sources": sources, "destinations": destinations,
                                             "governance": DEMO_GOVERNANCE})
    ws.save()


def _activate_to_ads_and_crm(ws: Workspace, linkedin: LinkedInServer, google: GoogleAdsServer,
                             salesforce: SalesforceServer) -> None:
    """Add LinkedIn (a person and an account audience), Google Ads and Salesforce campaigns as destinations."""
    from accord.connectors.google_ads.config import GoogleAdsDestinationConfig
    from accord.connectors.linkedin.config import LinkedInDestinationConfig
    from accord.connectors.salesforce.config import SalesforceDestinationConfig
    from accord.generate.export import SALESFORCE_ORG

    secrets = ws.root / "secrets" / "demo.yaml"
    secrets.write_text(secrets.read_text() + f"linkedin: {linkedin.token}\ngoogle_ads: {google.token}\n"
                                             f"google_ads_developer: {google.developer_token}\n")
    daily = "0 6 * * *"  # like Marketo's: the local systems live only as long as the demo command
    ws.config = ws.config.model_copy(update={"destinations": [*ws.config.destinations, LinkedInDestinationConfig(
        name="linkedin-abm", audiences=[DEMO_AUDIENCES[0], DEMO_ACCOUNTS], schedule=daily, endpoint=linkedin.endpoint,
        ad_account="urn:li:sponsoredAccount:5070123", access_token="file:secrets/demo.yaml#linkedin",
        settle_seconds=0.01), GoogleAdsDestinationConfig(
        name="google-customer-match", audiences=[DEMO_AUDIENCES[0]], schedule=daily, endpoint=google.endpoint,
        customer_id=google.customer_id, access_token="file:secrets/demo.yaml#google_ads",
        developer_token="file:secrets/demo.yaml#google_ads_developer", poll_seconds=0.02), SalesforceDestinationConfig(
        name="salesforce-campaigns", audiences=[DEMO_AUDIENCES[1]], schedule=daily, org_id=SALESFORCE_ORG,
        instance_url=salesforce.endpoint, api_version=salesforce.api_version, client_id=salesforce.client_id,
        client_secret="file:secrets/demo.yaml#salesforce")]})
    ws.save()


def _pause_stand_ins(ws: Workspace) -> None:
    """The local systems stop with the demo: the sources and destinations that reach them are kept, paused, so a
    later `accord serve` is healthy (`paused: false` in accord.yaml, pointed at real systems, runs them again)."""
    ws.config = ws.config.model_copy(update={
        "sources": [s.model_copy(update={"paused": True}) for s in ws.config.sources],
        "destinations": [d if d.type == "file" else d.model_copy(update={"paused": True})
                         for d in ws.config.destinations]})
    ws.save()


def _consent_from_a_cmp(ws: Workspace, lake: Lake) -> list[IngestResult]:
    """A few webinar attendees refuse advertising and data sharing in the site's consent banner, as a CMP tells
    Segment (`context.consent.categoryPreferences`): the collector's log carries it into the lake, and LinkedIn and
    Google then leave them out while Marketo, which needs e-mail consent only, still gets them."""
    from accord.sources.collector import ingest_log
    from accord.sources.collector_log import CollectorLog, log_folder

    attendees = lake.query(
        "SELECT DISTINCT p.email FROM campaign_member_current m JOIN person_current p ON p.source_key = m.person_key "
        "JOIN campaign_current c ON c.source_key = m.campaign_key WHERE c.name = 'Webinar Program 01' "
        "AND m.status = '04 Attended' AND p.email IS NOT NULL ORDER BY 1 LIMIT 3")
    messages = []
    for n, row in enumerate(attendees):
        user = f"cmp-{n}"
        messages += [{"type": "identify", "userId": user, "messageId": f"{user}-i", "traits": {"email": row["email"]}},
                     {"type": "track", "event": "Segment Consent Preference Updated", "userId": user,
                      "messageId": f"{user}-c", "context": {"consent": {"categoryPreferences": {
                          "Advertising": False, "Data Sharing": False, "Marketing": True, "Analytics": True}}}}]
    log = CollectorLog(log_folder(ws, None))
    log.append(messages)
    return ingest_log(lake, log, ws.config.name, ws.config.collector.track_events)


def _erase_one(ws: Workspace, lake: Lake) -> tuple[str, str, dict[str, Any]] | None:
    """A privacy delete, end to end: one webinar attendee who reached LinkedIn, Google and the files is removed
    there and erased from the workspace."""
    from accord.activation.members import acknowledged
    from accord.privacy.erase import delete

    sent = acknowledged(lake, "linkedin-abm", DEMO_AUDIENCES[0])
    emails = lake.query("SELECT email FROM person_profile WHERE person_id IN (SELECT unnest(?::VARCHAR[])) "
                        "AND email IS NOT NULL ORDER BY person_id DESC LIMIT 1", [sorted(sent)])
    if not emails:
        return None
    request_id, receipt = delete(ws, lake, f"email:{emails[0]['email']}", "demo")
    return str(emails[0]["email"]), request_id, receipt


def _held(ws: Workspace, lake: Lake, linkedin: LinkedInServer, google: GoogleAdsServer,
          salesforce: SalesforceServer) -> list[str]:
    """One line per segment, list and campaign the local systems hold after activation, and what the ad platforms
    said they matched."""
    from accord.activation.reach import platform_size, reach_rows

    lines = [f"LinkedIn {s.type.lower()} segment {s.name!r}: {len(s.users) + len(s.companies)} {s.status.lower()}"
             for s in linkedin.segments.values()]
    lines += [f"Google Ads user list {user_list['name']!r}: {len(google.members(user_list['name']))} hashed e-mails"
              for user_list in google.user_lists.values()]
    data = salesforce.data
    for campaign in (r for r in data.records["Campaign"] if r["Name"].startswith(f"{ws.config.name} · ")):
        joined = sum(1 for r in data.records["CampaignMember"]
                     if r["CampaignId"] == campaign["Id"] and r.get("IsDeleted") != "true")
        lines.append(f"Salesforce campaign {campaign['Name']!r}: {joined} members")
    for r in reach_rows(lake, [d.name for d in ws.config.destinations]):
        matched = f"{r['matched']:,} of {r['uploaded']:,} matched, " if r["matched"] is not None else ""
        lines.append(f"{r['destination']} says of {r['audience']!r}: {r['state']}, {matched}"
                     f"size {platform_size(r['size_low'], r['size_high']) or 'not known yet'}"
                     + (f" ({r['note']})" if r["note"] else ""))
    return lines


def _sync(ws: Workspace, lake: Lake, config: SourceConfig, on_rows: Callable[[int], None] | None
          ) -> list[IngestResult]:
    from accord.sources.sync import open_source

    source = open_source(ws, config)
    try:
        return list(source.backfill(lake, (lambda what, rows: on_rows(rows)) if on_rows else None).results)
    finally:
        source.close()
