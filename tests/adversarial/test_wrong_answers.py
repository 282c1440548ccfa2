"""Systems that answer wrongly (a proxy's HTML page, a wrong URL, an empty body, a login outage): each is a clear
failure of that source or destination, retried where waiting helps, and never stops the other sources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from accord.activation.destination import Member
from accord.cli import app
from accord.connectors.errors import ConnectorError
from accord.connectors.google_ads.client import GoogleAdsClient
from accord.connectors.linkedin.client import LinkedInClient
from accord.connectors.marketo.client import MarketoClient
from accord.connectors.marketo.data import MarketoData
from accord.connectors.marketo.server import Limits, MarketoServer
from accord.connectors.salesforce.client import SalesforceAuth, SalesforceClient
from accord.connectors.webhook.config import WebhookDestinationConfig
from accord.connectors.webhook.destination import WebhookDestination
from accord.testing.http import Answer, LocalServer
from accord.workspace import Workspace

HTML = "text/html"
TOKEN = {"access_token": "t0k", "expires_in": 3600, "token_type": "bearer"}


def answer(status: int, body: object, kind: str = "application/json") -> Answer:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return status, {"Content-Type": kind}, payload


class WrongServer(LocalServer):
    """Answers each token request with the next of `tokens` (the last one repeating), every other call `api`."""

    def __init__(self, tokens: list[Answer], api: Answer) -> None:
        super().__init__()
        self.tokens, self.api, self.token_calls = tokens, api, 0

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
               headers: dict[str, str]) -> Answer:
        if path.endswith("/token"):
            self.token_calls += 1
            return self.tokens[min(self.token_calls, len(self.tokens)) - 1]
        return self.api


def workspace_reading(tmp_path: Path, sources: list[dict[str, object]]) -> Path:
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(tmp_path / "ws")]).exit_code == 0
    config = yaml.safe_load((tmp_path / "ws" / "accord.yaml").read_text())
    (tmp_path / "ws" / "accord.yaml").write_text(yaml.safe_dump({**config, "sources": sources}))
    return tmp_path / "ws"


def marketo_at(name: str, endpoint: str) -> dict[str, object]:
    return {"type": "marketo", "name": name, "munchkin_id": "123-ABC-456", "endpoint": endpoint, "client_id": "c",
            "client_secret": "env:SOURCE_SECRET", "backfill_since": "2024-01-01", "bulk_poll_seconds": 0.01,
            "calls_per_20s": 5000}


def salesforce_at(name: str, endpoint: str) -> dict[str, object]:
    return {"type": "salesforce", "name": name, "org_id": "00D000000000001AAA", "instance_url": endpoint,
            "client_id": "c", "client_secret": "env:SOURCE_SECRET", "bulk_poll_seconds": 0.01}


WRONG_ANSWERS = [
    # (what the token endpoint answers, what every other call answers, what Marketo's line says, Salesforce's)
    pytest.param(answer(404, b"<html>Not Found</html>", HTML), answer(404, b"", HTML),
                 "HTTP 404 on /identity/oauth/token: <html>Not Found</html>; is endpoint the instance's REST base URL",
                 "token refused: HTTP 404, answered text/html, not JSON: <html>Not Found</html>", id="wrong-url"),
    pytest.param(answer(200, b"<html>Sign in to the proxy</html>", HTML), answer(200, b"", HTML),
                 "answered text/html, not JSON: <html>Sign in to the proxy</html>",
                 "answered text/html, not JSON: <html>Sign in to the proxy</html>", id="proxy-page"),
    pytest.param(answer(200, {"scope": "x"}), answer(200, {}),
                 "the answer holds no access_token and expires_in", "holds no access_token", id="token-without-token"),
    pytest.param((301, {"Location": "https://sso.example.com/login"}, b""), answer(200, {}),
                 "HTTP 301 on /identity/oauth/token: redirected (HTTP 301) to https://sso.example.com/login; Accord "
                 "follows no redirect", "token refused: redirected (HTTP 301) to https://sso.example.com/login",
                 id="token-moved"),
    pytest.param(answer(200, TOKEN), (308, {"Location": "https://eu.example.com/api"}, b""),
                 "HTTP 308 on /rest/v1/lists.json: redirected (HTTP 308) to https://eu.example.com/api",
                 "HTTP_308 on /services/data/v62.0/sobjects/Account/describe: redirected (HTTP 308) to "
                 "https://eu.example.com/api", id="api-moved"),
    pytest.param(answer(200, TOKEN), answer(200, b"<html>Down for maintenance</html>", HTML),
                 "not_json on /rest/v1/lists.json: answered text/html, not JSON: <html>Down for maintenance</html>",
                 "not_json on /services/data/v62.0/sobjects/Account/describe: answered text/html", id="api-html"),
    pytest.param(answer(200, TOKEN), answer(200, b""), "answered application/json, not JSON: an empty body",
                 "answered application/json, not JSON: an empty body", id="api-empty"),
    pytest.param(answer(200, TOKEN), answer(200, [1, 2]), "the answer is not Marketo's envelope: [1, 2]",
                 "the answer holds no fields: [1, 2]", id="api-list"),
    pytest.param(answer(200, TOKEN), answer(403, [{"errorCode": "API_DISABLED_FOR_ORG", "message": "API off"}]),
                 "HTTP 403 on /rest/v1/lists.json", "API_DISABLED_FOR_ORG on /services/data/v62.0/sobjects/Account"
                 "/describe: API off", id="api-refused"),
]


@pytest.mark.parametrize(("token", "api", "marketo_says", "salesforce_says"), WRONG_ANSWERS)
def test_a_source_answering_wrongly_is_a_clear_failure_of_that_source(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: Answer, api: Answer, marketo_says: str,
        salesforce_says: str) -> None:
    monkeypatch.setenv("SOURCE_SECRET", "s3cret-value")
    with WrongServer([token], api) as wrong:
        ws = workspace_reading(tmp_path, [marketo_at("mk", wrong.endpoint), salesforce_at("sf", wrong.endpoint)])
        checked = CliRunner().invoke(app, ["sources", "check", "-w", str(ws)])
    assert checked.exit_code == 1
    said = " ".join(checked.output.split())  # Rich wraps lines at 80 columns
    assert said.startswith("mk: failed ") and said.count(" failed ") == 2, checked.output
    marketo_line, salesforce_line = said.split(" sf: failed ")
    assert marketo_says in marketo_line and salesforce_says in salesforce_line
    assert "Error:" not in said and "s3cret-value" not in said


def test_a_token_endpoint_that_is_briefly_down_is_asked_again() -> None:
    """A login outage (503, 429) is waited out like any other call's; the call then succeeds."""
    down = [answer(503, b"<html>Service Unavailable</html>", HTML), answer(429, b"")]
    with WrongServer([*down, answer(200, TOKEN)], answer(200, {"success": True, "result": [{"id": 1}]})) as marketo:
        client = MarketoClient(marketo.endpoint, "c", "s", backoff=0.001)
        assert client.call("GET", "/rest/v1/lists.json")["result"] == [{"id": 1}]
    assert marketo.token_calls == 3 and client.stats.retries == {"503": 1, "429": 1}
    with WrongServer([*down, answer(200, TOKEN)], answer(200, {"fields": [{"name": "Id"}]})) as org:
        auth = SalesforceAuth(f"{org.endpoint}/services/oauth2/token", "c", client_secret="s")
        salesforce = SalesforceClient(org.endpoint, "62.0", auth, backoff=0.001)
        assert salesforce.describe("Account") == ["Id"]
    assert org.token_calls == 3 and salesforce.stats.retries == {"token": 2}


def test_one_source_down_leaves_the_others_synced(tiny_world: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The first instance is unreachable: the second is still synced, and the command exits 1 naming the first."""
    data = MarketoData.from_folder(tiny_world / "marketo")
    with MarketoServer(data, limits=Limits(calls_per_window=100, window_seconds=0.3, bulk_seconds=0.005)) as up:
        up_config = {**marketo_at("mkto-up", up.endpoint), **up.connection("env:SOURCE_SECRET")}
        monkeypatch.setenv("SOURCE_SECRET", up.client_secret)
        down = {**marketo_at("mkto-down", "http://127.0.0.1:9"), "munchkin_id": "999-ZZZ-999"}
        ws = workspace_reading(tmp_path, [down, up_config])
        synced = CliRunner().invoke(app, ["sync", "marketo", "-w", str(ws)])
    said = " ".join(synced.output.split())
    assert synced.exit_code == 1
    assert "mkto-down: failed Marketo error unreachable on /identity/oauth/token" in said
    assert "mkto-up → prod: backfill" in said
    with Workspace.load(ws).lake("prod") as lake:
        assert lake.scalar("SELECT count(*) FROM person") == data.leads.num_rows


@pytest.mark.parametrize(("api", "said"), [
    (answer(200, b"<html>Sign in to the proxy</html>", HTML), "answered text/html, not JSON: <html>Sign in"),
    (answer(200, b""), "answered application/json, not JSON: an empty body"),
    (answer(200, [1, 2]), "answered JSON that is not an object: [1, 2]"),
])
def test_a_destination_answering_wrongly_is_a_clear_connector_error(api: Answer, said: str) -> None:
    """Its changes are then dead-lettered with this reason, not with a JSON parser's complaint."""
    with WrongServer([api], api) as wrong:
        linkedin = LinkedInClient(wrong.endpoint, "t", "202411", calls_per_minute=6000)
        with pytest.raises(ConnectorError) as refused:
            linkedin.segment(7)
        assert str(refused.value).startswith(f"LinkedIn {said}") and "(on GET /dmpSegments/7)" in str(refused.value)
        ads = GoogleAdsClient(wrong.endpoint, "v18", "1234567890", "t", "dev")
        with pytest.raises(ConnectorError) as refused:
            ads.run_and_wait("9", poll_seconds=0.01)
        assert str(refused.value).startswith(f"Google Ads {said}")
        assert "(on offlineUserDataJobs/9:run)" in str(refused.value)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_webhook_that_moved_is_not_counted_as_delivered(status: int) -> None:
    """A redirect is no receipt: the change is dead-lettered, naming where the receiver went."""
    moved = (status, {"Location": "https://hooks.example.com/new"}, b"")
    with WrongServer([moved], moved) as receiver:
        config = WebhookDestinationConfig(name="hook", audiences=["a"], url=f"{receiver.endpoint}/hook",
                                          secret="env:HOOK_SECRET")
        with pytest.raises(ConnectorError, match=f"redirected \\(HTTP {status}\\) to https://hooks.example.com/new"):
            WebhookDestination(config, "s").add("a", [Member("P1", {"email": "a@example.com"})])
