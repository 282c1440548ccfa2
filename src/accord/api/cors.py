"""Cross-origin requests to the collector: a site's tag (analytics.js, posthog-js) posts from the site's own origin,
so the collector's routes answer any origin. A write key, not the origin, admits events; the REST API and the pages
answer no other origin."""

from __future__ import annotations

from accord.api.limits import ASGIApp, Message, Receive, Scope, Send

ALLOWED = [(b"access-control-allow-origin", b"*")]
PREFLIGHT = [*ALLOWED, (b"access-control-allow-methods", b"POST, GET, OPTIONS"),
             (b"access-control-allow-headers", b"Authorization, Content-Type, Content-Encoding"),
             (b"access-control-max-age", b"86400")]


class CollectorCors:
    """Answers a browser's preflight to the collector's routes (`paths`: prefixes), and lets it read their answers."""

    def __init__(self, app: ASGIApp, paths: tuple[str, ...]) -> None:
        self.app, self.paths = app, paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(self.paths):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await send({"type": "http.response.start", "status": 204, "headers": PREFLIGHT})
            await send({"type": "http.response.body", "body": b""})
            return

        async def allowed(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *ALLOWED]}
            await send(message)

        await self.app(scope, receive, allowed)
