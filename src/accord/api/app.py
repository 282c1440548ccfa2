"""`accord serve`'s HTTP side: the collector's routes, the REST API, the web UI and relayed CLI commands.

Request handlers only validate, authenticate (against cached key hashes) and append to the durable log; the
pipeline's runtime (`pipeline/runtime.py`), started with the app, owns the lake and keeps it current.
"""

from __future__ import annotations

import base64
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from accord import fastjson
from accord.api import relay
from accord.api.cors import CollectorCors
from accord.api.edge import Edge
from accord.api.keys import matches
from accord.api.limits import BodyLimit
from accord.api.rest import create_router, install_error_handlers
from accord.pipeline.runtime import Runtime, after_relayed_command
from accord.sources.collector import BadBatch, gunzipped, validate_batch
from accord.sources.collector_log import log_state
from accord.sources.posthog_capture import CAPTURE_PATHS, SETTINGS, captured
from accord.sources.snowplow_tracker import (
    PIXEL,
    PIXEL_PATH,
    POST_PATH,
    pixel_event,
    tracked,
)
from accord.web.pages import LoginRequired, create_pages, login_redirect, static_files
from accord.workspace import Workspace

MAX_BODY_BYTES = 4 * 1024 * 1024 + 1024
SINGLE_CALLS = ("identify", "track", "page", "screen", "group", "alias")


def create_app(workspace: Workspace, sandbox: str | None = None, ingest_every: float = 2.0,
               url: str | None = None, edge: Edge | None = None) -> FastAPI:
    """The served app; with `url` (where it listens), CLI commands on its sandbox are relayed to it while it runs;
    with `edge`, the profile edge runs beside it while it runs."""
    runtime = Runtime.open(workspace, sandbox, ingest_every, edge)
    state, name = runtime.state, runtime.state.sandbox
    folder = workspace.lake_path(name).parent

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        mine = relay.announce(folder, url) if url else None
        yield
        if mine:
            relay.withdraw(folder, mine)
        runtime.stop()

    app = FastAPI(title="Accord", version="0.1.0", lifespan=lifespan,
                  description="Accord B2B CDP: the collector (Segment HTTP Tracking API, /v1) and the REST API "
                              "(/api/v1, `Authorization: Bearer <api key>`).")
    app.state.accord = state
    install_error_handlers(app)
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES, said="the body is larger than 4 MiB")
    app.add_middleware(CollectorCors, paths=("/v1/", *CAPTURE_PATHS, "/decide/", "/flags/", POST_PATH, PIXEL_PATH))

    async def accept(request: Request, single: str | None = None) -> JSONResponse:
        raw = await request.body()
        try:
            body, size = _decode(raw, request.headers.get("content-encoding", ""))
        except BadBatch as err:
            return _error(400, "bad_request", str(err))
        key = _basic_user(request.headers.get("authorization", "")) or (body.get("writeKey") if isinstance(body, dict) else None)
        if not key or not matches(str(key), state.write_keys):
            return _error(401, "unauthorized", "a valid write key is required (HTTP Basic user name, or writeKey)")
        try:
            if single is not None and isinstance(body, dict):
                body.setdefault("type", single)
                if body["type"] != single:
                    raise BadBatch(f"/v1/{single} takes {single} messages, not {body['type']!r}")
            messages = validate_batch(body, size)
        except BadBatch as err:
            return _error(400, "bad_request", str(err))
        for message in messages:
            message.pop("writeKey", None)
        return await logged(messages) or JSONResponse({"success": True})

    async def logged(messages: list[dict[str, Any]]) -> JSONResponse | None:
        """The messages appended to the collector's log (fsync'd), or the answer saying why not now."""
        if state.log.busy:
            return _error(429, "overloaded", "too many batches are waiting to be written; retry shortly", retry_after=1)
        try:
            await anyio.to_thread.run_sync(state.log.append, messages)
        except OSError as err:
            return _error(503, "unavailable", str(err), retry_after=5)
        return None

    async def admitted(read: Callable[[], tuple[list[dict[str, Any]], set[str]]], keys: str,
                       answer: Response) -> Response:
        """Another tracker's events read as messages (`read`), each admitted by the write key it carries (said in
        `keys`), checked and logged as `/v1/batch`'s are; then `answer`."""
        try:
            messages, tokens = read()
            if not all(matches(token, state.write_keys) for token in tokens):
                return _error(401, "unauthorized", keys)
            messages = validate_batch({"batch": messages})
        except BadBatch as err:
            return _error(400, "bad_request", str(err))
        return await logged(messages) or answer

    async def capture(request: Request) -> Response:
        """Events as posthog-js or a PostHog server library sends them; the project token a write key."""
        raw = await request.body()
        return await admitted(
            lambda: captured(raw, request.query_params.get("compression", ""), request.headers.get("content-type", ""),
                             MAX_BODY_BYTES),
            "each event's token (api_key, or properties.token) must be a collector write key",
            JSONResponse({"status": 1}))

    for path in CAPTURE_PATHS:
        app.post(path, include_in_schema=path == "/batch/", summary="Events as PostHog's libraries send them")(capture)

    @app.api_route("/decide/", methods=["GET", "POST"], include_in_schema=False)
    @app.api_route("/flags/", methods=["GET", "POST"], include_in_schema=False)
    def decide() -> dict[str, Any]:
        """What posthog-js asks at start: no flags, no recordings (Accord collects events, nothing more)."""
        return SETTINGS

    snowplow_keys = "each event's aid (the tracker's appId) must be a collector write key"

    @app.post(POST_PATH, summary="Events as Snowplow's trackers send them")
    async def snowplow(request: Request) -> Response:
        raw = await request.body()
        return await admitted(lambda: tracked(raw), snowplow_keys, Response("ok", media_type="text/plain"))

    @app.get(PIXEL_PATH, include_in_schema=False)
    async def snowplow_pixel(request: Request) -> Response:
        """One event as a Snowplow tracker's pixel request (its query), answered with a transparent pixel."""
        return await admitted(lambda: pixel_event(request.url.query), snowplow_keys,
                              Response(PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"}))

    @app.post("/v1/batch")
    async def batch(request: Request) -> JSONResponse:
        """Many messages at once: `{"batch": [...], "sentAt": ...}`."""
        return await accept(request)

    for call in SINGLE_CALLS:
        async def single_call(request: Request, _call: str = call) -> JSONResponse:
            return await accept(request, _call)

        app.post(f"/v1/{call}", name=call, summary=f"One {call} message")(single_call)

    @app.post("/_relay", include_in_schema=False)
    async def relayed(request: Request) -> Response:
        """A CLI command on this sandbox, sent by `accord` while this server holds the store."""
        mine = relay.announced(folder, alive_only=False)
        given = request.headers.get(relay.TOKEN_HEADER, "")
        if mine is None or not url or not secrets.compare_digest(given, mine.token):
            return _error(401, "unauthorized", "relayed commands need this server's token")
        try:
            argv, env = relay.received(await request.json())
        except ValueError as err:
            return _error(400, "bad_request", str(err))
        return StreamingResponse(relay.execute(argv, env, after=lambda: after_relayed_command(state)),
                                 media_type="application/x-ndjson")

    @app.get("/health")
    def health() -> dict[str, Any]:
        failing = any(s.get("error") for s in [*state.sources.values(), *state.destinations.values()])
        error = state.last_error or state.live.error
        audiences = state.audience_problems | state.evaluation_failures
        edge = state.edge.status() if state.edge else None
        return {"ok": error is None and not failing and not audiences and not (edge and edge["error"])
                and not state.config.get("error"),
                "sandbox": state.sandbox, "error": error, "sources": state.sources,
                "destinations": state.destinations, "audiences": audiences, "stages": state.stages,
                "profiles": state.profiles_sync, "edge": edge, "alerts": state.alerts, "config": state.config,
                "collector": log_state(state.log.folder, state.log.loaded).as_dict(),
                "next_evaluation": state.next_evaluation.isoformat() if state.next_evaluation else None}

    # After the collector's routes: requests are matched in order, and the collector takes the most of them.
    app.include_router(create_router(workspace, name, lambda: state.api_keys, state.cursor, state.profiles))
    app.include_router(create_pages(workspace, name, lambda: state.api_keys, state.cursor))
    app.add_exception_handler(LoginRequired, login_redirect)  # type: ignore[arg-type]
    app.mount("/static", static_files(), name="static")
    return app


def _decode(raw: bytes, encoding: str) -> tuple[Any, int]:
    """The JSON body (gunzipped if need be) and its decoded size; `BodyLimit` has bounded the body as sent."""
    if "gzip" in encoding.lower():
        raw = gunzipped(raw, MAX_BODY_BYTES)
    try:
        return fastjson.loads(raw), len(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise BadBatch(f"the body is not JSON: {err}") from None


def _basic_user(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        return base64.b64decode(value).decode().partition(":")[0] or None
    except (ValueError, UnicodeDecodeError):
        return None


def _error(status: int, code: str, message: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


class PortTaken(ValueError):
    """The address `accord serve` was given cannot be listened on (in use, or not this machine's)."""


def listening(host: str, port: int) -> socket.socket:
    """The server's socket, bound before anything starts: a taken port is one clear error, not a server that has
    said it serves and then fails."""
    bound = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        bound.bind((host, port))
    except OSError as err:
        bound.close()
        raise PortTaken(f"cannot listen on {host}:{port}: {err.strerror} (--port chooses another)") from None
    return bound


def serve(workspace: Workspace, sandbox: str | None, bound: socket.socket, ingest_every: float,
          edge: Edge | None = None) -> None:
    """Serve on `bound` (from `listening`) until stopped."""
    import uvicorn

    host, port = bound.getsockname()[:2]
    reachable = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    app = create_app(workspace, sandbox, ingest_every, url=f"http://{reachable}:{port}", edge=edge)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[bound])
