"""The long-running parts of `accord serve`: the worker that runs the pipeline's serving cycle, API source syncs,
one thread per destination, the live path's thread, and the one keeping the served copy of people current.
`api/app.py` starts a `Runtime` and serves HTTP."""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from accord.activation.config import DestinationConfig
from accord.activation.deliveries import mark_interrupted
from accord.api.edge import Edge
from accord.api.keys import KeyHolder, active_hashes
from accord.audiences.ast import Audience
from accord.audiences.changes import Change, MembershipBus
from accord.audiences.files import load_usable
from accord.audiences.live import LiveProfiles
from accord.audiences.stream import StreamEvaluator, streaming
from accord.identity.resolve import seed
from accord.ingest.loader import IngestResult
from accord.lake.faults import closed_by_fatal_error, disk_failure, memory_failure
from accord.lake.store import Lake
from accord.pipeline import evaluate_audiences
from accord.pipeline.runner import run_stages
from accord.pipeline.stage import Context, Stage
from accord.pipeline.stages import IDENTITY, PROFILES
from accord.profiles.serving import ServedProfiles
from accord.schedules import next_run
from accord.sources.collector import ingest_log, loaded_offset
from accord.sources.collector_log import CollectorLog, log_folder
from accord.sources.config import SourceConfig
from accord.workspace import CONFIG_FILE, Workspace

PROFILES_EVERY = 1.0
"""Seconds between syncs of the served copy of people (a sync with nothing to copy is two lake lookups)."""
DESTINATIONS_EVERY = 2.0
"""How soon a destination accord.yaml gains or resumes while serve runs gets its worker."""
SOURCES_EVERY = 2.0
"""How soon an API source accord.yaml gains, changes or resumes while serve runs is synced (one dropped or paused
stops after the sync under way)."""
FULL_GC_AFTER = 100
"""Collections of the middle generation between two full ones (Python's default is 10)."""
SWITCH_EVERY = 0.001
"""Seconds a thread may hold the GIL while another waits for it."""
CHECKPOINT_AFTER = 2 << 20
"""Bytes of the store's write-ahead log after which the worker checkpoints it between cycles (DuckDB's default)."""
VACUUM_EVERY = timedelta(minutes=10)
"""How often the worker's checkpoint also reclaims deleted rows (DuckDB's vacuum). Commits wait for a checkpoint,
and on the medium store at 1,000 events/s one that vacuums took 0.4–0.7 s where one that does not took 0.04 s:
a streaming delivery's bookkeeping waited that long."""
VACUUM_TASKS = 100
"""DuckDB's own default number of vacuum tasks a checkpoint may schedule."""
LIVE_SETTINGS = ("destinations", "alerts", "audiences", "governance", "sandboxes", "sources")
"""The sections of accord.yaml serve takes up while it runs (it reads them each time it needs them, and serves
one sandbox of the list); a change to another (identity, custom fields, the engine, ...) waits for a restart, and
/health says which."""
CONFIG_EVERY = 2.0
"""How often serve looks whether accord.yaml changed."""
SWEEP_EVERY = timedelta(seconds=1)
"""How often time-window boundaries are swept: windows are days long, and a sweep scans the recent events."""


@dataclass
class ServerState:
    workspace: Workspace
    sandbox: str
    log: CollectorLog
    live: LiveProfiles
    store: Lake
    """The sandbox's store, open while serving: the worker, destinations and requests each take a cursor on it
    (while serve runs, CLI commands on the sandbox are relayed to this process, so nothing else needs the file)."""
    profiles: ServedProfiles
    """The copy of people that page-time profile reads answer from."""
    edge: Edge | None = None
    """The process serving page-time reads from that copy on a port of its own (None: not asked for)."""
    write_keys: dict[str, KeyHolder] = field(default_factory=dict)
    api_keys: dict[str, KeyHolder] = field(default_factory=dict)
    bus: MembershipBus = field(default_factory=MembershipBus)
    stop: threading.Event = field(default_factory=threading.Event)
    last_error: str | None = None
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    destinations: dict[str, dict[str, Any]] = field(default_factory=dict)
    source_results: list[IngestResult] = field(default_factory=list)
    audience_problems: dict[str, str] = field(default_factory=dict)
    evaluation_failures: dict[str, str] = field(default_factory=dict)
    next_evaluation: datetime | None = None
    """When the scheduled batch evaluation runs next."""
    profiles_sync: dict[str, Any] = field(default_factory=dict)
    """The served copy's last sync that copied something, and its error if the last one failed."""
    alerts: dict[str, Any] = field(default_factory=dict)
    """The last alerts check: when, how many fire, and why sending failed if it did."""
    config: dict[str, Any] = field(default_factory=dict)
    """accord.yaml as last read while serving: the settings taken up, those waiting for a restart, or why it did
    not load."""
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The last serving cycle's run of each stage that did something (or failed)."""
    restitched: list[Callable[[list[str] | None], None]] = field(default_factory=list)
    """Told each serving cycle's people whose records or profile changed (a consent withdrawn, an e-mail changed,
    a new person built), or None when identity rebuilt everyone: streaming destinations re-check what they hold
    of them."""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _store_lock: threading.Lock = field(default_factory=threading.Lock)
    _store_closed: bool = False
    _audiences: tuple[tuple[tuple[str, int], ...], list[Audience]] = ((), [])

    def cursor(self) -> Lake:
        """A handle on the store for one thread (a connection hands out cursors to one thread at a time); the store
        is opened again first if DuckDB closed it after a fatal error."""
        with self._store_lock:
            if self._store_closed and not _answers(self.store):  # else a cursor taken before it was reopened failed
                _close(self.store)
                self.store = serving_store(self.workspace, self.sandbox)
            self._store_closed = False
            return self.store.cursor()

    def failed(self, err: Exception) -> str:
        """What a thread reports of `err`, in one line. A checkpoint that cannot write the file (a full disk) is
        fatal to DuckDB: every later statement fails until the store is opened again, which the next cursor does,
        so serving carries on by itself once the disk has room."""
        if closed_by_fatal_error(err):
            self._store_closed = True
        unwritten = disk_failure(err)
        if unwritten is not None:
            return f"{unwritten}: serving carries on by itself once it can write again"
        if (short := memory_failure(err)) is not None:
            return short
        return f"{type(err).__name__}: {err}"

    def reload_schema(self) -> None:
        """The store's custom fields and objects read again (a relayed `accord schema` command changed them)."""
        with self._store_lock:
            self.store.refresh_schema()

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


class Runtime:
    """The threads `serve` runs beside its HTTP handlers; `start` once, `stop` once."""

    def __init__(self, state: ServerState, every: float) -> None:
        self.state, self.every = state, every
        self.threads: list[threading.Thread] = []
        self._untuned: tuple[tuple[int, int, int], float] = (gc.get_threshold(), sys.getswitchinterval())

    @classmethod
    def open(cls, workspace: Workspace, sandbox: str | None, every: float, edge: Edge | None = None) -> Runtime:
        """The runtime of one sandbox, its live path deciding from the first request on (before `start`); `edge`
        is started with it."""
        name = workspace.sandbox(sandbox)
        folder = workspace.lake_path(name).parent
        log = CollectorLog(log_folder(workspace, name))
        config = workspace.config
        bus = MembershipBus()
        live = LiveProfiles(bus, config.name, config.collector.track_events, offset=log.size())
        log.written = live.feed
        state = ServerState(workspace, name, log, live, serving_store(workspace, name, migrate=True),
                            ServedProfiles(folder / "profiles.sqlite"), edge, bus=bus)
        mark_interrupted(state.store)
        log.loaded = loaded_offset(state.store)
        _read_keys(state, state.store)
        live.attach(state.store, streaming(state.audiences()))
        return cls(state, every)

    def start(self) -> None:
        state = self.state
        _load_ahead(state.store)
        self._tune_for_latency()
        self.threads = [
            threading.Thread(target=state.live.run, args=(state.stop,), name="accord-live", daemon=True),
            threading.Thread(target=_worker, args=(state, self.every), name="accord-worker", daemon=True),
            threading.Thread(target=_source_worker, args=(state,), name="accord-sources", daemon=True),
            threading.Thread(target=_profiles_worker, args=(state,), name="accord-profiles", daemon=True),
            threading.Thread(target=_alerts_worker, args=(state,), name="accord-alerts", daemon=True),
            threading.Thread(target=_config_worker, args=(state,), name="accord-config", daemon=True),
            _destinations(state),
        ]
        for thread in self.threads:
            thread.start()
        if state.edge is not None:
            state.edge.start(state.profiles.path)

    def stop(self) -> None:
        """Ask every thread to finish (the worker drains the log once more) and wait for them."""
        self.state.stop.set()
        if self.state.edge is not None:
            self.state.edge.stop()
        for thread in reversed(self.threads):
            thread.join(timeout=30)
        self.state.store.close()
        gc.unfreeze()
        gc.set_threshold(*self._untuned[0])
        sys.setswitchinterval(self._untuned[1])

    def _tune_for_latency(self) -> None:
        """Keep pauses out of requests' way while serving: what is loaded by now lives as long as the server, so
        the garbage collector's full passes skip it (they would walk it all for tens of milliseconds) and run ten
        times rarer (the live path's state is long-lived too: they find next to nothing to free); and a thread
        waiting for the GIL gets it within a millisecond, not five."""
        self._untuned = (gc.get_threshold(), sys.getswitchinterval())
        gc.collect()
        gc.freeze()
        young, middle, _ = self._untuned[0]
        gc.set_threshold(young, middle, FULL_GC_AFTER)
        sys.setswitchinterval(SWITCH_EVERY)


def _load_ahead(lake: Lake) -> None:
    """Load now what the first streaming delivery would load while its change waits: DuckDB imports pandas (when
    installed) at its first `register` of a table, 0.2 s."""
    lake.register("_load_ahead", pa.table({"x": [1]}))
    lake.unregister("_load_ahead")


def serving_store(workspace: Workspace, sandbox: str, migrate: bool = False) -> Lake:
    """The sandbox's store as serve holds it."""
    store = workspace.lake(sandbox, migrate=migrate)
    # The commit that crosses DuckDB's threshold would checkpoint, in whichever thread commits: a delivery would
    # wait a second or more on a large store. The worker checkpoints between cycles instead.
    store.execute("SET wal_autocheckpoint = '1TB'")
    return store


def after_relayed_command(state: ServerState) -> None:
    """Read the keys and the custom fields again. While serve runs every `accord keys` or `accord schema` command
    is relayed to it, and this runs right after, whatever the worker is doing: a revoked key stops working as the
    command returns."""
    with state.cursor() as lake:
        _read_keys(state, lake)
    state.reload_schema()


def _read_keys(state: ServerState, lake: Lake) -> None:
    """The active keys as the store holds them, the API keys' hashes also kept in the served copy for the edge."""
    state.write_keys = active_hashes(lake, "write")
    state.api_keys = active_hashes(lake, "api")
    state.profiles.keep_keys(state.api_keys)


def _worker(state: ServerState, every: float) -> None:
    """Replay the log into the lake, restitch, re-decide streaming audiences for the people touched, sweep time
    windows, run batch evaluation on schedule; a last pass drains the log on shutdown.

    The worker keeps one cursor on the store; after an error it takes a fresh one.
    """
    schedule = state.workspace.config.audiences
    next_audiences = schedule.next_run(datetime.now(timezone.utc), serving=True)
    state.next_evaluation = next_audiences
    last_sweep = last_vacuum = datetime.now(timezone.utc)
    lake: Lake | None = None
    stream: StreamEvaluator | None = None  # kept while the cursor and the audience files stay the same
    while True:
        stopping = state.stop.is_set()
        try:
            lake = _current_cursor(state, lake)
            audiences = state.audiences()
            if stream is None or stream.lake is not lake or stream.definitions is not audiences:
                stream = StreamEvaluator(lake, audiences, state.bus, state.live)
            moment = datetime.now(timezone.utc)
            if state.workspace.config.audiences.schedule != schedule.schedule:  # accord.yaml changed it
                schedule = state.workspace.config.audiences
                next_audiences = state.next_evaluation = schedule.next_run(moment, serving=True)
            sweep = moment - last_sweep >= SWEEP_EVERY
            cycle(state, lake, stream, moment, last_sweep if sweep else None)
            vacuum = moment - last_vacuum >= VACUUM_EVERY
            if _checkpoint(lake, vacuum) and vacuum:
                last_vacuum = moment
            last_sweep = moment if sweep else last_sweep
            if moment >= next_audiences:
                report = evaluate_audiences(state.workspace, lake, audiences, trigger="schedule")
                state.evaluation_failures = report.failed
                state.live.reload_members(lake)
                next_audiences = schedule.next_run(datetime.now(timezone.utc), serving=True)
                state.next_evaluation = next_audiences
            state.last_error = None
        except Exception as err:  # noqa: BLE001 - keep serving; /health reports it, the log keeps everything
            state.last_error = state.failed(err)
            _close(lake)
            lake = None
        if stopping:
            _close(lake)
            return
        state.stop.wait(every)


@dataclass
class ServeContext(Context):
    """A serving cycle's run: the server's state and the moment it decides at, besides the pipeline's own."""

    state: ServerState | None = None
    stream: StreamEvaluator | None = None
    moment: datetime | None = None
    sweep_since: datetime | None = None
    upto: int | None = None
    opened: list[Any] = field(default_factory=list)


def _collector(ctx: ServeContext) -> tuple[int, int]:
    """The log as far as the live path applied it (its new people seeded first), and what API sources loaded."""
    state, config = ctx.state, ctx.state.workspace.config
    ctx.upto, ctx.opened = state.live.snapshot()
    seed(ctx.lake, "person", [(ns, value, profile) for _, profile, keys in ctx.opened for ns, value in keys])
    state.live.seeded(len(ctx.opened))
    loaded = ingest_log(ctx.lake, state.log, config.name, config.collector.track_events, until=ctx.upto)
    ctx.loaded = [r for r in [*loaded, *state.take_source_results()] if r.loaded and r.batch_id]
    return sum(r.rows_read for r in ctx.loaded), sum(r.loaded for r in ctx.loaded)


def _streaming(ctx: ServeContext) -> tuple[int, int]:
    """Streaming audiences re-decided in SQL for the people concerned, and the live path brought in line."""
    state = ctx.state
    touched = ctx.identity.people.touched if ctx.identity else []
    state.live.refresh_identities(ctx.lake, touched, ctx.upto)
    # The people the live path opened are decided too: if their records did not load, they must leave again.
    opened = [profile for _, profile, _ in ctx.opened]
    people = [*(touched or []), *opened, *state.live.deferred_people()]
    changes = ctx.stream.advance([r.batch_id for r in ctx.loaded], ctx.sweep_since, ctx.moment, people, ctx.upto)
    state.live.top_up(ctx.lake)
    # A person the live path opened is built now: a decision recorded before (a cycle whose snapshot came before
    # their messages) could not be delivered while their traits waited for the lake.
    built = None if touched is None else sorted({*touched, *opened})
    if built is None or built:
        for listener in state.restitched:
            listener(built)
    return len(people), len(changes or [])


def _people_changed(ctx: Context) -> bool:
    return any(r.entity != "event" for r in ctx.loaded)


COLLECTOR = Stage("collector", ("collector log",), ("event", "person", "batches", "quarantine"), _collector)
STREAMING = Stage("streaming", ("aud_*", "event", "person_profile"), ("audience_membership",), _streaming)
SERVING_CYCLE = (COLLECTOR, replace(IDENTITY, when=_people_changed), replace(PROFILES, when=_people_changed),
                 STREAMING)
"""A serving cycle's stages: restitching only when people or accounts (not only events) loaded."""


def cycle(state: ServerState, lake: Lake, stream: StreamEvaluator, moment: datetime,
          sweep_since: datetime | None) -> list[IngestResult]:
    """One serving cycle: load the log as far as the live path applied it, restitch, re-decide in SQL the people
    concerned (and, from `sweep_since`, those whose events crossed a window boundary) at `moment`."""
    # A cycle's few changes must be decided now: they stay on the engine holding the lake, whatever runs batches.
    ctx = ServeContext(lake, state.workspace.config.identity, state.workspace, trigger="serve", state=state,
                       stream=stream, moment=moment, sweep_since=sweep_since, engine=lake.engine)
    try:
        run_stages(ctx, SERVING_CYCLE, quiet_when_idle=True)
    finally:
        state.stages.update({r["stage"]: r for r in ctx.records})
    return ctx.loaded


def _checkpoint(lake: Lake, vacuum: bool) -> bool:
    """Move the write-ahead log into the store once it has grown, reclaiming deleted rows only with `vacuum`;
    whether it did. While another thread's transaction runs, DuckDB refuses, and the next cycle tries again."""
    if lake.wal_bytes() <= CHECKPOINT_AFTER:
        return False
    lake.execute(f"SET max_vacuum_tasks = {VACUUM_TASKS if vacuum else 0}")
    try:
        lake.execute("CHECKPOINT")
    except duckdb.TransactionException:
        return False
    return True


def _current_cursor(state: ServerState, lake: Lake | None) -> Lake:
    """The thread's cursor, taken anew when there is none or the custom fields and objects changed since."""
    if lake is not None and lake.schema is not state.store.schema:
        _close(lake)
        lake = None
    return lake or state.cursor()


def _answers(store: Lake) -> bool:
    try:
        store.execute("SELECT 1")
    except duckdb.Error:
        return False
    return True


def _close(lake: Lake | None) -> None:
    if lake is not None:
        try:
            lake.close()
        except Exception:  # noqa: BLE001 - a connection that failed may fail to close; it is dropped either way
            pass


def _profiles_worker(state: ServerState) -> None:
    """Keep the served copy of people as current as the lake: the first sync copies everyone, later ones the
    people whose profile or memberships changed."""
    lake: Lake | None = None
    while not state.stop.is_set():
        try:
            lake = _current_cursor(state, lake)
            report = state.profiles.sync(lake)
            if report.mode != "idle":
                state.profiles_sync = {"mode": report.mode, "people": report.people,
                                       "seconds": round(report.seconds, 3),
                                       "synced_at": datetime.now(timezone.utc).isoformat()}
            state.profiles_sync["error"] = None
        except Exception as err:  # noqa: BLE001 - reads keep answering from the last copy; /health reports it
            state.profiles_sync["error"] = state.failed(err)
            _close(lake)
            lake = None
        state.stop.wait(PROFILES_EVERY)
    _close(lake)
    state.profiles.close()


def _alerts_worker(state: ServerState) -> None:
    """Check the alert rules on their interval and send what is new."""
    from accord.alerts.check import check

    lake: Lake | None = None
    while not state.stop.wait(state.workspace.config.alerts.every_seconds):
        try:
            lake = _current_cursor(state, lake)
            report = check(state.workspace, lake)
            state.alerts = {"checked_at": datetime.now(timezone.utc).isoformat(), "firing": len(report.firing),
                            "sent": len(report.sent), "error": report.error}
        except Exception as err:  # noqa: BLE001 - a failed check is reported on /health and tried again
            state.alerts = {"checked_at": datetime.now(timezone.utc).isoformat(), "error": state.failed(err)}
            _close(lake)
            lake = None
    _close(lake)


def _config_worker(state: ServerState) -> None:
    """Take up the live settings of accord.yaml when the file changes (by hand, or a relayed command); a file that
    does not load is reported, and serving goes on with the settings it has."""
    path = state.workspace.root / CONFIG_FILE
    seen = _stamp(path)
    while not state.stop.wait(CONFIG_EVERY):
        now = _stamp(path)
        if now == seen:
            continue
        seen, read_at = now, datetime.now(timezone.utc).isoformat()
        try:
            taken, waiting = state.workspace.reread(LIVE_SETTINGS, state.sandbox)
            state.config = {"read_at": read_at, "taken_up": taken, "restart_to_apply": waiting, "error": None}
        except Exception as err:  # noqa: BLE001 - a file that does not load (or a fault) must not end the watch
            said = str(err) if isinstance(err, (ValueError, OSError)) else state.failed(err)
            state.config = {"read_at": read_at, "error": f"{said} (serving goes on with the settings read before)"}


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def _source_worker(state: ServerState) -> None:
    """A thread per API source feeding this sandbox, so that one which hangs or keeps failing holds none of the
    others up; the main worker then restitches and re-decides what they load. A source accord.yaml gains, changes,
    pauses or drops while serve runs is followed within SOURCES_EVERY: a changed one starts again once its
    sync under way has ended (two syncs of one source at once would both take its cursor)."""
    running: dict[str, tuple[SourceConfig, threading.Event, threading.Thread]] = {}
    retiring: dict[str, threading.Thread] = {}
    while True:
        wanted = {s.name: s for s in state.workspace.config.sources if state.sandbox in s.sandboxes and not s.paused}
        for name, (config, stop, thread) in list(running.items()):
            if wanted.get(name) != config:
                stop.set()
                retiring[name] = thread
                del running[name]
        for name in [n for n, thread in retiring.items() if not thread.is_alive()]:
            del retiring[name]
            if name not in wanted:
                state.sources.pop(name, None)
        for name, config in wanted.items():
            if name not in running and name not in retiring:
                stop = threading.Event()
                thread = threading.Thread(target=_sync_source, args=(state, config, stop), daemon=True,
                                          name=f"accord-source-{name}")
                running[name] = (config, stop, thread)
                thread.start()
        if state.stop.wait(SOURCES_EVERY):
            break
    for _, stop, _ in running.values():
        stop.set()
    threads = [thread for _, _, thread in running.values()] + list(retiring.values())
    deadline = time.monotonic() + 30.0  # a source stuck in a call is left behind, not waited for per source
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))


def _sync_source(state: ServerState, config: SourceConfig, stop: threading.Event) -> None:
    """Sync one source now, then every `sync_every_seconds`, until the server stops or the source changes."""
    from accord.sources.sync import run_source

    state.sources[config.name] = {"type": config.type, "last_sync": None, "error": None}
    entry = state.sources[config.name]
    while not stop.is_set():
        try:
            report = run_source(state.workspace, config, state.sandbox)[0]
            state.add_source_results(report.results)
            entry.update(last_sync=datetime.now(timezone.utc).isoformat(), error=None, mode=report.mode,
                         loaded=report.loaded(), calls=report.calls)
        except Exception as err:  # noqa: BLE001 - a source that fails is reported and tried again later
            entry["error"] = f"{type(err).__name__}: {err}"
        stop.wait(config.sync_every_seconds)


def _destinations(state: ServerState) -> threading.Thread:
    """The thread that keeps a worker thread per destination of the sandbox (so a slow or throttling one never
    holds the others up), starting one for each destination accord.yaml gains or resumes while serve runs;
    streaming destinations hear of each change as the live path decides it (and again once the lake records it,
    which may reverse it), the others run on their cron."""
    from accord.activation.run import reading

    queues: dict[str, _Changed] = {}
    workers: dict[str, threading.Thread] = {}

    def active() -> list[DestinationConfig]:
        return [c for c in reading(state.workspace, state.sandbox) if not c.paused and c.name in queues]

    def changed(changes: list[Change]) -> None:
        for config in active():
            queues[config.name].add([c for c in changes if c.audience in config.audiences])

    def restitched(people: list[str] | None) -> None:
        """A person's profile changed without a membership changing (a consent withdrawn): what a streaming
        destination holds of them (of everyone, for None) is checked again, so a withdrawal is a removal within a
        cycle."""
        for config in active():
            if config.schedule != "streaming":
                continue
            if people is None:
                queues[config.name].recheck_all()
            else:
                queues[config.name].add([Change(a, p, "changed", datetime.now(timezone.utc))
                                         for a in config.audiences for p in people])

    def supervise() -> None:
        while True:
            for config in reading(state.workspace, state.sandbox):
                if not config.paused and config.name not in workers:
                    queues[config.name] = _Changed()
                    workers[config.name] = threading.Thread(
                        target=_destination_worker, args=(state, config, queues[config.name]), daemon=True,
                        name=f"accord-destination-{config.name}")
                    workers[config.name].start()
            if state.stop.wait(DESTINATIONS_EVERY):
                break
        for worker in workers.values():
            worker.join(timeout=30)

    state.bus.subscribe(changed)
    state.bus.subscribe(changed, recorded=True)
    state.restitched.append(restitched)
    return threading.Thread(target=supervise, name="accord-destinations", daemon=True)


@dataclass
class _Changed:
    """The profiles, per audience of one destination, whose membership changed since its last run."""

    profiles: dict[str, set[str]] = field(default_factory=dict)
    everyone: bool = False
    """Every member is to be checked again (identity rebuilt all profiles)."""
    wake: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, changes: list[Change]) -> None:
        if changes:
            with self._lock:
                for change in changes:
                    self.profiles.setdefault(change.audience, set()).add(change.profile_id)
            self.wake.set()

    def recheck_all(self) -> None:
        with self._lock:
            self.everyone = True
        self.wake.set()

    def take(self) -> tuple[dict[str, set[str]], bool]:
        """The changed profiles per audience, and whether everyone is to be checked; both cleared."""
        with self._lock:
            taken, everyone, self.profiles, self.everyone = self.profiles, self.everyone, {}, False
        return taken, everyone


def _destination_worker(state: ServerState, config: DestinationConfig, queue: _Changed) -> None:
    """Run one destination: on its changes (streaming) or its cron, at start-up, and again when a run left changes
    `retrying` (once the destination's Retry-After, capped by max_wait_seconds, has passed)."""
    from accord.activation.members import known_audiences
    from accord.activation.run import deliver

    def first_run(schedule: str) -> datetime | None:
        return None if schedule == "streaming" else next_run(schedule, datetime.now(timezone.utc))

    due, schedule = first_run(config.schedule), config.schedule
    retry_at: datetime | None = None
    catch_up = True
    while not state.stop.is_set():
        # The catch-up runs at once: done before traffic comes, it keeps the first changes from waiting behind it.
        queue.wake.wait(0 if catch_up else 1.0)
        queue.wake.clear()
        changed, everyone = queue.take()
        # The web UI may change or pause it while serve runs: accord.yaml's settings of the moment apply.
        latest = next((c for c in state.workspace.config.destinations if c.name == config.name), None)
        if latest is None or latest.paused:
            continue
        config = latest
        if config.schedule != schedule:  # the web UI or accord.yaml changed it: streaming stayed streaming before
            due, schedule = first_run(config.schedule), config.schedule
            catch_up = catch_up or due is None  # turned streaming: what changed meanwhile is caught up on
        moment = datetime.now(timezone.utc)
        wanted: set[str] = set()
        only: dict[str, set[str]] | None = None  # a streaming run delivers only the changed profiles' deltas
        trigger = "streaming"
        if due is None:
            wanted = set(config.audiences) if catch_up or everyone else set(changed)
            trigger = "startup" if catch_up else "streaming"
            only = None if catch_up or everyone else changed
        elif moment >= due:
            wanted, trigger = set(config.audiences), "schedule"
            due = next_run(config.schedule, moment)
        if retry_at is not None and moment >= retry_at:
            wanted, trigger, retry_at, only = set(config.audiences), "retry", None, None
        catch_up = False
        if not wanted:
            continue
        entry = state.destinations.setdefault(config.name, {"type": config.type, "last_run": None, "error": None})
        try:
            with state.cursor() as lake:
                names = known_audiences(lake, sorted(wanted))
                if names:
                    live = state.live if config.schedule == "streaming" else None
                    report = deliver(state.workspace, lake, config, names, trigger, live=live, only=only)
                    entry.update(last_run=report.run_id, error=report.problem, activated=report.total("activated"),
                                 removed=report.total("removed"), updated=report.total("updated"),
                                 failed=report.total("failed"),
                                 retrying=report.total("retrying"))
                    if report.retry_in is not None:
                        retry_at = moment + timedelta(seconds=min(report.retry_in, config.max_wait_seconds))
        except Exception as err:  # noqa: BLE001 - reported in /health and the run's record; tried again
            entry["error"] = state.failed(err)


