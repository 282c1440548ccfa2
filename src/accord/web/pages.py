"""Web UI pages: home, profiles, accounts, audiences with a builder, destinations, sources.

Each page asks the services for its data and renders a template; the builder's live checks call the small
JSON endpoints under /ui, which use the same services as the REST API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Depends, Form, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from accord.activation.reach import platform_size
from accord.api.keys import KeyHolder, holder, matches
from accord.audiences.files import AudienceNameTaken
from accord.audiences.text import MAX_NESTING
from accord.governance import audit
from accord.ingest.limits import json_problem
from accord.lake.store import Lake
from accord.web.charts import bar_chart, sizes_over_runs
from accord.workspace import Workspace

SESSION_COOKIE = "accord_session"


class LoginRequired(Exception):
    """A page asked for without a valid API key in the session cookie; `next` is where to return."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def login_redirect(_: Request, err: LoginRequired) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(err.next_path)}", status_code=303)


def page_here(next_path: str) -> str:
    """Where signing in returns to: a path on this site, else home. Browsers read `//host`, `/\\host` and
    `/<tab>/host` as another site (a backslash counts as a slash; tabs and newlines are dropped)."""
    unsafe = next_path.startswith("//") or "\\" in next_path or any(ord(c) < 0x20 or ord(c) == 0x7F for c in next_path)
    return next_path if next_path.startswith("/") and not unsafe else "/"


HERE = Path(str(resources.files("accord.web")))
NAV = [("/", "Home"), ("/profiles", "Profiles"), ("/accounts", "Accounts"), ("/audiences", "Audiences"), ("/destinations", "Destinations"),
       ("/sources", "Sources"), ("/privacy", "Privacy"), ("/audit", "Audit")]


def static_files() -> StaticFiles:
    return StaticFiles(directory=HERE / "static")


def shown(value: Any) -> str:
    """A value as a person reads it: numbers with thousands separators (no trailing .0), instants to the minute in
    UTC, dates as dates, the rest as text."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else ("yes" if value else "no")
    if isinstance(value, (int, float)):
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    if isinstance(value, datetime):
        return f"{value.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC"
    return str(value)


def label(name: str) -> str:
    """A model attribute's name as words (`annual_revenue` → Annual revenue); an organisation's own field keeps its
    name as its system spells it (`ABM_Tier__c`)."""
    return name.replace("_", " ").capitalize() if name == name.lower() else name


def when(value: Any) -> Markup:
    """An instant as a `<time>` the page's script shows in the viewer's zone, UTC on hover (UTC without script)."""
    if not isinstance(value, datetime):
        return Markup(escape(shown(value)))
    utc = shown(value)
    return Markup(f'<time datetime="{value.astimezone(timezone.utc).isoformat()}" title="{utc}">{utc}</time>')


class Unconfirmed(ValueError):
    """A change that needs an explicit confirmation (it removes many members, or feeds a destination) came
    without it."""


def writer(who: KeyHolder) -> None:
    """Refuse a key that may not change audiences."""
    if not who.may("write-audiences"):
        raise PermissionError(f"key {who.key_id} ({', '.join(who.roles)}) may not change audiences: it needs the "
                              "write-audiences role")


def create_pages(workspace: Workspace, sandbox: str, api_keys: Callable[[], Mapping[str, KeyHolder]],
                 reader: Callable[[], Lake] | None = None) -> APIRouter:
    """The pages, behind a login with an API key (kept in an HttpOnly, SameSite=Strict cookie); `reader` as for
    the REST API."""
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["q"] = lambda text: quote(str(text), safe=":@")
    templates.env.filters["shown"] = shown
    templates.env.filters["when"] = when
    templates.env.filters["basename"] = lambda path: str(path).rstrip("/").rsplit("/", 1)[-1]
    templates.env.filters["label"] = label
    templates.env.filters["platform_size"] = platform_size

    def signed_in(request: Request) -> None:
        if not matches(request.cookies.get(SESSION_COOKIE, ""), api_keys()):
            raise LoginRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))

    def signed_in_as(request: Request) -> KeyHolder:
        found = holder(request.cookies.get(SESSION_COOKIE, ""), api_keys())
        if found is None:
            raise LoginRequired(request.url.path)
        return found

    public = APIRouter(include_in_schema=False)
    router = APIRouter(include_in_schema=False, dependencies=[Depends(signed_in)])

    @public.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/", key: str = "") -> Any:
        if key:
            return sign_in(request, key, next)
        return templates.TemplateResponse(request, "login.html", {"next": next, "error": None})

    @public.post("/login", response_class=HTMLResponse)
    def login(request: Request, key: str = Form(...), next: str = Form("/")) -> Any:
        return sign_in(request, key, next)

    def sign_in(request: Request, key: str, next_path: str) -> Any:
        if not matches(key.strip(), api_keys()):
            return templates.TemplateResponse(request, "login.html", {"next": next_path, "error": "That API key is not "
                                              "valid here (create one with `accord keys create api`)."}, status_code=401)
        response = RedirectResponse(page_here(next_path), status_code=303)
        response.set_cookie(SESSION_COOKIE, key.strip(), httponly=True, samesite="strict")
        return response

    @public.get("/logout")
    def logout() -> RedirectResponse:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    @contextmanager
    def lake() -> Iterator[Lake]:
        with reader() if reader else workspace.lake(sandbox) as opened:
            yield opened

    def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context |= {"nav": NAV, "path": request.url.path, "workspace": workspace.config.name, "sandbox": sandbox}
        return templates.TemplateResponse(request, name, context, status_code=status)

    @router.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        from accord.services.overview import overview

        with lake() as store:
            return render(request, "home.html", data=overview(workspace, store))

    @router.get("/profiles", response_class=HTMLResponse)
    def profiles(request: Request, q: str = "") -> Any:
        """An identity opens its profile; anything else searches names, e-mails and companies."""
        from accord.profiles.search import search_people

        text = q.strip()
        if not text:
            return render(request, "profiles.html")
        if ":" in text and " " not in text:
            return RedirectResponse(f"/profiles/{quote(text, safe=':@')}", status_code=303)
        with lake() as store:
            found = search_people(store, text)
        if len(found) == 1 or (found and (found[0]["email"] or "").lower() == text.lower()):
            return RedirectResponse(f"/profiles/person_id:{quote(found[0]['person_id'])}", status_code=303)
        return render(request, "profiles.html", q=text, people=found)

    @router.get("/accounts", response_class=HTMLResponse)
    def accounts(request: Request, q: str = "", industry: str = "", min_employees: str = "",
                 max_employees: str = "", min_open_pipeline: str = "") -> HTMLResponse:
        from accord.profiles.search import AccountFilter, industries, search_accounts

        def number(text: str) -> float | None:  # what no filter could mean (abc, 1e999, nan) filters nothing
            try:
                value = float(text) if text.strip() else None
            except ValueError:
                return None
            return value if value is not None and abs(value) < 2**63 else None

        low, high = number(min_employees), number(max_employees)
        chosen = AccountFilter(q, industry or None, int(low) if low is not None else None,
                               int(high) if high is not None else None, number(min_open_pipeline))
        with lake() as store:
            return render(request, "accounts.html", accounts=search_accounts(store, chosen), chosen=chosen,
                          industries=industries(store))

    @router.get("/profiles/{identity:path}", response_class=HTMLResponse)
    def profile(request: Request, identity: str) -> HTMLResponse:
        from accord.profiles.lookup import ProfileNotFound, get_person

        try:
            with lake() as store:
                person = get_person(store, identity, events=50)
        except (ProfileNotFound, ValueError) as err:
            return render(request, "profiles.html", 404, error=str(err), q=identity)
        return render(request, "profile.html", person=person, labels=field_labels(workspace, "person"))

    @router.get("/accounts/{identity:path}", response_class=HTMLResponse)
    def account(request: Request, identity: str) -> HTMLResponse:
        from accord.profiles.lookup import ProfileNotFound, get_account

        try:
            with lake() as store:
                found = get_account(store, identity)
        except (ProfileNotFound, ValueError) as err:
            return render(request, "profiles.html", 404, error=str(err), q=identity)
        chart = bar_chart([(r["week"], int(r["events"])) for r in found.weekly], "Engagement: events per week", "events")
        return render(request, "account.html", account=found, chart=chart,
                      labels=field_labels(workspace, "account"))

    @router.get("/audiences", response_class=HTMLResponse)
    def audiences(request: Request) -> HTMLResponse:
        from accord.activation.run import reading
        from accord.audiences.memberships import trend
        from accord.services.audiences import evaluation_times, list_audiences

        with lake() as store:
            listed, runs = list_audiences(workspace, store), trend(store)
            charts = {a.name: bar_chart(sizes_over_runs(a.size, runs.get(a.name, [])), f"{a.name}: size per run",
                                        "members", 220, 60) for a in listed}
            feeds = {a.name: [d.name for d in reading(workspace, sandbox) if a.name in d.audiences] for a in listed}
            return render(request, "audiences.html", audiences=listed, trend=runs, charts=charts, feeds=feeds,
                          times=evaluation_times(workspace, store))

    @router.get("/audiences/new", response_class=HTMLResponse)
    def new_audience(request: Request) -> HTMLResponse:
        return render(request, "builder.html", text='audience "New audience" of person\nwhere country = "Germany"')

    @router.get("/audiences/{name}/edit", response_class=HTMLResponse)
    def edit_audience(request: Request, name: str) -> HTMLResponse:
        from accord.audiences.text import print_audience
        from accord.services.audiences import named

        return render(request, "builder.html", text=print_audience(named(workspace, sandbox, name)[1]))

    @router.post("/audiences", response_class=HTMLResponse)
    def save_audience(request: Request, text: str = Form(...), confirm: bool = Form(False)) -> Any:
        from accord.audiences.text import print_audience
        from accord.services.audience_edits import membership_change
        from accord.services.audiences import parse, save, saved_text

        who = signed_in_as(request)
        try:
            writer(who)
            audience = parse(workspace, text)
            before = saved_text(workspace, audience.name, sandbox)
            with lake() as store:
                if before is not None and not confirm:
                    change = membership_change(workspace, store, audience)
                    if change.needs_confirm:
                        raise Unconfirmed(f"{change.explain()}: tick the confirmation to save")
                save(workspace, audience, sandbox)
                audit.record(store, f"key:{who.key_id}", "audience saved", audience.name, before,
                             print_audience(audience))
        except (ValueError, LookupError, PermissionError) as err:
            status = (409 if isinstance(err, (AudienceNameTaken, Unconfirmed)) else
                      403 if isinstance(err, PermissionError) else 400)
            return render(request, "builder.html", status, text=text, error=str(err))
        return RedirectResponse(f"/audiences/{quote(audience.name)}", status_code=303)

    @router.get("/audiences/{name}/members.csv")
    def members_csv(name: str) -> Response:
        from accord.audiences.files import file_name
        from accord.services.audiences import members_csv as write

        with lake() as store:
            body = write(workspace, store, name)
        return Response(body, media_type="text/csv", headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(file_name(name)[:-4])}.csv"})

    @router.post("/audiences/{name}/delete", response_class=HTMLResponse)
    def delete_audience(request: Request, name: str) -> Any:
        from accord.services.audiences import delete

        who = signed_in_as(request)
        try:
            writer(who)
            with lake() as store:
                delete(workspace, store, name, f"key:{who.key_id}")
        except (ValueError, LookupError, PermissionError) as err:
            return audience_page(request, name, 403 if isinstance(err, PermissionError) else 409, str(err))
        return RedirectResponse("/audiences", status_code=303)

    @router.post("/audiences/{name}/restore", response_class=HTMLResponse)
    def restore_audience(request: Request, name: str, version: int = Form(...)) -> Any:
        from accord.services.audience_edits import restore

        who = signed_in_as(request)
        try:
            writer(who)
            with lake() as store:
                restore(workspace, store, name, version, f"key:{who.key_id}")
        except (ValueError, LookupError, PermissionError) as err:
            return audience_page(request, name, 403 if isinstance(err, PermissionError) else 400, str(err))
        return RedirectResponse(f"/audiences/{quote(name)}", status_code=303)

    @router.get("/audiences/{name}", response_class=HTMLResponse)
    def audience(request: Request, name: str, identity: str = "", compare: str = "") -> HTMLResponse:
        return audience_page(request, name, identity=identity, compare=compare)

    def audience_page(request: Request, name: str, status: int = 200, failed: str | None = None,
                      identity: str = "", compare: str = "") -> HTMLResponse:
        from accord.services.audience_edits import versions
        from accord.services.audiences import (
            list_audiences,
            members_now,
            overlap,
            sample,
            why_and_members,
            workspace_audiences,
        )

        with lake() as store:
            try:
                summary = list_audiences(workspace, store, only=name)[0]
            except LookupError as err:
                return render(request, "audiences.html", 404, audiences=list_audiences(workspace, store),
                              trend={}, charts={}, feeds={}, error=str(err))
            explained, error, members = None, None, None
            if identity:
                try:
                    explained, members = why_and_members(workspace, store, name, identity)
                except (LookupError, ValueError) as err:
                    error = str(err)
            members = members if members is not None else members_now(workspace, store, name)
            size = len(members)
            others = [a.name for a in workspace_audiences(workspace, sandbox) if a.name != name]
            shared = None
            if compare in others:
                try:
                    shared = overlap(store, name, compare)
                except LookupError as err:  # one of the two saved but not evaluated yet
                    error = str(err)
            return render(request, "audience.html", status, audience=summary, size=size,
                          sample=sample(workspace, store, name, 10, members=members), why=explained, identity=identity,
                          error=failed or error, versions=versions(store, name), others=others, compare=compare,
                          overlap=shared)

    @router.get("/destinations", response_class=HTMLResponse)
    def destinations(request: Request) -> HTMLResponse:
        from accord.services.overview import destinations as listed

        with lake() as store:
            return render(request, "destinations.html", destinations=listed(workspace, store))

    @router.get("/destinations/new", response_class=HTMLResponse)
    def new_destination(request: Request, type: str = "") -> HTMLResponse:
        from accord.services.destinations import destination_types, form_fields

        if not type:
            return render(request, "destination_form.html", types=destination_types(), fields=[], values={},
                          chosen="", editing=None, audiences=audience_names())
        return render(request, "destination_form.html", types=destination_types(), fields=form_fields(type),
                      values={}, chosen=type, editing=None, audiences=audience_names())

    @router.get("/destinations/{name}", response_class=HTMLResponse)
    def destination(request: Request, name: str) -> HTMLResponse:
        return destination_page(request, name)

    def destination_page(request: Request, name: str, status: int = 200, error: str | None = None,
                         notice: str | None = None) -> HTMLResponse:
        from accord.activation.deliveries import dead_letters, run_details
        from accord.activation.reach import reach_rows
        from accord.activation.run import configured
        from accord.governance.enforce import destination_violations
        from accord.services.overview import destinations as listed

        with lake() as store:
            found = next((d for d in listed(workspace, store) if d["name"] == name), None)
            if found is None:
                return render(request, "destinations.html", 404, destinations=listed(workspace, store),
                              error=f"no destination named {name!r}")
            runs = [run_details(store, r["run_id"]) for r in found["runs"]]
            config = configured(workspace, name, sandbox)[0]
            return render(request, "destination.html", status, destination=found, runs=runs, paused=config.paused,
                          dead=dead_letters(store, name), error=error, notice=notice, actions=config.performs,
                          reach=reach_rows(store, [name]),
                          violations=destination_violations(workspace, config, sandbox))

    @router.get("/privacy", response_class=HTMLResponse)
    def privacy_page(request: Request) -> HTMLResponse:
        from accord.privacy.requests import listed

        with lake() as store:
            return render(request, "privacy.html", requests=listed(store))

    @router.post("/privacy", response_class=HTMLResponse)
    def privacy_request(request: Request, identity: str = Form(...), kind: str = Form(...),
                        confirm: str = Form("")) -> Response:

        from accord.privacy.access import access
        from accord.privacy.erase import ErasureBlocked, delete
        from accord.privacy.requests import listed

        who = signed_in_as(request)
        error, receipt = None, None
        try:
            if not who.may("privacy"):
                raise PermissionError(f"key {who.key_id} ({', '.join(who.roles)}) may not make privacy requests: it "
                                      "needs the privacy role")
            with lake() as store:
                if kind == "access":
                    document = access(workspace, store, identity.strip(), f"key:{who.key_id}")
                    return JSONResponse(jsonable_encoder(document), headers={
                        "Content-Disposition": f'attachment; filename="{document["request_id"]}.json"'})
                if confirm != "erase":
                    raise ValueError("type erase to confirm: a delete cannot be undone")
                request_id, receipt = delete(workspace, store, identity.strip(), f"key:{who.key_id}")
                receipt = {"request_id": request_id, **receipt}
        except (ValueError, LookupError, PermissionError, ErasureBlocked) as err:
            error = str(err).strip("'\"")
        with lake() as store:
            status = 403 if error and "privacy role" in error else 400 if error else 200
            return render(request, "privacy.html", status, requests=listed(store), error=error, receipt=receipt)

    @router.get("/audit", response_class=HTMLResponse)
    def audit_page(request: Request) -> HTMLResponse:
        who = signed_in_as(request)
        if not who.may("admin"):
            return render(request, "audit.html", 403, entries=[],
                          error=f"key {who.key_id} ({', '.join(who.roles)}) may not read the audit log: it needs the "
                                "admin role")
        with lake() as store:
            return render(request, "audit.html", entries=audit.entries(store, 200))

    @router.post("/destinations/{name}/retry")
    def retry(request: Request, name: str) -> Response:
        from accord.activation.run import retry as send_again

        return delivered(request, name, "retry", lambda store, config: send_again(workspace, store, config)[1])

    @router.post("/destinations/{name}/run")
    def run_destination(request: Request, name: str) -> Response:
        from accord.activation.run import deliver

        return delivered(request, name, "run", lambda store, config: deliver(workspace, store, config,
                                                                               trigger="manual"))

    def delivered(request: Request, name: str, action: str, send: Callable[[Lake, Any], Any]) -> Response:
        """A run a person asked for (activate role), recorded in the audit log; the page says if it could not
        reach the destination."""
        from accord.activation.run import configured

        config = configured(workspace, name, sandbox)[0]
        who = signed_in_as(request)
        if not who.may("activate"):
            return destination_page(request, name, 403, f"key {who.key_id} ({', '.join(who.roles)}) may not run "
                                                        "destinations: it needs the activate role")
        with lake() as store:
            audit.record(store, f"key:{who.key_id}", f"deliveries {action}", name)
            report = send(store, config)
        if report.unreachable:
            return destination_page(request, name, 503, f"{name} could not be reached ({report.unreachable}); "
                                                   f"its changes are kept for the next run")
        return RedirectResponse(f"/destinations/{quote(name)}", status_code=303)

    @router.post("/destinations/{name}/test")
    def test_destination(request: Request, name: str) -> Response:
        """Ask the destination what it reaches, sending no member."""
        from accord.activation.destination import DeliveryError
        from accord.activation.run import configured, open_destination

        config = configured(workspace, name, sandbox)[0]
        try:
            opened = open_destination(workspace, config, sandbox)
            try:
                reached = opened.check()
            finally:
                opened.close()
        except (DeliveryError, ValueError) as err:
            return destination_page(request, name, 502, f"the connection test failed: {err}")
        found = ", ".join(f"{n:,} {what}" for what, n in reached.items()) or "nothing to count"
        return destination_page(request, name, notice=f"Connected: {found}.")

    @router.post("/destinations/{name}/reach")
    def read_reach_now(request: Request, name: str) -> Response:
        """Ask the ad platform now what it holds of each audience's list."""
        from accord.activation.run import configured, refresh_reach

        who = signed_in_as(request)
        if not who.may("activate"):
            return destination_page(request, name, 403, f"key {who.key_id} ({', '.join(who.roles)}) may not ask the "
                                                        "platform: it needs the activate role")
        config = configured(workspace, name, sandbox)[0]
        with lake() as store:
            failed = refresh_reach(workspace, store, config)
        if failed:
            return destination_page(request, name, 502, "; ".join(f"{a}: {e}" for a, e in failed.items()))
        return destination_page(request, name, notice="Read from the platform just now.")

    @router.post("/destinations/{name}/pause")
    def pause_destination(request: Request, name: str, paused: bool = Form(...)) -> Response:
        from accord.services.destinations import set_paused

        who = signed_in_as(request)
        if not who.may("activate"):
            return destination_page(request, name, 403, f"key {who.key_id} ({', '.join(who.roles)}) may not pause "
                                                        "destinations: it needs the activate role")
        with lake() as store:
            set_paused(workspace, store, name, paused, f"key:{who.key_id}")
        return RedirectResponse(f"/destinations/{quote(name)}", status_code=303)

    @router.get("/destinations/{name}/edit", response_class=HTMLResponse)
    def edit_destination(request: Request, name: str) -> HTMLResponse:
        from accord.activation.run import configured
        from accord.services.destinations import (
            destination_types,
            form_fields,
            form_values,
        )

        config = configured(workspace, name, sandbox)[0]
        return render(request, "destination_form.html", types=destination_types(), fields=form_fields(config.type),
                      values=form_values(config), chosen=config.type, editing=name, audiences=audience_names())

    @router.post("/destinations/new", response_class=HTMLResponse)
    async def create_destination(request: Request) -> Any:
        return await save_destination_form(request, None)

    @router.post("/destinations/{name}/edit", response_class=HTMLResponse)
    async def update_destination(request: Request, name: str) -> Any:
        return await save_destination_form(request, name)

    async def save_destination_form(request: Request, editing: str | None) -> Any:
        from accord.services.destinations import (
            destination_types,
            form_fields,
            parsed,
            save_destination,
        )

        form = await request.form()
        chosen = str(form.get("type", ""))
        values = {k: "\n".join(str(v) for v in form.getlist(k)) for k in form.keys()}
        who = signed_in_as(request)
        try:
            if not who.may("admin"):
                raise PermissionError(f"key {who.key_id} ({', '.join(who.roles)}) may not configure destinations: "
                                      "it needs the admin role")
            settings = parsed(chosen, values)
            with lake() as store:
                saved = await anyio.to_thread.run_sync(
                    lambda: save_destination(workspace, store, settings, editing, f"key:{who.key_id}"))
        except (ValueError, LookupError, PermissionError) as err:
            fields = form_fields(chosen) if chosen else []
            return render(request, "destination_form.html", 403 if isinstance(err, PermissionError) else 400,
                          types=destination_types(), fields=fields, values=values, chosen=chosen, editing=editing,
                          audiences=audience_names(), error=str(err))
        return RedirectResponse(f"/destinations/{quote(saved.name)}", status_code=303)

    def audience_names() -> list[str]:
        from accord.services.audiences import workspace_audiences

        return [a.name for a in workspace_audiences(workspace, sandbox)]

    @router.get("/sources", response_class=HTMLResponse)
    def sources(request: Request) -> HTMLResponse:
        from accord.services.overview import collector_log
        from accord.services.overview import sources as listed

        with lake() as store:
            return render(request, "sources.html", sources=listed(workspace, store), batches=store.batches(30),
                          quarantine=store.quarantine(limit=100), log=collector_log(workspace, store))

    # The builder's live checks -----------------------------------------------------------------------------
    @router.get("/ui/fields")
    def fields(of: str = "person") -> JSONResponse:
        from accord.services.audiences import fields as reachable

        return JSONResponse(reachable(workspace, of))

    @router.post("/ui/preview")
    def preview(body: dict[str, Any]) -> JSONResponse:
        """Validate the text or the builder's AST; when valid, the text, the AST, how many would be in it now and a
        few of them, and for a saved audience the diff and the change in members (nothing is saved)."""
        from accord.services.audience_edits import preview_text

        ast = body.get("ast")
        problem = json_problem(body, max_depth=4 * MAX_NESTING)
        if problem:
            return JSONResponse({"valid": False, "error": problem}, status_code=200)
        try:
            with lake() as store:
                answer = preview_text(workspace, store, str(body.get("text", "")),
                                      ast=ast if isinstance(ast, dict) else None)
                return JSONResponse(jsonable_encoder(answer))
        except (ValueError, LookupError) as err:
            return JSONResponse({"valid": False, "error": str(err)}, status_code=200)

    public.include_router(router)
    return public


def field_labels(workspace: Workspace, entity: str) -> dict[str, tuple[str, str]]:
    """Attribute → (its usage labels, where each comes from), for the attributes that carry any."""
    return {name: (", ".join(dict.fromkeys(f.label for f in found)), "; ".join(f"{f.label}: {f.because}" for f in found))
            for _, name, _, found in workspace.labels.fields(entity, labelled=True)}
