"""Cross-origin requests to the collector: a site's tag (analytics.js, posthog-js, Snowplow's tracker) posts from the
site's own origin, so the collector's routes answer any origin, with credentials too (Snowplow's tracker sends its
requests with them, and a browser takes no `*` for those). A write key, not the origin or a cookie, admits events;
the REST API and the pages answer no other origin."""

from __future__ import annotations

from accord.api.limits import ASGIApp, Message, Receive, Scope, Send

PREFLIGHT = [(b"access-control-allow-methods", b"POST, GET, OPTIONS"),
             (b"access-control-allow-headers", b"Authorization, Content-Type, Content-Encoding, SP-Anonymous"),
             (b"access-control-max-age", b"86400")]


class CollectorCors:
    """Answers a browser's preflight to the collector's routes (`paths`, and what is below each), and lets it read
    their answers."""

    def __init__(self, app: ASGIApp, paths: tuple[str, ...]) -> None:
        self.app = app
        self.paths = tuple(p.rstrip("/") for p in paths)

    def _collects(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._collects(str(scope["path"])):
            await self.app(scope, receive, send)
            return
        allowed = _allowed(dict(scope.get("headers") or []).get(b"origin"))
        if scope["method"] == "OPTIONS":
            await send({"type": "http.response.start", "status": 204, "headers": [*allowed, *PREFLIGHT]})
            await send({"type": "http.response.body", "body": b""})
            return

        async def answered(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *allowed]}
            await send(message)

        await self.app(scope, receive, answered)


def _allowed(origin: bytes | None) -> list[tuple[bytes, bytes]]:
    """The headers letting `origin` read the answer: itself named (with credentials), or any origin without one."""
    if not origin:
        return [(b"access-control-allow-origin", b"*")]
    return [(b"access-control-allow-origin", origin), (b"access-control-allow-credentials", b"true"),
            (b"vary", b"Origin")]
