"""REST API: every route, authentication, bad input, pagination; schemathesis finds no server error."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from accord.api.app import create_app
from accord.api.keys import create_key
from accord.workspace import Workspace
from tests.conftest import evaluated_workspace

AUDIENCE = "Webinar attendees"


@pytest.fixture
def api(tmp_path: Path, evaluated_lake: Path) -> Iterator[tuple[TestClient, Workspace, dict[str, str]]]:
    ws = evaluated_workspace(tmp_path, evaluated_lake, [
        {"type": "file", "name": "exports", "url": "exports", "audiences": [AUDIENCE]}])
    with ws.lake() as lake:
        key = create_key(lake, "api", "tests").secret
    yield TestClient(create_app(ws)), ws, {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("target, lands", [
    ("/audiences/Webinar attendees?tab=why", "/audiences/Webinar%20attendees?tab=why"),
    ("//evil.example/", "/"), ("/\\evil.example/", "/"), ("/\t/evil.example/", "/"), ("/\n/evil.example", "/"),
    ("https://evil.example/", "/"), ("/%5Cevil.example", "/%5Cevil.example"),
])
def test_signing_in_returns_only_to_a_page_of_this_site(api, target: str, lands: str) -> None:
    client, _, auth = api
    key = auth["Authorization"].removeprefix("Bearer ")
    for answer in (client.post("/login", data={"key": key, "next": target}, follow_redirects=False),
                   client.get("/login", params={"key": key, "next": target}, follow_redirects=False)):
        assert answer.status_code == 303 and answer.headers["location"] == lands


def test_every_route_wants_an_api_key(api) -> None:
    client, _, auth = api
    for path in ("/api/v1/overview", "/api/v1/audiences", "/api/v1/profiles/email:x@y.com", "/api/v1/batches"):
        missing = client.get(path)
        assert missing.status_code == 401 and missing.json()["code"] == "unauthorized"
        wrong = client.get(path, headers={"Authorization": "Bearer ak_wrong"})
        assert wrong.status_code == 401
    assert client.get("/api/v1/overview", headers=auth).status_code == 200


def test_profiles_and_accounts(api) -> None:
    client, ws, auth = api
    with ws.lake() as lake:
        email, domain = lake.query(
            "SELECT p.email, a.domain FROM person_profile p JOIN person_account pa USING (person_id) "
            "JOIN account_profile a USING (account_id) WHERE p.email IS NOT NULL AND a.domain IS NOT NULL "
            "ORDER BY 1 LIMIT 1")[0].values()
    person = client.get(f"/api/v1/profiles/email:{email}", params={"events": 3}, headers=auth).json()
    assert person["person_id"].startswith("P") and len(person["events"]) <= 3 and person["accounts"]
    assert any(a["name"] == "email" for a in person["attributes"])
    account = client.get(f"/api/v1/accounts/domain:{domain}", headers=auth).json()
    assert account["account_id"].startswith("A") and account["people"]
    unknown = client.get("/api/v1/profiles/email:nobody@nowhere.example", headers=auth)
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    malformed = client.get("/api/v1/profiles/no-namespace", headers=auth)
    assert malformed.status_code in (400, 404) and set(malformed.json()) == {"code", "message"}
    pasted = client.get(f"/api/v1/profiles/email:%0D%0A{email}", headers=auth)
    assert pasted.status_code == 404 and "line break" in pasted.json()["message"]


def test_an_identity_holding_a_slash_is_found(api) -> None:
    client, ws, auth = api
    with ws.lake() as lake:
        person_id = lake.scalar("SELECT person_id FROM person_profile ORDER BY 1 LIMIT 1")
        lake.execute("INSERT INTO identity_nodes VALUES ('person', 'email', 'jane/doe@acme.example', ?)", [person_id])
    asked = "/profiles/email:jane%2Fdoe@acme.example"
    assert client.get(f"/api/v1{asked}", headers=auth).json()["person_id"] == person_id
    assert client.get(f"/api/v1{asked}/summary", headers=auth).json()["person_id"] == person_id
    client.get("/login", params={"key": auth["Authorization"].removeprefix("Bearer ")})
    page = client.get(asked)
    assert page.status_code == 200 and person_id in page.text


def test_a_profile_summary_answers_what_a_page_asks(api) -> None:
    client, ws, auth = api
    with ws.lake() as lake:
        email, person_id, title = lake.query(
            "SELECT p.email, p.person_id, p.job_title FROM person_profile p JOIN audience_membership m "
            "ON m.profile_id = p.person_id AND m.status IN ('realized', 'existing') ORDER BY 1 LIMIT 1")[0].values()
        members_of = {r["audience"] for r in lake.query(
            "SELECT audience FROM audience_membership WHERE profile_id = ? AND status IN ('realized', 'existing')",
            [person_id])}
    summary = client.get(f"/api/v1/profiles/email:{email}/summary", params={"attributes": "email,job_title"},
                         headers=auth).json()
    assert summary == {"person_id": person_id, "attributes": {"email": email, "job_title": title},
                       "audiences": sorted(members_of)}
    bare = client.get(f"/api/v1/profiles/email:{email}/summary", headers=auth).json()
    assert bare["attributes"] == {} and bare["audiences"] == sorted(members_of)
    wrong = client.get(f"/api/v1/profiles/email:{email}/summary", params={"attributes": "salary"}, headers=auth)
    assert wrong.status_code == 400 and "unknown attribute(s) salary" in wrong.json()["message"]


@pytest.mark.parametrize("ast, said", [
    ({"name": "X", "of": "person", "where": {"kind": "cmp", "field": "email"}}, "where: Input tag 'cmp'"),
    ({"name": "X", "of": "person"}, "where: Field required"),
    ({"name": "X", "of": "person", "where": {"kind": "and", "args": []}}, "where.and.items: Field required"),
])
def test_an_ast_accord_cannot_read_is_one_plain_line(api, ast: dict, said: str) -> None:
    client, _, auth = api
    for answer in (client.post("/api/v1/audiences/validate", json={"ast": ast}, headers=auth),
                   client.put("/api/v1/audiences", json={"ast": ast}, headers=auth)):
        message = answer.json()["message"]
        assert answer.status_code == 400 and said in message
        assert "\n" not in message and "pydantic" not in message and "validation error" not in message


def test_an_ast_nested_hundreds_deep_is_named_briefly(api) -> None:
    client, _, auth = api
    where = '{"kind": "compare", "field": "email", "op": "=", "value": "a@b.example"}'
    body = '{"ast": {"name": "X", "of": "person", "where": ' + '{"kind": "not", "item": ' * 300 + where + "}" * 302
    json.loads(body)  # valid JSON, as deep as Python's parser reads: the path, not the parser, is what is tested
    answer = client.post("/api/v1/audiences/validate", content=body,
                         headers=auth | {"content-type": "application/json"})
    assert answer.status_code == 400 and len(answer.json()["message"]) < 300
    assert "nests deeper than 256 levels" in answer.json()["message"]


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/api/v1/identity/split", '{"profile_id": "P\\ud800", "identity": "email:x@y.example"}'),
    ("POST", "/api/v1/privacy/access", '{"identity": "email:\\udfff@y.example"}'),
    ("PUT", "/api/v1/audiences", '{"text": "audience \\"A\\" of person\\nwhere email = \\"\\ud800\\""}'),
    ("POST", "/api/v1/audiences/validate", '{"ast": {"name": "A\\ud800", "of": "person", "where": {}}}'),
])
def test_a_body_holding_text_with_no_utf8_form_is_refused_before_anything_reads_it(api, method: str, path: str,
                                                                                  body: str) -> None:
    client, ws, auth = api
    with ws.lake() as lake:
        logged = lake.execute("SELECT count(*) FROM audit_log").fetchone()
    answer = client.request(method, path, content=body, headers=auth | {"content-type": "application/json"})
    assert answer.status_code == 400 and "not valid Unicode (a lone surrogate escape)" in answer.json()["message"]
    with ws.lake() as lake:
        assert lake.execute("SELECT count(*) FROM audit_log").fetchone() == logged


@pytest.mark.parametrize("body", [
    '{"text": "audience \\"A\\" of person\\nwhere email = \\"\\ud800\\""}',
    '{"ast": {"name": "A\\udc00", "of": "person", "where": {}}}',
])
def test_the_builders_preview_says_what_text_has_no_utf8_form(api, body: str) -> None:
    client, _, auth = api
    client.post("/login", data={"key": auth["Authorization"].removeprefix("Bearer "), "next": "/"})
    answer = client.post("/ui/preview", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 200 and answer.json()["valid"] is False
    assert "not valid Unicode (a lone surrogate escape)" in answer.json()["error"]


def test_an_ast_as_deep_as_the_text_allows_is_accepted(api) -> None:
    client, _, auth = api
    where = 'country = "Germany"'
    for level in range(60):
        where = f'country = "C{level}" {"and" if level % 2 else "or"} ({where})'
    checked = client.post("/api/v1/audiences/validate", json={"text": f'audience "Deep" of person\nwhere {where}'},
                          headers=auth)
    assert checked.status_code == 200, checked.text
    again = client.post("/api/v1/audiences/validate", json={"ast": checked.json()["ast"]}, headers=auth)
    assert again.status_code == 200 and again.json()["text"] == checked.json()["text"]


def test_audiences_create_validate_size_sample_why_overlap_run(api) -> None:
    client, ws, auth = api
    listed = client.get("/api/v1/audiences", headers=auth).json()
    assert {a["name"] for a in listed} >= {AUDIENCE} and all("method" in a for a in listed)
    fields = client.get("/api/v1/audiences/fields", params={"of": "person"}, headers=auth).json()
    assert "email" in fields["person"] and "event_type" in fields["event"]
    text = 'audience "API made" of person\nwhere country = "Germany"'
    checked = client.post("/api/v1/audiences/validate", json={"text": text}, headers=auth).json()
    assert checked["name"] == "API made" and checked["ast"]["of"] == "person"
    again = client.post("/api/v1/audiences/validate", json={"ast": checked["ast"]}, headers=auth).json()
    assert again["text"] == checked["text"]
    bad = client.post("/api/v1/audiences/validate", json={"text": 'audience "X" of person\nwhere colour = 1'},
                      headers=auth)
    assert bad.status_code == 400 and "colour" in bad.json()["message"]
    saved = client.put("/api/v1/audiences", json={"text": text}, headers=auth)
    assert saved.status_code == 200 and (ws.root / "audiences" / "api-made.aud").exists()
    one = client.get("/api/v1/audiences/API made", headers=auth).json()
    assert one["text"].startswith('audience "API made"') and one["ast"]["name"] == "API made"
    size = client.get("/api/v1/audiences/API made/size", headers=auth).json()["size"]
    sample = client.get("/api/v1/audiences/API made/sample", params={"limit": 3}, headers=auth).json()
    assert size > 0 and 0 < len(sample) <= 3
    unrun = client.get("/api/v1/audiences/overlap", params={"first": AUDIENCE, "second": "API made"}, headers=auth)
    assert unrun.status_code == 404 and unrun.json()["message"].startswith(
        "no audience named 'API made' has been evaluated")  # not an empty audience: it was never decided
    client.post("/login", data={"key": auth["Authorization"].removeprefix("Bearer "), "next": "/"})
    compared = client.get(f"/audiences/{AUDIENCE}", params={"compare": "API made"})
    assert compared.status_code == 200 and "has been evaluated" in compared.text
    run = client.post("/api/v1/audiences/run", json={"names": ["API made"]}, headers=auth).json()
    assert [r["name"] for r in run["results"]] == ["API made"] and run["results"][0]["size"] == size
    why = client.get("/api/v1/audiences/API made/why", params={"identity": f"person_id:{sample[0]['id']}"},
                     headers=auth).json()
    assert why["member"] is True and why["conditions"][0]["holds"] is True
    overlap = client.get("/api/v1/audiences/overlap", params={"first": "API made", "second": AUDIENCE},
                         headers=auth).json()
    assert overlap["first"] == size and overlap["both"] + overlap["only_first"] == size
    assert client.get("/api/v1/audiences/nope/size", headers=auth).status_code == 404


def test_destinations_deliveries_sources_batches_identity(api) -> None:
    client, ws, auth = api
    ran = client.post("/api/v1/destinations/exports/run", headers=auth).json()
    assert ran["audiences"][0]["activated"] > 0
    destinations = client.get("/api/v1/destinations", headers=auth).json()
    assert destinations[0]["name"] == "exports" and destinations[0]["runs"][0]["run_id"] == ran["run_id"]
    runs = client.get("/api/v1/deliveries", headers=auth).json()
    assert runs["items"][0]["run_id"] == ran["run_id"] and runs["next_offset"] is None
    detail = client.get(f"/api/v1/deliveries/{ran['run_id']}", params={"receipts": True}, headers=auth).json()
    assert len(detail["receipts"]) == ran["audiences"][0]["activated"]
    assert client.get("/api/v1/deliveries/999", headers=auth).status_code == 404
    retried = client.post("/api/v1/destinations/exports/retry", headers=auth).json()
    assert retried["released"] == 0
    assert client.post("/api/v1/destinations/nope/run", headers=auth).status_code == 404
    assert client.get("/api/v1/sources", headers=auth).json() == []
    first = client.get("/api/v1/batches", params={"limit": 2}, headers=auth).json()
    second = client.get("/api/v1/batches", params={"limit": 2, "offset": 2}, headers=auth).json()
    assert first["next_offset"] == 2 and first["items"][0]["batch_id"] > second["items"][0]["batch_id"]
    assert client.get("/api/v1/batches", params={"limit": 0}, headers=auth).status_code == 400
    beyond_bigint = str(2**63)
    for path, params in (("/api/v1/deliveries", {"offset": beyond_bigint}), ("/api/v1/deliveries/" + beyond_bigint, {}),
                         ("/api/v1/quarantine", {"batch_id": beyond_bigint})):
        assert client.get(path, params=params, headers=auth).status_code == 400, path
    assert client.get("/api/v1/quarantine", headers=auth).json()["items"] == []
    merges = client.get("/api/v1/identity/merges", headers=auth).json()
    assert "items" in merges
    with ws.lake() as lake:
        person, email = lake.query("SELECT person_id, email FROM person_profile WHERE email IS NOT NULL "
                                   "AND records > 1 ORDER BY 1 LIMIT 1")[0].values()
    split = client.post("/api/v1/identity/split", json={"profile_id": person, "identity": f"email:{email}"},
                        headers=auth).json()
    assert split["from"] == person and split["namespace"] == "email"


def test_no_route_answers_with_a_server_error(api) -> None:
    """Schemathesis generates requests for every operation in the OpenAPI document; none may get a 5xx."""
    client, _, auth = api
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(headers=auth, checks=[not_a_server_error])

        no_server_error()


def routes(among: list) -> list:
    """Every route of an app (FastAPI ≥ 0.120 keeps an included router's routes inside it)."""
    return [inner for r in among for inner in (routes(r.original_router.routes) if hasattr(r, "original_router")
                                               else [r])]


def test_no_web_page_answers_odd_query_values_with_a_server_error(api) -> None:
    """The pages read their filters by hand (a blank field is no filter): `/accounts?min_employees=1e999` was a 500."""
    client, _, auth = api
    signed_in = client.post("/login", data={"key": auth["Authorization"].removeprefix("Bearer "), "next": "/"})
    assert signed_in.status_code == 200 and signed_in.url.path == "/"
    pages = [r for r in routes(client.app.routes) if isinstance(r, APIRoute) and "GET" in r.methods
             and "{" not in r.path and not r.path.startswith(("/api", "/docs", "/redoc", "/openapi", "/log"))]
    assert len(pages) > 8
    for page in pages:
        for name in [q.name for q in page.dependant.query_params]:
            for value in ("1e999", "nan", "-1", "99999999999999999999", "\u202e", "'\"<x>"):
                answer = client.get(page.path, params={name: value})
                assert answer.status_code < 500 and answer.url.path != "/login", (page.path, name, value)
    unknown = client.get("/destinations/new", params={"type": "webhok"})  # was 404 saying only "'webhok'"
    assert unknown.status_code == 400 and "'webhok' is not a destination type; types: " in unknown.json()["message"]


def test_saving_a_name_another_file_defines_is_refused_and_writes_nothing(api) -> None:
    client, ws, auth = api
    (ws.root / "audiences" / "hand-written.aud").write_text('audience "Germans" of person\nwhere country = "Germany"\n')
    before = sorted(p.name for p in (ws.root / "audiences").glob("*.aud"))
    refused = client.put("/api/v1/audiences", json={"text": 'audience "Germans" of person\nwhere country = "France"'},
                         headers=auth)
    assert refused.status_code == 409 and "hand-written.aud already defines" in refused.json()["message"]
    assert sorted(p.name for p in (ws.root / "audiences").glob("*.aud")) == before


def test_people_are_found_by_name_email_fragment_or_company_and_accounts_by_filters(api) -> None:
    client, ws, auth = api
    with ws.lake() as lake:
        person = lake.query("SELECT p.person_id, p.first_name, p.last_name, p.email, a.name AS company "
                            "FROM person_profile p JOIN person_account pa ON pa.person_id = p.person_id AND pa.is_primary "
                            "JOIN account_profile a ON a.account_id = pa.account_id WHERE p.first_name IS NOT NULL "
                            "ORDER BY p.person_id LIMIT 1")[0]
        account = lake.query("SELECT account_id, name, industry, employees FROM account_profile "
                             "WHERE industry IS NOT NULL AND employees IS NOT NULL ORDER BY account_id LIMIT 1")[0]
    for q in (f"{person['first_name']} {person['last_name']}".upper(), person["email"].split("@")[0][1:-1],
              person["company"][1:-1]):
        found = client.get("/api/v1/people", params={"q": q}, headers=auth).json()
        assert person["person_id"] in [p["person_id"] for p in found], q
    assert client.get("/api/v1/people", params={"q": "100%_"}, headers=auth).json() == [], "% and _ are literal"
    listed = client.get("/api/v1/accounts", headers=auth, params={
        "q": account["name"][2:-2], "industry": account["industry"], "min_employees": account["employees"],
        "max_employees": account["employees"]}).json()
    assert account["account_id"] in [a["account_id"] for a in listed]
    assert all(a["industry"] == account["industry"] and a["employees"] == account["employees"] for a in listed)
    rich = client.get("/api/v1/accounts", headers=auth, params={"min_open_pipeline": 100000}).json()
    assert rich and all(a["open_pipeline"] >= 100000 for a in rich)
    assert [a["open_pipeline"] for a in rich] == sorted((a["open_pipeline"] for a in rich), reverse=True)


def test_an_audience_downloads_keeps_versions_restores_and_is_deleted_only_when_unused(api) -> None:
    client, ws, auth = api
    members = client.get(f"/api/v1/audiences/{AUDIENCE}/members.csv", headers=auth)
    rows = list(csv.DictReader(io.StringIO(members.text)))
    size = client.get(f"/api/v1/audiences/{AUDIENCE}/size", headers=auth).json()["size"]
    assert members.headers["content-type"].startswith("text/csv") and len(rows) == size > 0
    assert set(rows[0]) == {"person_id", "email", "first_name", "last_name", "job_title", "company"}
    with ws.lake() as lake:  # a first name from a web form, which a spreadsheet would run
        lake.execute("UPDATE person_profile SET first_name = '=HYPERLINK(\"http://evil.example\",\"x\")', "
                     "job_title = '-5' WHERE person_id = ?", [rows[0]["person_id"]])
    members = client.get(f"/api/v1/audiences/{AUDIENCE}/members.csv", headers=auth)
    first = next(csv.DictReader(io.StringIO(members.text)))
    assert first["first_name"] == "'=HYPERLINK(\"http://evil.example\",\"x\")" and first["job_title"] == "-5"

    original = client.get(f"/api/v1/audiences/{AUDIENCE}", headers=auth).json()["text"]
    changed = original.replace("last 30 days", "last 7 days")
    assert client.put("/api/v1/audiences", json={"text": changed}, headers=auth).status_code == 200
    versions = client.get(f"/api/v1/audiences/{AUDIENCE}/versions", headers=auth).json()
    assert [v["text"] for v in versions] == [changed, original] and versions[-1]["version"] == 0
    restored = client.post(f"/api/v1/audiences/{AUDIENCE}/restore", params={"version": 0}, headers=auth)
    assert restored.status_code == 200
    assert client.get(f"/api/v1/audiences/{AUDIENCE}", headers=auth).json()["text"] == original
    assert len(client.get(f"/api/v1/audiences/{AUDIENCE}/versions", headers=auth).json()) == 3

    refused = client.delete(f"/api/v1/audiences/{AUDIENCE}", headers=auth)
    assert refused.status_code == 409 and "destination exports" in refused.json()["message"]
    spare = 'audience "Spare" of person\nwhere country = "Germany"\n'
    assert client.put("/api/v1/audiences", json={"text": spare}, headers=auth).status_code == 200
    assert client.delete("/api/v1/audiences/Spare", headers=auth).json() == {"name": "Spare", "deleted": True}
    assert client.get("/api/v1/audiences/Spare", headers=auth).status_code == 404
    assert not (ws.root / "audiences" / "spare.aud").exists()


def test_audiences_in_a_cycle_or_broken_files_leave_the_others_listed(api) -> None:
    client, ws, auth = api
    folder = ws.root / "audiences"
    (folder / "loop-a.aud").write_text('audience "Loop A" of person\nwhere in audience "Loop B"\n')
    (folder / "loop-b.aud").write_text('audience "Loop B" of person\nwhere in audience "Loop A"\n')
    (folder / "typo.aud").write_text('audience "Typo" of person\nwhere emali = "a"\n')
    listed = client.get("/api/v1/audiences", headers=auth)
    assert listed.status_code == 200
    assert {AUDIENCE, "Loop A", "Loop B"} <= {a["name"] for a in listed.json()}  # a cycle once ran out of stack
    ran = client.post("/api/v1/audiences/run", json={}, headers=auth).json()
    assert AUDIENCE in {r["name"] for r in ran["results"]}
    assert set(ran["failed"]) == {"Loop A", "Loop B", "typo.aud"}


def test_audiences_named_longer_than_a_file_name_can_be_are_saved_apart(api) -> None:
    client, ws, auth = api
    names = ["数据" * 60, "数据" * 60 + " again", "Q" * 5000]
    for name in names:
        saved = client.put("/api/v1/audiences", json={"text": f'audience "{name}" of person\nwhere email = "a"'},
                           headers=auth)
        assert saved.status_code == 200, saved.text  # the file name ran past 255 bytes: a 500
    files = [p.name for p in (ws.root / "audiences").glob("*.aud")]
    assert max(len(f.encode()) for f in files) <= 140 and len(files) == len(set(files))
    listed = {a["name"] for a in client.get("/api/v1/audiences", headers=auth).json()}
    assert set(names) <= listed


def test_a_store_not_stitched_yet_answers_every_list_and_page(tmp_path: Path) -> None:
    """Before the first identity run there are no profile tables: /api/v1/accounts, the people and account search
    and their pages answered 500."""
    from accord.ingest.records import ingest_records

    ws = Workspace.init(tmp_path / "ws")
    with ws.lake() as lake:
        ingest_records(lake, "person", [{"source_id": "003A", "email": "jane@acme.example", "last_name": "Doe"}],
                       source_type="Salesforce", source_instance_id="00Dorg", source_name="t", fingerprint="t")
        key = create_key(lake, "api", "tests").secret
    client = TestClient(create_app(ws), raise_server_exceptions=False)
    auth = {"Authorization": f"Bearer {key}"}
    assert client.post("/login", data={"key": key, "next": "/"}).status_code == 200
    lists = [r.path for r in routes(client.app.routes) if isinstance(r, APIRoute) and "GET" in r.methods
             and "{" not in r.path and not r.path.startswith(("/docs", "/redoc", "/openapi", "/log"))]
    failed = [(path, answer.status_code) for path in lists for query in ({}, {"q": "jane"}, {"industry": "Software"})
              if (answer := client.get(path, params=query, headers=auth)).status_code >= 500]
    assert len(lists) > 20 and failed == []
