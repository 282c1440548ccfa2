"""The web UI in a real headless browser (Debian's Chromium through Playwright) against `accord serve`."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest
import yaml
from aiosmtpd.controller import Controller

from accord.activation.run import deliver
from accord.api.keys import create_key
from accord.connectors.marketo.data import MarketoData
from accord.connectors.marketo.server import MarketoServer
from accord.workspace import Workspace
from tests.conftest import evaluated_workspace
from tests.test_alerts import Hook, Inbox, alerting_workspace, free_port
from tests.test_collector import BATCH
from tests.test_serve import Server, health_when, recent

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"


@pytest.fixture
def site(tmp_path: Path, evaluated_lake: Path):
    yield from serve_evaluated(tmp_path, evaluated_lake)


def need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium); CI installs it")


def serve_evaluated(tmp_path: Path, evaluated_lake: Path):  # type: ignore[no-untyped-def]
    need_chromium()  # before a server is started for nothing
    ws = evaluated_workspace(tmp_path, evaluated_lake, [
        {"type": "file", "name": "exports", "url": "exports", "audiences": ["Webinar attendees"],
         "schedule": "0 3 * * *"}])
    with ws.lake() as lake:
        deliver(ws, lake, ws.config.destinations[0])
        key = create_key(lake, "api", "browser tests").secret
        email = lake.scalar("SELECT p.email FROM person_profile p JOIN person_account USING (person_id) "
                            "WHERE p.email IS NOT NULL ORDER BY 1 LIMIT 1")
    server = Server(ws.root)
    yield server.url, email, key
    server.stop()


@pytest.fixture
def site_with_marketo(tmp_path: Path, evaluated_lake: Path, tiny_world: Path):
    """The site, and a local Marketo instance whose client secret the workspace's secrets file holds."""
    with MarketoServer(MarketoData.from_folder(tiny_world / "marketo")) as marketo:
        (tmp_path / "ws").mkdir()
        (tmp_path / "ws" / "secrets.yaml").write_text(f"marketo: {marketo.client_secret}\n")
        for url, email, key in serve_evaluated(tmp_path, evaluated_lake):
            yield url, key, marketo, tmp_path / "ws"


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    need_chromium()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser.new_page(viewport={"width": 1280, "height": 900})
        browser.close()


def sign_in(page, url: str, key: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(url + "/")
    page.wait_for_url(lambda u: "/login" in u)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(url + "/")


def test_pages_want_a_signed_in_user(site, page) -> None:
    url, _, key = site
    page.goto(url + "/audiences")
    assert "/login?next=/audiences" in page.url
    page.get_by_label("API key").fill("ak_not-a-key")
    page.get_by_role("button", name="Sign in").click()
    assert "not valid" in page.get_by_role("alert").inner_text()
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/audiences")
    page.get_by_role("link", name="Sign out").click()
    page.goto(url + "/sources")
    assert "/login" in page.url


def test_browse_search_build_and_deliver(site, page) -> None:
    url, email, key = site
    sign_in(page, url, key)
    assert page.locator("h1").inner_text().startswith("Workspace")
    page.screenshot(path=SHOTS / "home.png", full_page=True)

    page.get_by_role("link", name="Profiles").click()
    page.get_by_label("Name, e-mail, company or any identity (namespace:value)").fill(email)
    page.keyboard.press("Enter")
    page.wait_for_url("**/profiles/person_id:*")
    assert email in page.content()
    page.screenshot(path=SHOTS / "profile.png", full_page=True)

    page.locator("a[href^='/accounts/']").first.click()
    page.wait_for_url("**/accounts/**")
    assert page.get_by_role("heading", name="Engagement over time").is_visible()
    assert page.get_by_role("heading", name="People").is_visible()
    assert page.locator("#pipeline").inner_text().startswith("Open pipeline")
    page.screenshot(path=SHOTS / "account.png", full_page=True)

    page.get_by_role("link", name="Audiences").click()
    assert page.locator("svg[aria-label='Webinar attendees: size per run']").count() == 1
    page.screenshot(path=SHOTS / "audiences.png", full_page=True)

    page.goto(url + "/audiences/new")
    page.wait_for_selector(".cond[data-kind=compare]")  # the starting text, shown as a field condition
    page.get_by_label("Name").fill("Built in a browser")
    page.locator("#b-tree > fieldset > .control select").select_option("quantified")
    related = page.locator(".cond[data-kind=quantified]")
    related.get_by_label("Quantifier").select_option("no")
    related.locator("fieldset > .control select").select_option("compare")
    inner = related.locator(".cond[data-kind=compare]")
    inner.get_by_label("Field").fill("is_won")
    inner.get_by_label("Value").fill("true")
    page.wait_for_function("document.getElementById('text').value.includes('no opportunity (is_won = true)')")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('Valid')")
    size = page.locator("#preview-size").inner_text()
    assert size.replace(",", "").isdigit() and int(size.replace(",", "")) > 0
    assert 'country = "Germany"' in page.locator("#text").input_value()
    page.screenshot(path=SHOTS / "builder.png", full_page=True)
    page.get_by_role("button", name="Save audience").click()
    page.wait_for_url("**/audiences/Built%20in%20a%20browser")
    assert page.locator("#size").inner_text() == size
    page.screenshot(path=SHOTS / "audience.png", full_page=True)

    page.goto(url + "/audiences/new")
    page.locator("#text").fill('audience "Broken" of person\nwhere colour = "red"')
    page.wait_for_function("document.getElementById('status').textContent.includes('colour')")

    page.get_by_role("link", name="Destinations").click()
    page.get_by_role("link", name="exports").click()
    assert page.get_by_role("heading", name="Runs").is_visible()
    assert "Webinar attendees: add added" in page.content()
    page.screenshot(path=SHOTS / "destination.png", full_page=True)
    page.get_by_role("button", name="Retry failed changes").click()
    page.wait_for_url("**/destinations/exports")

    page.get_by_role("link", name="Sources").click()
    assert page.get_by_role("heading", name="Batches").is_visible()
    assert "Nothing has been sent to the collector yet." in page.content()
    page.screenshot(path=SHOTS / "sources.png", full_page=True)


def test_the_sources_page_says_what_the_collector_log_holds(tmp_path: Path, page) -> None:
    ws = Workspace.init(tmp_path / "ws")
    with ws.lake() as lake:
        write, key = create_key(lake, "write").secret, create_key(lake, "api", "browser tests").secret
    server = Server(ws.root)
    try:
        sent = httpx.post(f"{server.url}/v1/batch", json={"batch": recent(BATCH)}, auth=(write, ""))
        assert sent.status_code == 200
        health_when(server, lambda health: health["collector"]["written"] and not health["collector"]["behind"])
        sign_in(page, server.url, key)
        page.goto(server.url + "/sources")
        said = page.locator("h2:has-text('Collector log') + p").inner_text()
        assert said.startswith("1 segment, 0.0 MB on disk;") and "the store has loaded all of it" in said
    finally:
        server.stop()


def test_edit_an_audience_see_the_change_confirm_save_and_restore(site, page) -> None:
    """An existing audience opens in the builder with every condition; one change shows the diff and the change in
    members; saving an audience a destination uses needs a confirm; the earlier version can be restored."""
    url, _, key = site
    sign_in(page, url, key)
    page.goto(url + "/audiences/Webinar%20attendees/edit")
    page.wait_for_selector(".cond[data-kind=in_campaign]")
    assert page.get_by_label("Campaign").input_value() == "Webinar Program 01"
    assert page.get_by_label("With status (optional)").input_value() == "04 Attended"
    assert page.locator(".cond[data-kind=quantified] .cond[data-kind=compare]").get_by_label("Value").input_value() \
        == "webinar.attend"
    page.get_by_label("Owner").fill("ops@acme.example")
    page.wait_for_function("document.getElementById('text').value.includes('owner \"ops@acme.example\"')")
    page.get_by_label("Days").fill("7")
    page.wait_for_function("document.getElementById('text').value.includes('in last 7 days')")
    page.wait_for_function("document.getElementById('preview-change').textContent.includes('feeds exports')")
    diff = page.locator("#preview-diff").inner_text()
    assert "-where" in diff and "+where" in diff and "in last 7 days" in diff
    assert page.get_by_label("I have checked the change in members and want to save it").is_visible()
    page.screenshot(path=SHOTS / "builder-change.png", full_page=True)

    page.evaluate("document.querySelector('.confirm').hidden = true")  # as a careless user would skip it
    page.get_by_role("button", name="Save audience").click()
    assert "tick the confirmation" in page.get_by_role("alert").inner_text()
    assert "in last 7 days" in page.locator("#text").input_value(), "nothing typed is lost"
    page.wait_for_function("!document.querySelector('.confirm').hidden")
    page.get_by_label("I have checked the change in members and want to save it").check()
    page.get_by_role("button", name="Save audience").click()
    page.wait_for_url("**/audiences/Webinar%20attendees")
    assert "in last 7 days" in page.locator("pre").first.inner_text()
    assert "owner ops@acme.example" in page.content()
    saved_at = page.locator("td time").first
    assert saved_at.get_attribute("title").endswith("UTC"), "the viewer's own time, UTC on hover"

    page.get_by_role("button", name="Restore version 0").click()
    page.wait_for_url("**/audiences/Webinar%20attendees")
    assert "in last 30 days" in page.locator("pre").first.inner_text()
    assert "restored version 0" in page.content()
    page.screenshot(path=SHOTS / "audience-history.png", full_page=True)


def test_find_people_and_accounts_download_members_and_keep_a_used_audience(site, page) -> None:
    url, email, key = site
    sign_in(page, url, key)
    page.goto(url + "/profiles")
    page.get_by_label("Name, e-mail, company or any identity (namespace:value)").fill("an")
    page.keyboard.press("Enter")
    page.wait_for_selector("#people")
    assert page.locator("#people tbody tr").count() > 1
    page.locator("#people tbody a").first.click()
    page.wait_for_url("**/profiles/person_id:*")
    assert page.get_by_role("heading", name="Consent").is_visible()

    page.get_by_role("link", name="Accounts", exact=True).click()
    industry = page.locator("#industry option").nth(1).inner_text()
    page.get_by_label("Industry").select_option(industry)
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/accounts?*")
    cells = page.locator("#accounts tbody tr td:nth-child(3)").all_inner_texts()
    assert cells and set(cells) == {industry}
    page.screenshot(path=SHOTS / "accounts.png", full_page=True)

    page.goto(url + "/audiences/Webinar%20attendees")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download members (CSV)").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0].startswith("person_id,email") and len(lines) - 1 == int(page.locator("#size").inner_text())
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete audience").click()
    assert "used by destination exports" in page.get_by_role("alert").inner_text()


def test_add_a_marketo_destination_in_the_ui_test_it_run_it_and_pause_it(site_with_marketo, page) -> None:
    url, key, marketo, root = site_with_marketo
    sign_in(page, url, key)
    page.get_by_role("link", name="Destinations").click()
    page.get_by_role("link", name="Add a destination").click()
    page.get_by_role("link", name="Marketo Engage").click()
    page.get_by_label("Name (required)").fill("mkto-ui")
    page.get_by_label("Webinar attendees").check()
    page.get_by_label("Schedule").fill("streaming")
    page.get_by_label("Munchkin id (required)").fill(marketo.munchkin_id)
    page.get_by_label("Endpoint (required)").fill(marketo.endpoint)
    page.get_by_label("Client id (required)").fill(marketo.client_id)
    page.get_by_label("Client secret (required)").fill(marketo.client_secret)  # the value: refused
    page.get_by_label("Folder id").fill("12")
    page.get_by_role("button", name="Save destination").click()
    assert "never the value itself" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Munchkin id (required)").input_value() == marketo.munchkin_id, "nothing typed is lost"
    page.get_by_label("Client secret (required)").fill("file:secrets.yaml#marketo")
    page.get_by_role("button", name="Save destination").click()
    page.wait_for_url("**/destinations/mkto-ui")
    saved = yaml.safe_load((root / "accord.yaml").read_text())["destinations"]
    assert [d["client_secret"] for d in saved if d["name"] == "mkto-ui"] == ["file:secrets.yaml#marketo"]
    assert marketo.client_secret not in (root / "accord.yaml").read_text()

    deadline = time.monotonic() + 30  # serve starts a worker for the new streaming destination: no restart
    while not any(marketo.data.list_members.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert any(marketo.data.list_members.values()), "the list got its members without a restart"

    page.get_by_role("button", name="Test the connection").click()
    assert page.get_by_role("status").filter(has_text="Connected").count() == 1
    page.get_by_role("button", name="Run now").click()
    page.wait_for_url("**/destinations/mkto-ui")
    assert "Webinar attendees: add added" in page.content()
    page.screenshot(path=SHOTS / "destination-added.png", full_page=True)
    page.get_by_role("button", name="Pause").click()
    page.wait_for_url("**/destinations/mkto-ui")
    assert "Paused" in page.content()
    assert [d["paused"] for d in yaml.safe_load((root / "accord.yaml").read_text())["destinations"]
            if d["name"] == "mkto-ui"] == [True]


def test_a_failing_delivery_under_serve_alerts_by_email_and_webhook_and_on_home(
        tmp_path: Path, evaluated_lake: Path, page, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTS_HOOK_SECRET", "s3cret")
    inbox, smtp_port = Inbox(), free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    with Hook() as hook:
        ws = alerting_workspace(tmp_path, evaluated_lake, smtp_port, f"{hook.endpoint}/slack")
        config = yaml.safe_load((ws.root / "accord.yaml").read_text())
        config["alerts"]["every_seconds"] = 0.5
        (ws.root / "accord.yaml").write_text(yaml.safe_dump(config))
        with ws.lake() as lake:
            key = create_key(lake, "api", "alerts").secret
        server = Server(ws.root)  # its destination thread runs the unreachable webhook at start-up
        try:
            deadline = time.monotonic() + 60
            while not (inbox.messages and hook.posts) and time.monotonic() < deadline:
                time.sleep(0.2)
            sign_in(page, server.url, key)
            alerts = page.locator("#alerts").inner_text()
        finally:
            server.stop()
            smtp.stop()
    assert "crm-hook failed" in inbox.messages[0].get_payload() and "crm-hook failed" in hook.posts[0]["text"]
    assert "crm-hook failed" in alerts and "sent" in alerts
    page.screenshot(path=SHOTS / "home-alert.png", full_page=True)


def test_pages_are_keyboard_reachable(site, page) -> None:
    url, _, key = site
    sign_in(page, url, key)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "/"
    for control in page.locator("input, select, textarea").all():
        control_id = control.get_attribute("id")
        assert control_id and page.locator(f"label[for='{control_id}']").count() == 1


def test_a_destination_page_shows_what_the_ad_platform_matched(tmp_path: Path, evaluated_lake: Path, page,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from accord.connectors.hashing import hashed_email
    from accord.connectors.linkedin.server import Limits, LinkedInServer

    with LinkedInServer(Limits(build_seconds=0.0)) as linkedin:
        monkeypatch.setenv("LINKEDIN_TOKEN", linkedin.token)
        ws = evaluated_workspace(tmp_path, evaluated_lake, [{
            "type": "linkedin", "name": "linkedin", "audiences": ["Webinar attendees"], "schedule": "0 3 * * *",
            "endpoint": linkedin.endpoint, "ad_account": "urn:li:sponsoredAccount:507",
            "access_token": "env:LINKEDIN_TOKEN", "settle_seconds": 0.0}])
        with ws.lake() as lake:
            emails = [r[0] for r in lake.execute(
                "SELECT p.email FROM audience_membership m JOIN person_profile p ON p.person_id = m.profile_id "
                "WHERE m.audience = 'Webinar attendees' AND p.email IS NOT NULL ORDER BY 1").fetchall()]
            linkedin.known = {hashed_email(e) for e in emails[:2]}
            deliver(ws, lake, ws.config.destinations[0])
            key = create_key(lake, "api", "browser tests").secret
        server = Server(ws.root)
        try:
            sign_in(page, server.url, key)
            page.goto(server.url + "/destinations/linkedin")
            assert page.get_by_role("heading", name="On the platform").is_visible()
            first = page.locator("#reach tbody tr").first.inner_text()
            page.goto(server.url + "/destinations")
            listed = page.get_by_role("row", name="linkedin").inner_text()
            page.goto(server.url + "/destinations/linkedin")
            page.screenshot(path=SHOTS / "destination-reach.png", full_page=True)
            linkedin.known = None  # LinkedIn has since found every one sent
            page.get_by_role("button", name="Read the platform now").click()
            assert "Read from the platform just now." in page.get_by_role("status").inner_text()
            row = page.locator("#reach tbody tr").first.inner_text()
        finally:
            server.stop()
    assert "Webinar attendees" in first and "READY" in first and "\t2\t2\t" in first
    assert "not served: Webinar attendees" in listed
    assert "Webinar attendees" in row and "READY" in row and f"\t{len(emails)}\t100%\t" in row
    assert "LinkedIn serves ads to segments of 300 matched members or more" in row
