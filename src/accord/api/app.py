"""`accord serve`: one process serving the collector, and keeping the lake, identities and audiences current.

Request handlers only validate, authenticate (against cached key hashes) and append to the durable log; one
background thread owns the lake and replays the log into it, restitches and re-evaluates on schedule.
"""

from __future__ import annotations

import base64
import gzip
import secrets
import threading
import time
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
from croniter import croniter
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from accord import fastjson
from accord.activation.config import DestinationConfig
from accord.activation.deliveries import mark_interrupted
from accord.api import relay
from accord.api.keys import active_hashes, matches
from accord.api.rest import create_router, install_error_handlers
from accord.audiences.ast import Audience
from accord.audiences.changes import Change, MembershipBus
from accord.audiences.evaluate import evaluate
from accord.audiences.files import load_usable
from accord.audiences.live import LiveProfiles
from accord.audiences.stream import StreamEvaluator, streaming
from accord.identity.resolve import seed
from accord.identity.run import run_identity
from accord.ingest.loader import IngestResult
from accord.lake.store import Lake
from accord.sources.collector import BadBatch, CollectorLog, ingest_log, validate_batch
from accord.web.pages import LoginRequired, create_pages, login_redirect, static_files
from accord.workspace import Workspace

MAX_BODY_BYTES = 4 * 1024 * 1024 + 1024
SINGLE_CALLS = ("identify", "track", "page", "screen", "group", "alias")
SWEEP_EVERY = timedelta(seconds=1)
"""How often time-window boundaries are swept: windows are days long, and a sweep scans the recent events."""
CLOSE_IDLE = 1.0
"""Seconds without data after which the worker closes the lake (a reopening costs more than a cycle)."""


@dataclass
class ServerState:
    workspace: Workspace
    sandbox: str
    log: CollectorLog
    live: LiveProfiles
    write_keys: set[str] = field(default_factory=set)
    api_keys: set[str] = field(default_factory=set)
    bus: MembershipBus = field(default_factory=MembershipBus)
    stop: threading.Event = field(default_factory=threading.Event)
    last_error: str | None = None
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    destinations: dict[str, dict[str, Any]] = field(default_factory=dict)
    source_results: list[IngestResult] = field(default_factory=list)
    audience_problems: dict[str, str] = field(default_factory=dict)
    evaluation_failures: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _audiences: tuple[tuple[tuple[str, int], ...], list[Audience]] = ((), [])

    def add_source_results(self, results: list[IngestResult]) -> None:
        with self._lock:
            self.source_results.extend(results)

    def take_source_results(self) -> list[IngestResult]:
        with self._lock:
            taken, self.source_results = self.source_results, []
        return taken

    def audiences(self) -> list[Audience]:
        """The sandbox's usable audiences, read again only when a file changed; a file that does not parse or an
        audience that cannot compile is left out and named in `audience_problems`, never stopping the others."""
        folder = self.workspace.audiences_dir(self.sandbox)
        signature = tuple(sorted((p.name, p.stat().st_mtime_ns) for p in folder.glob("*.aud")))
        if signature != self._audiences[0]:
            usable = load_usable(folder, datetime.now(timezone.utc), self.workspace.schema)
            self._audiences = (signature, usable.audiences)
            self.audience_problems = usable.problems
        return self._audiences[1]


def create_app(workspace: Workspace, sandbox: str | None = None, ingest_every: float = 2.0,
               url: str | None = None) -> FastAPI:
    """The served app; with `url` (where it listens), CLI commands on its sandbox are relayed to it while it runs."""
    name = workspace.sandbox(sandbox)
    folder = workspace.lake_path(name).parent
    log = CollectorLog(folder / "collector")
    config = workspace.config
    bus = MembershipBus()
    live = LiveProfiles(bus, config.name, config.collector.track_events, offset=log.size())
    log.written = live.feed
    state = ServerState(workspace, name, log, live, bus=bus)
    with workspace.lake(name) as lake:
        mark_interrupted(lake)
        state.write_keys = active_hashes(lake, "write")
        state.api_keys = active_hashes(lake, "api")
        live.attach(lake, streaming(state.audiences()))  # decides from the first request on

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        worker = threading.Thread(target=_worker, args=(state, ingest_every), name="accord-worker", daemon=True)
        syncer = threading.Thread(target=_source_worker, args=(state,), name="accord-sources", daemon=True)
        applier = threading.Thread(target=live.run, args=(state.stop,), name="accord-live", daemon=True)
        threads = [applier, worker, syncer, *_destination_threads(state)]
        for thread in threads:
            thread.start()
        mine = relay.announce(folder, url) if url else None
        yield
        if mine:
            relay.withdraw(folder, mine)
        state.stop.set()
        for thread in reversed(threads):
            thread.join(timeout=30)

    app = FastAPI(title="Accord", version="0.1.0", lifespan=lifespan,
                  description="Accord B2B CDP: the collector (Segment HTTP Tracking API, /v1) and the REST API "
                              "(/api/v1, `Authorization: Bearer <api key>`).")
    app.state.accord = state
    install_error_handlers(app)

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
        if state.log.busy:
            return _error(429, "overloaded", "too many batches are waiting to be written; retry shortly", retry_after=1)
        try:
            await anyio.to_thread.run_sync(state.log.append, messages)
        except OSError as err:
            return _error(503, "unavailable", str(err), retry_after=5)
        return JSONResponse({"success": True})

    @app.post("/v1/batch")
    async def batch(request: Request) -> JSONResponse:
        """Many messages at once: `{"batch": [...], "sentAt": ...}`."""
        return await accept(request)

    for call in SINGLE_CALLS:
        async def single_call(request: Request, _call: str = call) -> JSONResponse:
            return await accept(request, _call)

        app.post(f"/v1/{call}", name=call, summary=f"One {call} message")(single_call)

    @app.post("/_relay", include_in_schema=False)
    async def relayed(request: Request) -> JSONResponse:
        """A CLI command on this sandbox, sent by `accord` while this server holds the store."""
        mine = relay.announced(folder, alive_only=False)
        given = request.headers.get(relay.TOKEN_HEADER, "")
        if mine is None or not url or not secrets.compare_digest(given, mine.token):
            return _error(401, "unauthorized", "relayed commands need this server's token")
        body = await request.json()
        argv, env = body.get("argv"), body.get("env") or {}
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv) or not isinstance(env, dict):
            return _error(400, "bad_request", "a relayed command is {argv: [str], env: {str: str}}")
        done = await anyio.to_thread.run_sync(relay.execute, argv, {str(k): str(v) for k, v in env.items()})
        await anyio.to_thread.run_sync(_refresh_keys, state)
        return JSONResponse(done)

    @app.get("/health")
    def health() -> dict[str, Any]:
        failing = any(s.get("error") for s in [*state.sources.values(), *state.destinations.values()])
        error = state.last_error or state.live.error
        audiences = state.audience_problems | state.evaluation_failures
        return {"ok": error is None and not failing and not audiences, "sandbox": state.sandbox,
                "error": error, "sources": state.sources, "destinations": state.destinations, "audiences": audiences}

    # After the collector's routes: requests are matched in order, and the collector takes the most of them.
    app.include_router(create_router(workspace, name, lambda: state.api_keys))
    app.include_router(create_pages(workspace, name, lambda: state.api_keys))
    app.add_exception_handler(LoginRequired, login_redirect)  # type: ignore[arg-type]
    app.mount("/static", static_files(), name="static")
    return app


def _refresh_keys(state: ServerState) -> None:
    """Read the keys again. While serve runs every `accord keys` command is relayed to it, and this runs right
    after, whatever the worker is doing: a revoked key stops working as the command returns."""
    with state.workspace.lake(state.sandbox, migrate=False) as lake:
        state.write_keys = active_hashes(lake, "write")
        state.api_keys = active_hashes(lake, "api")


def _worker(state: ServerState, every: float) -> None:
    """Replay the log into the lake, restitch, re-decide streaming audiences for the people touched, sweep time
    windows, run batch evaluation on schedule; a last pass drains the log on shutdown.

    While data keeps arriving the lake stays open from cycle to cycle (opening and closing, which checkpoints, cost
    more than a small cycle); after `CLOSE_IDLE` without data, or an error, it is closed, so other processes (the
    CLI) can open it.
    """
    config = state.workspace.config
    next_audiences = config.audiences.next_run(datetime.now(timezone.utc)) if config.audiences.schedule else None
    last_sweep = datetime.now(timezone.utc)
    lake: Lake | None = None
    stream: StreamEvaluator | None = None  # kept while the lake and the audience files stay the same
    last_data = time.monotonic()
    while True:
        stopping = state.stop.is_set()
        try:
            lake = lake or state.workspace.lake(state.sandbox)
            audiences = state.audiences()
            if stream is None or stream.lake is not lake or stream.definitions is not audiences:
                stream = StreamEvaluator(lake, audiences, state.bus, state.live)
            moment = datetime.now(timezone.utc)
            sweep = moment - last_sweep >= SWEEP_EVERY
            loaded = cycle(state, lake, stream, moment, last_sweep if sweep else None)
            last_sweep = moment if sweep else last_sweep
            if next_audiences and moment >= next_audiences:
                report = evaluate(lake, audiences, retention_days=config.audiences.retention_days)
                state.evaluation_failures = report.failed
                state.live.reload_members(lake)
                next_audiences = config.audiences.next_run(datetime.now(timezone.utc))
            state.last_error = None
            last_data = time.monotonic() if loaded else last_data
            if time.monotonic() - last_data >= CLOSE_IDLE:
                _close(lake)
                lake = None
        except Exception as err:  # noqa: BLE001 - keep serving; /health reports it, the log keeps everything
            state.last_error = f"{type(err).__name__}: {err}"
            _close(lake)
            lake = None
        if stopping:
            _close(lake)
            return
        state.stop.wait(every)


def cycle(state: ServerState, lake: Lake, stream: StreamEvaluator, moment: datetime,
          sweep_since: datetime | None) -> list[IngestResult]:
    """One serving cycle: load the log as far as the live path applied it, restitch, re-decide in SQL the people
    concerned (and, from `sweep_since`, those whose events crossed a window boundary) at `moment`."""
    config = state.workspace.config
    upto, opened = state.live.snapshot()
    seed(lake, "person", [(namespace, value, profile) for _, profile, keys in opened for namespace, value in keys])
    state.live.seeded(len(opened))
    loaded = ingest_log(lake, state.log, config.name, config.collector.track_events, until=upto)
    loaded = [r for r in [*loaded, *state.take_source_results()] if r.loaded and r.batch_id]
    touched: list[str] | None = []
    if any(r.entity != "event" for r in loaded):  # new or changed people and accounts
        touched = run_identity(lake, config.identity).people.touched
    state.live.refresh_identities(lake, touched, upto)
    # The people the live path opened are decided too: if their records did not load, they must leave again.
    people = [*(touched or []), *(profile for _, profile, _ in opened)]
    stream.advance([r.batch_id for r in loaded], sweep_since, moment, people, upto)
    state.live.top_up(lake)
    return loaded


def _close(lake: Lake | None) -> None:
    if lake is not None:
        try:
            lake.close()
        except Exception:  # noqa: BLE001 - a connection that failed may fail to close; it is dropped either way
            pass


def _source_worker(state: ServerState) -> None:
    """Sync each API source feeding this sandbox on its interval; the main worker then restitches and re-decides."""
    from accord.sources.sync import run_source

    configs = [s for s in state.workspace.config.sources if state.sandbox in s.sandboxes]
    due = {s.name: 0.0 for s in configs}
    while not state.stop.is_set():
        for config in configs:
            if time.monotonic() < due[config.name]:
                continue
            entry = state.sources.setdefault(config.name, {"type": config.type, "last_sync": None, "error": None})
            try:
                report = run_source(state.workspace, config, state.sandbox)[0]
                state.add_source_results(report.results)
                entry.update(last_sync=datetime.now(timezone.utc).isoformat(), error=None, mode=report.mode,
                             loaded=report.loaded(), calls=report.calls)
            except Exception as err:  # noqa: BLE001 - a source that fails is reported and tried again later
                entry["error"] = f"{type(err).__name__}: {err}"
            due[config.name] = time.monotonic() + config.sync_every_seconds
        state.stop.wait(1.0)


def _destination_threads(state: ServerState) -> list[threading.Thread]:
    """A thread per destination of the sandbox, so a slow or throttling one never holds the others up; streaming
    destinations hear of the changes the bus announces, the others run on their cron."""
    from accord.activation.run import reading

    configs = reading(state.workspace, state.sandbox)
    queues = {d.name: _Changed() for d in configs}

    def changed(changes: list[Change]) -> None:
        for config in configs:
            queues[config.name].add({c.audience for c in changes} & set(config.audiences))

    if configs:
        state.bus.subscribe(changed, recorded=True)
    return [threading.Thread(target=_destination_worker, args=(state, d, queues[d.name]), daemon=True,
                             name=f"accord-destination-{d.name}") for d in configs]


@dataclass
class _Changed:
    """The audiences of one destination whose membership changed since its last run."""

    audiences: set[str] = field(default_factory=set)
    wake: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, audiences: set[str]) -> None:
        if audiences:
            with self._lock:
                self.audiences |= audiences
            self.wake.set()

    def take(self) -> set[str]:
        with self._lock:
            taken, self.audiences = self.audiences, set()
        return taken


def _destination_worker(state: ServerState, config: DestinationConfig, queue: _Changed) -> None:
    """Run one destination: on its changes (streaming) or its cron, at start-up, and again when a run left changes
    `retrying` (once the destination's Retry-After, capped by max_wait_seconds, has passed)."""
    from accord.activation.members import known_audiences
    from accord.activation.run import deliver

    due = (None if config.schedule == "streaming"
           else croniter(config.schedule, datetime.now(timezone.utc)).get_next(datetime))
    retry_at: datetime | None = None
    catch_up = True
    while not state.stop.is_set():
        queue.wake.wait(1.0)
        queue.wake.clear()
        changed = queue.take()
        moment = datetime.now(timezone.utc)
        wanted: set[str] = set()
        trigger = "streaming"
        if due is None:
            wanted, trigger = (set(config.audiences), "startup") if catch_up else (changed, "streaming")
        elif moment >= due:
            wanted, trigger = set(config.audiences), "schedule"
            due = croniter(config.schedule, moment).get_next(datetime)
        if retry_at is not None and moment >= retry_at:
            wanted, trigger, retry_at = set(config.audiences), "retry", None
        catch_up = False
        if not wanted:
            continue
        entry = state.destinations.setdefault(config.name, {"type": config.type, "last_run": None, "error": None})
        try:
            with state.workspace.lake(state.sandbox) as lake:
                names = known_audiences(lake, sorted(wanted))
                if names:
                    report = deliver(state.workspace, lake, config, names, trigger)
                    entry.update(last_run=report.run_id, error=report.error, activated=report.total("activated"),
                                 removed=report.total("removed"), failed=report.total("failed"),
                                 retrying=report.total("retrying"))
                    if report.retry_in is not None:
                        retry_at = moment + timedelta(seconds=min(report.retry_in, config.max_wait_seconds))
        except Exception as err:  # noqa: BLE001 - reported in /health and the run's record; tried again
            entry["error"] = f"{type(err).__name__}: {err}"


def _decode(raw: bytes, encoding: str) -> tuple[Any, int]:
    """The JSON body (gunzipped if need be) and its decoded size."""
    if len(raw) > MAX_BODY_BYTES:
        raise BadBatch("the body is larger than 4 MiB")
    if "gzip" in encoding.lower():
        try:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            raw = inflater.decompress(raw, MAX_BODY_BYTES)
            if inflater.unconsumed_tail:
                raise BadBatch("the decoded body is larger than 4 MiB")
        except (zlib.error, OSError, gzip.BadGzipFile) as err:
            raise BadBatch(f"the body is not valid gzip: {err}") from None
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


def serve(workspace: Workspace, sandbox: str | None, host: str, port: int, ingest_every: float) -> None:
    import uvicorn

    reachable = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    app = create_app(workspace, sandbox, ingest_every, url=f"http://{reachable}:{port}")
    uvicorn.run(app, host=host, port=port, log_level="warning")
