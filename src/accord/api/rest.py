"""The REST API under /api/v1: profiles, accounts, audiences, destinations and deliveries, sources, identity.

Handlers only translate HTTP to calls of the services (the same the CLI and the web UI use) and back.
Authentication: `Authorization: Bearer <api key>` (`accord keys create api`); errors are `{"code", "message"}`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from accord.activation.sync import DeliveryReport
from accord.api.keys import API_KEY_REQUIRED, KeyHolder, holder
from accord.audiences.files import AudienceNameTaken, file_name
from accord.audiences.text import MAX_NESTING
from accord.governance import audit
from accord.governance.policies import PolicyViolation
from accord.ingest.limits import json_problem
from accord.lake.store import Lake
from accord.services.audiences import AudienceInUse
from accord.workspace import Workspace

if TYPE_CHECKING:
    from accord.profiles.serving import ServedProfiles

BIGINT_MAX = 2**63 - 1
"""Ids, offsets and limits go to DuckDB as BIGINT; a larger number is a client error, not a crash."""
Offset = Annotated[int, Query(ge=0, le=BIGINT_MAX - 1000)]
Limit = Annotated[int, Query(ge=1, le=500)]
RowId = Annotated[int, Path(ge=0, le=BIGINT_MAX)]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class AudienceInput(BaseModel):
    """An audience in its text form or as its JSON AST (one of the two)."""

    text: str | None = Field(default=None, description='e.g. audience "X" of person\\nwhere ...')
    ast: dict[str, Any] | None = Field(default=None, description="The JSON AST, as `GET /audiences/{name}` returns it.")


class RunAudiences(BaseModel):
    names: list[str] | None = Field(default=None, description="Audiences to evaluate (default: all).")


class PrivacyRequest(BaseModel):
    identity: str = Field(description="Any identity of the person: email:…, crm_id:…, person_id:…",
                          min_length=3, max_length=1000)


class SplitRequest(BaseModel):
    profile_id: str = Field(description="The person or account profile to split.")
    identity: str = Field(description="namespace:value to move to a profile of its own.")


class Page(BaseModel):
    items: list[dict[str, Any]]
    offset: int
    limit: int
    next_offset: int | None


def plain(value: Any) -> Any:
    """Dataclasses and tuples as JSON-ready values."""
    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def page(rows: list[dict[str, Any]], offset: int, limit: int) -> Page:
    """`rows` holds up to limit + 1 rows from `offset`: the extra one says whether there is a next page."""
    return Page(items=plain(rows[:limit]), offset=offset, limit=limit,
                next_offset=offset + limit if len(rows) > limit else None)


async def storable_body(request: Request) -> None:
    """A JSON body whose text has no UTF-8 form (a `\\ud800` escape) is refused before anything reads it: the
    store, the audit log and the response could not hold it."""
    if request.method in ("POST", "PUT", "PATCH") and "json" in request.headers.get("content-type", ""):
        try:
            body = await request.json()  # parsed once already, for the route's own model
        except ValueError:
            return  # the route's model says what is wrong with it
        # An audience's AST nests two JSON levels per condition (and/or: a list of objects), so the bound is wide.
        problem = json_problem(body, "body", max_depth=4 * MAX_NESTING)
        if problem:
            raise ApiError(400, "bad_request", problem)


def create_router(workspace: Workspace, sandbox: str, api_keys: Callable[[], Mapping[str, KeyHolder]],
                  reader: Callable[[], Lake] | None = None, served: ServedProfiles | None = None) -> APIRouter:
    """The REST API of one sandbox; `reader` hands a request a handle on a store the server keeps open, `served`
    is the copy of people that page-time reads answer from once it is ready."""
    async def authorised(request: Request) -> None:  # async: a hash check needs no worker thread
        header = request.headers.get("authorization", "")
        key = header[7:] if header.lower().startswith("bearer ") else ""
        found = holder(key, api_keys()) if key else None
        if found is None:
            raise ApiError(401, "unauthorized", API_KEY_REQUIRED)
        request.state.holder = found

    def needs(role: str) -> Any:
        async def allowed(request: Request) -> None:
            who: KeyHolder = request.state.holder
            if not who.may(role):
                raise ApiError(403, "forbidden", f"key {who.key_id} ({', '.join(who.roles)}) may not do this: it "
                                                 f"needs the {role} role (`accord keys create api --role {role}`)")
        return Depends(allowed)

    def actor(request: Request) -> str:
        return f"key:{request.state.holder.key_id}"

    router = APIRouter(prefix="/api/v1", dependencies=[Depends(authorised), Depends(storable_body)])

    @contextmanager
    def lake() -> Iterator[Lake]:
        with reader() if reader else workspace.lake(sandbox) as opened:
            yield opened

    @router.get("/overview", tags=["overview"], summary="Counts, recent runs and anything failing")
    def overview() -> dict[str, Any]:
        from accord.services.overview import overview as build

        with lake() as store:
            return plain(build(workspace, store))

    # An identity may hold '/' (an e-mail's local part, a device id in base64), so its routes take a path; the
    # summary's comes first, or the person's would read `…/summary` as part of the identity.
    @router.get("/profiles/{identity:path}/summary", tags=["profiles"],
                summary="A person's id, chosen attributes and current audiences: for pages that personalise")
    async def person_summary(identity: str, attributes: str = Query("", description="Comma-separated, e.g. "
                                                                                       "email,job_title")
                             ) -> dict[str, Any]:
        wanted = [a for a in attributes.split(",") if a]
        answer = served.summary(identity, wanted) if served is not None else None  # a few SQLite index lookups
        return answer if answer is not None else await anyio.to_thread.run_sync(summary_from_lake, identity, wanted)

    @router.get("/profiles/{identity:path}", tags=["profiles"], summary="A person by any identity (namespace:value)")
    def person(identity: str, events: int = Query(20, ge=0, le=1000)) -> dict[str, Any]:
        from accord.profiles.lookup import get_person

        with lake() as store:
            return plain(get_person(store, identity, events=events))

    def summary_from_lake(identity: str, wanted: list[str]) -> dict[str, Any]:
        from accord.profiles.lookup import person_summary as summarise

        with lake() as store:
            return plain(summarise(store, identity, wanted))

    @router.get("/accounts/{identity:path}", tags=["profiles"], summary="An account by any identity (domain:…, …)")
    def account(identity: str) -> dict[str, Any]:
        from accord.profiles.lookup import get_account

        with lake() as store:
            return plain(get_account(store, identity))

    @router.get("/people", tags=["profiles"], summary="People whose name, e-mail or company contains q")
    def people(q: str = Query(..., min_length=1), limit: int = Query(50, ge=1, le=500)) -> list[dict[str, Any]]:
        from accord.profiles.search import search_people

        with lake() as store:
            return plain(search_people(store, q, limit))

    @router.get("/accounts", tags=["profiles"], summary="Accounts by name or domain, industry, size, open pipeline")
    def accounts(q: str = "", industry: str | None = None, min_employees: int | None = Query(None, ge=0),
                 max_employees: int | None = Query(None, ge=0), min_open_pipeline: float | None = Query(None, ge=0),
                 limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
        from accord.profiles.search import AccountFilter, search_accounts

        chosen = AccountFilter(q, industry, min_employees, max_employees, min_open_pipeline)
        with lake() as store:
            return plain(search_accounts(store, chosen, limit))

    @router.get("/audiences", tags=["audiences"], summary="Every audience with method and last size")
    def audiences() -> list[dict[str, Any]]:
        from accord.services.audiences import list_audiences

        with lake() as store:
            return plain(list_audiences(workspace, store))

    @router.get("/audiences/fields", tags=["audiences"], summary="Fields a condition may name, per scope")
    def audience_fields(of: str = Query("person", pattern="^(person|account)$")) -> dict[str, Any]:
        from accord.services.audiences import fields

        return fields(workspace, of)

    @router.post("/audiences/validate", tags=["audiences"], summary="Check an audience; returns text and AST")
    def validate(body: AudienceInput) -> dict[str, Any]:
        from accord.audiences.text import print_audience
        from accord.services.audiences import parse

        audience = parse(workspace, body.text, body.ast)
        return {"name": audience.name, "of": audience.of, "text": print_audience(audience),
                "ast": audience.model_dump(mode="json")}

    @router.put("/audiences", tags=["audiences"], summary="Create or replace an audience (by its name)",
                responses={409: {"description": "Another audience's file has the file name this name maps to"}},
                dependencies=[needs("write-audiences")])
    def save(body: AudienceInput, request: Request) -> dict[str, Any]:
        from accord.audiences.text import print_audience
        from accord.services.audiences import parse, saved_text
        from accord.services.audiences import save as store

        audience = parse(workspace, body.text, body.ast)
        before = saved_text(workspace, audience.name, sandbox)
        file = store(workspace, audience, sandbox)
        with lake() as opened:
            audit.record(opened, actor(request), "audience saved", audience.name, before, print_audience(audience))
        return {"name": audience.name, "file": file}

    @router.get("/audiences/overlap", tags=["audiences"], summary="Members in one, the other, both")
    def overlap(first: str, second: str) -> dict[str, int]:
        from accord.services.audiences import overlap as count

        with lake() as store:
            return count(store, first, second)

    @router.post("/audiences/run", tags=["audiences"], summary="Evaluate now and record memberships",
                 dependencies=[needs("write-audiences")])
    def run(body: RunAudiences, request: Request) -> dict[str, Any]:
        from accord.services.audiences import run as evaluate

        with lake() as store:
            audit.record(store, actor(request), "audiences run", ", ".join(body.names or []) or "all")
            return plain(evaluate(workspace, store, body.names))

    @router.get("/audiences/{name}", tags=["audiences"], summary="One audience: text, AST, method, size")
    def audience(name: str) -> dict[str, Any]:
        from accord.services.audiences import list_audiences, parse

        with lake() as store:
            summary = list_audiences(workspace, store, only=name)[0]
        return plain(summary) | {"ast": parse(workspace, summary.text).model_dump(mode="json")}

    @router.get("/audiences/{name}/size", tags=["audiences"], summary="Members now (nothing recorded)")
    def size(name: str) -> dict[str, Any]:
        from accord.services.audiences import members_now

        with lake() as store:
            return {"name": name, "size": len(members_now(workspace, store, name))}

    @router.get("/audiences/{name}/sample", tags=["audiences"], summary="Some members now")
    def sample(name: str, limit: int = Query(10, ge=1, le=500)) -> list[dict[str, Any]]:
        from accord.services.audiences import sample as pick

        with lake() as store:
            return plain(pick(workspace, store, name, limit))

    @router.get("/audiences/{name}/members.csv", tags=["audiences"], summary="Members now, as CSV",
                response_class=PlainTextResponse)
    def members_csv(name: str) -> PlainTextResponse:
        from accord.services.audiences import members_csv as write

        with lake() as store:
            body = write(workspace, store, name)
        return PlainTextResponse(body, media_type="text/csv", headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(file_name(name)[:-4])}.csv"})

    @router.get("/audiences/{name}/versions", tags=["audiences"], summary="Every saved definition, newest first")
    def versions(name: str) -> list[dict[str, Any]]:
        from accord.services.audience_edits import versions as saved

        with lake() as store:
            return plain(saved(store, name))

    @router.post("/audiences/{name}/restore", tags=["audiences"], summary="Save an earlier version again",
                 dependencies=[needs("write-audiences")])
    def restore(name: str, version: int, request: Request) -> dict[str, Any]:
        from accord.services.audience_edits import restore as save_again

        with lake() as store:
            return {"name": save_again(workspace, store, name, version, actor(request)).name, "restored": version}

    @router.delete("/audiences/{name}", tags=["audiences"], summary="Delete an audience no destination sends",
                   responses={409: {"description": "A destination sends it or another audience names it"}},
                   dependencies=[needs("write-audiences")])
    def delete_audience(name: str, request: Request) -> dict[str, Any]:
        from accord.services.audiences import delete

        with lake() as store:
            delete(workspace, store, name, actor(request))
        return {"name": name, "deleted": True}

    @router.get("/audiences/{name}/why", tags=["audiences"], summary="Why one profile is in or out")
    def why(name: str, identity: str) -> dict[str, Any]:
        from accord.services.audiences import why as explain

        with lake() as store:
            return plain(explain(workspace, store, name, identity))

    @router.get("/policies", tags=["governance"], summary="The policies in force: core and the workspace's own")
    def policies() -> list[dict[str, Any]]:
        from accord.governance.policies import enforced

        return [p.model_dump() for p in enforced(workspace.labels)]

    @router.get("/policies/check", tags=["governance"],
                summary="Every violation a destination would cause by sending its audiences, with its path")
    def policies_check() -> dict[str, Any]:
        from accord.governance.enforce import workspace_violations

        found = workspace_violations(workspace, sandbox)
        return {"ok": not found, "violations": [v.as_dict() for v in found]}

    @router.get("/fields", tags=["governance"], summary="Every field of the model with its usage labels")
    def labelled_fields(labelled: bool = False) -> list[dict[str, Any]]:
        return [{"field": f"{entity}.{name}", "type": kind,
                 "labels": [{"label": f.label, "because": f.because} for f in found]}
                for entity, name, kind, found in workspace.labels.fields(labelled=labelled)]

    @router.get("/destinations", tags=["activation"], summary="Configured destinations and their last run")
    def destinations() -> list[dict[str, Any]]:
        from accord.services.overview import destinations as listed

        with lake() as store:
            return plain(listed(workspace, store))

    @router.post("/destinations/{name}/run", tags=["activation"], summary="Deliver the changes now",
                 responses={503: {"description": "The destination could not be reached; its changes are kept"}},
                 dependencies=[needs("activate")])
    def deliver_now(name: str, request: Request) -> dict[str, Any]:
        from accord.activation.run import configured, deliver

        config = configured(workspace, name, sandbox)[0]
        with lake() as store:
            audit.record(store, actor(request), "deliveries run", name)
            return plain(reachable(deliver(workspace, store, config, trigger="api")))

    @router.post("/destinations/{name}/retry", tags=["activation"], summary="Send the dead letters again",
                 responses={503: {"description": "The destination could not be reached; its changes are kept"}},
                 dependencies=[needs("activate")])
    def retry(name: str, request: Request) -> dict[str, Any]:
        from accord.activation.run import configured
        from accord.activation.run import retry as send_again

        config = configured(workspace, name, sandbox)[0]
        with lake() as store:
            audit.record(store, actor(request), "deliveries retry", name)
            released, report = send_again(workspace, store, config)
            return {"released": released, "run": plain(reachable(report))}

    @router.get("/destinations/{name}/reach", tags=["activation"],
                summary="What the ad platform last said of each audience's list: state, matched, size to target")
    def reach(name: str) -> list[dict[str, Any]]:
        from accord.activation.reach import reach_rows
        from accord.activation.run import configured

        configured(workspace, name, sandbox)  # an unknown name is a 404, not an empty list
        with lake() as store:
            return plain(reach_rows(store, [name]))

    @router.post("/destinations/{name}/reach", tags=["activation"], dependencies=[needs("activate")],
                 summary="Ask the ad platform now what it holds of each audience's list")
    def reach_now(name: str) -> dict[str, Any]:
        from accord.activation.reach import reach_rows
        from accord.activation.run import configured, refresh_reach

        config = configured(workspace, name, sandbox)[0]
        with lake() as store:
            failed = refresh_reach(workspace, store, config)
            if failed is None:
                raise ApiError(409, "no_reach", f"destination {name!r} ({config.type}) is no ad platform: it says "
                                                "nothing of reach")
            return {"failed": failed, "reach": plain(reach_rows(store, [name]))}

    @router.get("/deliveries", tags=["activation"], summary="Delivery runs, newest first", response_model=Page)
    def deliveries(destination: str | None = None, offset: Offset = 0,
                   limit: Limit = 50) -> Page:
        from accord.activation.deliveries import list_runs

        with lake() as store:
            return page(list_runs(store, destination, limit + 1, offset), offset, limit)

    @router.get("/deliveries/{run_id}", tags=["activation"], summary="One run, its counts and receipts")
    def delivery(run_id: RowId, receipts: bool = False) -> dict[str, Any]:
        from accord.activation.deliveries import receipts as run_receipts
        from accord.activation.deliveries import run_details

        with lake() as store:
            run = run_details(store, run_id)
            if run is None:
                raise ApiError(404, "not_found", f"no delivery run {run_id}")
            return plain(run | ({"receipts": run_receipts(store, run_id)} if receipts else {}))

    @router.get("/sources", tags=["sources"], summary="Configured API sources and how far they have synced")
    def sources() -> list[dict[str, Any]]:
        from accord.services.overview import sources as listed

        with lake() as store:
            return listed(workspace, store)

    @router.get("/batches", tags=["sources"], summary="Ingested batches, newest first", response_model=Page)
    def batches(offset: Offset = 0, limit: Limit = 50) -> Page:
        with lake() as store:
            return page(store.batches(limit + 1, offset), offset, limit)

    @router.get("/quarantine", tags=["sources"], summary="Records that did not load, with reasons",
                response_model=Page)
    def quarantine(batch_id: Annotated[int | None, Query(ge=0, le=BIGINT_MAX)] = None, offset: Offset = 0,
                   limit: Limit = 50) -> Page:
        with lake() as store:
            return page(store.quarantine(batch_id=batch_id, limit=limit + 1, offset=offset), offset, limit)

    @router.get("/identity/merges", tags=["identity"], summary="Profiles merged by identity runs",
                response_model=Page)
    def merges(offset: Offset = 0, limit: Limit = 50) -> Page:
        from accord.identity.history import merges as merged

        with lake() as store:
            return page(merged(store, limit + 1, offset), offset, limit)

    @router.post("/identity/split", tags=["identity"], summary="Move one identity out of a profile",
                 dependencies=[needs("admin")])
    def split(body: SplitRequest, request: Request) -> dict[str, Any]:
        from accord.services.identity import split as split_out

        with lake() as store:
            audit.record(store, actor(request), "identity split", body.profile_id, after=body.identity)
            return plain(split_out(workspace, store, body.profile_id, body.identity))

    @router.post("/privacy/access", tags=["privacy"], summary="Everything held on a person, as one document",
                 dependencies=[needs("privacy")])
    def privacy_access(body: PrivacyRequest, request: Request) -> dict[str, Any]:
        from accord.privacy.access import access

        with lake() as store:
            return plain(access(workspace, store, body.identity, actor(request)))

    @router.post("/privacy/delete", tags=["privacy"], summary="Erase a person from every store and destination",
                 dependencies=[needs("privacy")],
                 responses={409: {"description": "A destination could not take the removal; nothing was erased"}})
    def privacy_delete(body: PrivacyRequest, request: Request) -> dict[str, Any]:
        from accord.privacy.erase import ErasureBlocked, delete

        try:
            with lake() as store:
                request_id, receipt = delete(workspace, store, body.identity, actor(request))
        except ErasureBlocked as err:
            raise ApiError(409, "erasure_blocked", str(err)) from None
        return {"request_id": request_id, "status": "completed", "receipt": receipt}

    @router.get("/privacy/requests", tags=["privacy"], summary="Privacy requests, newest first",
                dependencies=[needs("privacy")])
    def privacy_requests(limit: Limit = 50) -> list[dict[str, Any]]:
        from accord.privacy.requests import listed

        with lake() as store:
            return plain(listed(store, limit))

    @router.get("/alerts", tags=["overview"], summary="Open alerts, newest first (resolved ones too with all=true)")
    def alerts(all: bool = False) -> list[dict[str, Any]]:
        from accord.alerts.store import open_alerts

        with lake() as store:
            return plain(open_alerts(store, include_resolved=all))

    @router.get("/audit", tags=["governance"], summary="Who changed what, newest first (admin keys only)",
                dependencies=[needs("admin")])
    def audit_entries(action: str | None = None, limit: Limit = 50) -> list[dict[str, Any]]:
        with lake() as store:
            return plain(audit.entries(store, limit, action))

    return router


def reachable(report: DeliveryReport) -> DeliveryReport:
    """The report of a run whose destination answered; else a 503 naming why (the run and its receipts are kept)."""
    if report.unreachable:
        raise ApiError(503, "destination_unreachable", f"run {report.run_id}: {report.destination} could not be "
                                                        f"reached ({report.unreachable}); its changes are kept for "
                                                        f"the next run")
    return report


def install_error_handlers(app: FastAPI) -> None:
    """Every error as `{"code", "message"}`: unknown things 404, bad input 400, auth 401."""

    def body(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse({"code": code, "message": message}, status_code=status)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, err: ApiError) -> JSONResponse:
        return body(err.status, err.code, err.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", []))
        return body(400, "bad_request", f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        if err.status_code == 404 and ("\n" in request.scope["path"] or "\r" in request.scope["path"]):
            # Routes match one line: an identity pasted with its line break would get a bare "Not Found".
            return body(404, "not_found", "the path holds a line break, which no identity, name or id does")
        return body(err.status_code, "not_found" if err.status_code == 404 else "http_error", str(err.detail))

    @app.exception_handler(LookupError)
    async def missing(_: Request, err: LookupError) -> JSONResponse:
        return body(404, "not_found", str(err).strip("'\""))

    @app.exception_handler(PolicyViolation)
    async def denied(_: Request, err: PolicyViolation) -> JSONResponse:
        return JSONResponse({"code": "policy_violation", "message": str(err),
                             "violations": [v.as_dict() for v in err.violations]}, status_code=422)

    @app.exception_handler(AudienceNameTaken)
    async def taken(_: Request, err: AudienceNameTaken) -> JSONResponse:
        return body(409, "conflict", str(err))

    @app.exception_handler(AudienceInUse)
    async def in_use(_: Request, err: AudienceInUse) -> JSONResponse:
        return body(409, "in_use", str(err))

    @app.exception_handler(ValueError)
    async def bad(_: Request, err: ValueError) -> JSONResponse:
        return body(400, "bad_request", str(err))
