"""The web UI in a real headless browser (Debian's Chromium through Playwright) against `accord serve`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from accord.activation.run import deliver
from accord.api.keys import create_key
from tests.conftest import evaluated_workspace
from tests.test_serve import Server

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"


@pytest.fixture
def site(tmp_path: Path, evaluated_lake: Path):
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium); CI installs it")
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
def page():
    from playwright.sync_api import sync_playwright

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
    page.get_by_label("E-mail or any identity").fill(email)
    page.keyboard.press("Enter")
    page.wait_for_url("**/profiles/email:*")
    assert email in page.content()
    page.screenshot(path=SHOTS / "profile.png", full_page=True)

    page.locator("a[href^='/accounts/']").first.click()
    page.wait_for_url("**/accounts/**")
    assert page.get_by_role("heading", name="Engagement over time").is_visible()
    assert page.get_by_role("heading", name="People").is_visible()
    page.screenshot(path=SHOTS / "account.png", full_page=True)

    page.goto(url + "/audiences/new")
    page.get_by_label("Name").fill("Built in a browser")
    page.get_by_role("button", name="Add field condition").click()
    row = page.locator("#b-rows .row").first
    row.get_by_label("Field").select_option("country")
    row.get_by_label("Operator").select_option("=")
    row.get_by_label("Value").fill("Germany")
    page.get_by_role("button", name="Add related-records condition").click()
    related = page.locator("#b-rows .row").nth(1)
    related.get_by_label("Quantifier").select_option("no")
    related.get_by_label("Related").select_option("opportunity")
    related.get_by_label("Field").select_option("is_won")
    related.get_by_label("Value").fill("true")
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
    page.screenshot(path=SHOTS / "sources.png", full_page=True)


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
