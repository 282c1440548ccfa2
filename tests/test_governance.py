"""Governance: labels on fields, entities and sources; each core policy denies its action for its label, traced
through the audiences a destination sends (and the audiences they name) and the fields it sends; a denied
audience is refused at save and kept back at delivery, with the path that explains it; and no delivery ever
carries a field whose labels deny what the destination does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from accord.activation.run import deliver
from accord.audiences.text import parse_audience
from accord.cli import app
from accord.governance.labels import Labels
from accord.governance.policies import PolicyViolation, enforced, violations
from accord.governance.vocabulary import CORE_POLICIES
from accord.model.schema import STANDARD
from accord.workspace import Workspace, WorkspaceError
from tests.conftest import evaluated_workspace

SENIORS = "Senior people on won deals worth over $100k"
WEBINAR = "Webinar attendees"


def governed(ws: Workspace, governance: dict[str, Any], **destination: Any) -> Workspace:
    """The workspace with `governance:` set and the first destination's settings updated."""
    raw = yaml.safe_load((ws.root / "accord.yaml").read_text())
    raw["governance"] = governance
    if destination:
        raw["destinations"][0].update(destination)
    (ws.root / "accord.yaml").write_text(yaml.safe_dump(raw))
    return Workspace.load(ws.root)


def files_destination(**extra: Any) -> dict[str, Any]:
    return {"type": "file", "name": "partner-files", "url": "exports", "audiences": [SENIORS, WEBINAR],
            "fields": ["email", "job_title"], **extra}


def labels(**config: Any) -> Labels:
    from accord.governance.config import GovernanceConfig

    return Labels(GovernanceConfig.model_validate(config), STANDARD, {"mkto": "marketo"})


@pytest.mark.parametrize(("label", "action", "policy"), CORE_POLICIES)
def test_each_core_policy_denies_its_action_for_its_label(label: str, action: str, policy: str) -> None:
    audience = parse_audience(f'audience "{SENIORS}" of person where seniority = "Executive"')
    governance = labels(fields={"person.seniority": [label]})
    found = violations(governance, "dest", [action], audience, {}, ["email"])
    assert [v.policy for v in found] == [policy] and found[0].labels == (label,)
    assert "seniority" in found[0].explain() and f"denies {action}" in found[0].explain()
    assert not violations(governance, "dest", ["email_targeting" if action != "email_targeting" else "export"],
                          audience, {}, ["email"])


def test_labels_come_from_the_field_its_entity_and_the_sources_that_load_it() -> None:
    found = labels(fields={"person.phone": ["I1"]}, entities={"person": ["C9"]}, sources={"mkto": ["C2"]})
    assert [(f.label, f.because) for f in found.of("person", "phone")] == [
        ("C2", "source mkto"), ("C9", "entity person"), ("I1", "field person.phone")]
    assert [f.label for f in found.of("opportunity", "amount")] == ["C2"], "Marketo loads opportunities too"
    assert not found.of("account_person", "role"), "Marketo loads no account-person relations"


def test_a_label_reaches_a_destination_through_the_audiences_an_audience_names() -> None:
    inner = parse_audience('audience "Execs" of person where seniority = "Executive"')
    outer = parse_audience(f'audience "{WEBINAR}" of person where in audience "Execs" and job_title is not null')
    found = violations(labels(fields={"person.seniority": ["C2"]}), "linkedin", ["export_to_third_party"], outer,
                       {"Execs": inner, WEBINAR: outer}, ["email"])
    assert len(found) == 1 and found[0].through == (WEBINAR, "Execs")
    assert "which audience 'Webinar attendees' reads through 'Execs'" in found[0].explain()


def test_a_policy_of_all_labels_applies_only_when_all_are_there() -> None:
    policy = {"name": "No scored partner data in ads", "deny": "cross_site_targeting", "all_of": ["C9", "PARTNER"]}
    audience = parse_audience(f'audience "{SENIORS}" of person where seniority = "Executive" and lead_score > 50')
    one = labels(labels=[{"name": "PARTNER"}], fields={"person.seniority": ["PARTNER"]}, policies=[policy],
                 core_policies=False)
    both = labels(labels=[{"name": "PARTNER"}], fields={"person.seniority": ["PARTNER"], "person.lead_score": ["C9"]},
                  policies=[policy], core_policies=False)
    assert not violations(one, "ads", ["cross_site_targeting"], audience, {}, [])
    assert [v.labels for v in violations(both, "ads", ["cross_site_targeting"], audience, {}, [])] == [("C9", "PARTNER")]


def test_sending_identifying_fields_is_combining_with_pii() -> None:
    audience = parse_audience(f'audience "{SENIORS}" of person where seniority = "Executive"')
    governance = labels(fields={"person.seniority": ["C3"], "person.email": ["I1"]})
    assert [v.action for v in violations(governance, "files", ["export"], audience, {}, ["email"])] == ["combine_with_pii"]
    assert not violations(governance, "files", ["export"], audience, {}, ["job_title"])


def test_accord_yaml_naming_what_does_not_exist_does_not_load(tmp_path: Path, evaluated_lake: Path) -> None:
    ws = evaluated_workspace(tmp_path, evaluated_lake, [files_destination()])
    for governance, said in [({"fields": {"person.phnoe": ["I1"]}}, "did you mean 'phone'"),
                             ({"fields": {"person.phone": ["C13"]}}, "unknown label 'C13'"),
                             ({"sources": {"nowhere": ["C2"]}}, "no source 'nowhere'"),
                             ({"policies": [{"name": "x", "deny": "mailing", "any_of": ["C2"]}]}, "unknown marketing action")]:
        with pytest.raises(WorkspaceError, match=said):
            governed(ws, governance)
    with pytest.raises(WorkspaceError, match="unknown marketing action 'faxing'"):
        governed(ws, {}, marketing_actions=["faxing"])


def test_a_denied_audience_is_kept_back_at_delivery_and_the_others_go(tmp_path: Path, evaluated_lake: Path) -> None:
    ws = evaluated_workspace(tmp_path, evaluated_lake, [files_destination()])
    ws = governed(ws, {"fields": {"person.seniority": ["C2"]}}, marketing_actions=["export", "export_to_third_party"])
    with ws.lake() as lake:
        report = deliver(ws, lake, ws.config.destinations[0])
        run = lake.query("SELECT status, error FROM delivery_runs")[0]
        sent = lake.scalar("SELECT count(*) FROM destination_members WHERE audience = ?", [SENIORS])
    by_name = {a.audience: a for a in report.audiences}
    assert by_name[SENIORS].blocked and "C2 is on person.seniority" in by_name[SENIORS].blocked
    assert by_name[WEBINAR].activated > 0 and sent == 0
    assert run["status"] == "failed" and "Restrict third-party export" in run["error"]
    assert not list((ws.root / "exports").rglob("*Senior*")), "nothing of the denied audience was written"


def test_saving_an_audience_a_destination_may_not_send_is_refused(tmp_path: Path, evaluated_lake: Path) -> None:
    from accord.services.audiences import save

    ws = evaluated_workspace(tmp_path, evaluated_lake, [files_destination()])
    ws = governed(ws, {"fields": {"account.industry": ["C2"]}}, marketing_actions=["export", "export_to_third_party"])
    changed = parse_audience(f'audience "{WEBINAR}" of person where account.industry = "Software"', ws.schema)
    with pytest.raises(PolicyViolation, match="C2 is on account.industry"):
        save(ws, changed, None)
    unlisted = parse_audience('audience "Software people" of person where account.industry = "Software"', ws.schema)
    assert "created" in save(ws, unlisted, None), "no destination sends it: nothing to deny"
    naming = parse_audience(f'audience "{WEBINAR}" of person where in audience "Software people"', ws.schema)
    with pytest.raises(PolicyViolation, match="through 'Software people'"):
        save(ws, naming, None)


def test_the_cli_explains_and_lists(tmp_path: Path, evaluated_lake: Path) -> None:
    ws = evaluated_workspace(tmp_path, evaluated_lake, [files_destination()])
    ws = governed(ws, {"fields": {"person.seniority": ["C2"], "person.phone": ["I1"]}},
                  marketing_actions=["export", "export_to_third_party"])
    runner, env = CliRunner(), {"COLUMNS": "300"}
    checked = runner.invoke(app, ["policies", "check", "-w", str(ws.root)], env=env)
    fields = runner.invoke(app, ["fields", "list", "--labelled", "-w", str(ws.root)], env=env).output
    listed = runner.invoke(app, ["policies", "list", "-w", str(ws.root)], env=env).output
    assert checked.exit_code == 1 and "policy 'Restrict third-party export' denies export_to_third_party" in checked.output
    assert "person.phone" in fields and "I1 (field person.phone)" in fields and "person.email" not in fields
    assert "Restrict all export" in listed


labelled_fields = st.dictionaries(st.sampled_from(["email", "job_title", "seniority", "phone", "country"]),
                                  st.lists(st.sampled_from(["C1", "C2", "C4", "C12", "I1"]), min_size=1, max_size=2,
                                           unique=True), max_size=4)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field_labels=labelled_fields,
       sent=st.lists(st.sampled_from(["email", "job_title", "seniority", "phone", "country"]), min_size=1,
                     max_size=3, unique=True),
       actions=st.lists(st.sampled_from(["export", "export_to_third_party", "cross_site_targeting"]), min_size=1,
                        unique=True))
def test_no_delivery_carries_a_field_whose_labels_deny_what_the_destination_does(
        tmp_path_factory: pytest.TempPathFactory, evaluated_lake: Path, field_labels: dict[str, list[str]],
        sent: list[str], actions: list[str]) -> None:
    ws = evaluated_workspace(tmp_path_factory.mktemp("governed"), evaluated_lake, [files_destination(fields=sent)])
    ws = governed(ws, {"fields": {f"person.{f}": v for f, v in field_labels.items()}}, marketing_actions=actions)
    denied = {label for p in enforced(ws.labels) if p.deny in actions for label in p.labels}
    reads = {SENIORS: ["seniority"], WEBINAR: []}  # the person fields each definition reads
    with ws.lake() as lake:
        report = deliver(ws, lake, ws.config.destinations[0])
    delivered = {a.audience for a in report.audiences if not a.blocked}
    for manifest in (ws.root / "exports").rglob("manifest.json"):
        written = json.loads(manifest.read_text())
        assert written["audience"] in delivered
        carried = {label for c in [*written["columns"], *reads[written["audience"]]] for label in field_labels.get(c, [])}
        assert not carried & denied, (written["audience"], written["columns"], carried & denied)
    for audience in delivered:
        assert not {label for c in [*sent, *reads[audience]] for label in field_labels.get(c, [])} & denied


def test_the_api_refuses_a_denied_save_and_answers_the_check(tmp_path: Path, evaluated_lake: Path) -> None:
    from fastapi.testclient import TestClient

    from accord.api.app import create_app
    from accord.api.keys import create_key

    ws = evaluated_workspace(tmp_path, evaluated_lake, [files_destination()])
    ws = governed(ws, {"fields": {"person.seniority": ["C2"]}}, marketing_actions=["export", "export_to_third_party"])
    with ws.lake() as lake:
        key = create_key(lake, "api", "test").secret
    client, auth = TestClient(create_app(ws)), {"Authorization": f"Bearer {key}"}
    saved = client.put("/api/v1/audiences", headers=auth, json={
        "text": f'audience "{WEBINAR}" of person where seniority = "Director"'})
    checked = client.get("/api/v1/policies/check", headers=auth).json()
    fields = client.get("/api/v1/fields?labelled=true", headers=auth).json()
    assert saved.status_code == 422 and saved.json()["code"] == "policy_violation"
    assert saved.json()["violations"][0]["labels"] == ["C2"]
    assert not checked["ok"] and {v["audience"] for v in checked["violations"]} == {SENIORS}
    assert fields == [{"field": "person.seniority", "type": "string",
                       "labels": [{"label": "C2", "because": "field person.seniority"}]}]
    with ws.lake() as lake:
        person = lake.scalar("SELECT min(person_id) FROM person_profile WHERE seniority IS NOT NULL")
    client.post("/login", data={"key": key, "next": "/"})
    page = client.get(f"/profiles/person_id:{person}").text
    assert '<td>Seniority</td>' in page and 'title="C2: field person.seniority">C2</td>' in page


def test_the_destination_page_shows_the_violation_and_its_path(tmp_path: Path, evaluated_lake: Path) -> None:
    from fastapi.testclient import TestClient

    from accord.api.app import create_app
    from accord.api.keys import create_key

    ws = evaluated_workspace(tmp_path, evaluated_lake, [files_destination()])
    ws = governed(ws, {"fields": {"person.seniority": ["C2"]}}, marketing_actions=["export", "export_to_third_party"])
    with ws.lake() as lake:
        key = create_key(lake, "api", "test").secret
    client = TestClient(create_app(ws))
    client.post("/login", data={"key": key, "next": "/"})
    page = client.get("/destinations/partner-files").text
    assert "marketing actions: export, export_to_third_party" in page
    assert "C2 is on person.seniority, which audience" in page and "Restrict third-party export" in page
