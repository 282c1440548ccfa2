"""Destinations set up from the web UI: a form per destination type read from its settings model, and saving it
into accord.yaml with the same validation as a hand-edited file (the file stays the source of truth)."""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from accord.activation.config import DestinationConfig
from accord.connectors.registry import with_destinations
from accord.governance import audit
from accord.lake.store import Lake
from accord.readable import UnreadableYaml, problems, yaml_data
from accord.workspace import Workspace, WorkspaceConfig, WorkspaceError

SECRET_WORDS = ("secret", "token", "password", "private_key")
FIRST = ("name", "audiences", "schedule", "paused")
"""Shown first: what every destination is asked before its connection."""


@dataclass(frozen=True)
class FormField:
    """One setting as the form asks for it."""

    name: str
    kind: str
    """text, secret, number, integer, flag, choice, list (one per line), mapping (`key = value` per line), yaml."""
    description: str
    required: bool
    default: Any
    choices: tuple[str, ...] = ()


def destination_types() -> list[tuple[str, str]]:
    """(type, title) of every destination a workspace can add."""
    return [(c.type, c.title) for c in with_destinations()]


def form_fields(type_: str) -> list[FormField]:
    """The settings of a destination type, those every destination has first."""
    model = next((c.destination for c in with_destinations() if c.type == type_), None)
    if model is None:
        raise WorkspaceError(f"{type_[:50]!r} is not a destination type; types: "
                             f"{', '.join(t for t, _ in destination_types())}")
    out = [_field(name, info) for name, info in model.model_fields.items() if name != "type"]
    return sorted(out, key=lambda f: (FIRST.index(f.name) if f.name in FIRST else len(FIRST)))


def _field(name: str, info: Any) -> FormField:
    annotation, required = info.annotation, info.is_required()
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
    origin = get_origin(annotation)
    default = None if required else info.get_default(call_default_factory=True)
    if any(word in name for word in SECRET_WORDS):
        kind, choices = "secret", ()
    elif origin is Literal:
        kind, choices = "choice", tuple(str(a) for a in get_args(annotation))
    elif annotation is bool:
        kind, choices = "flag", ()
    elif annotation is int:
        kind, choices = "integer", ()
    elif annotation is float:
        kind, choices = "number", ()
    elif origin is list:
        kind, choices = "list", ()
    elif origin is dict:
        kind, choices = "mapping", ()
    elif annotation is str or get_origin(annotation) is not None:
        kind, choices = "text", ()
    else:
        kind, choices = "yaml", ()
    return FormField(name, kind, info.description or "", required, default, choices)


def form_values(config: BaseModel) -> dict[str, str]:
    """A saved destination's settings as the form shows them (secrets as the references they are)."""
    shown: dict[str, str] = {}
    for field in form_fields(str(getattr(config, "type"))):
        value = getattr(config, field.name)
        shown[field.name] = _as_text(field.kind, value)
    return shown


def _as_text(kind: str, value: Any) -> str:
    if value is None:
        return ""
    if kind == "list":
        return "\n".join(str(v) for v in value)
    if kind == "mapping":
        return "\n".join(f"{k} = {v}" for k, v in value.items())
    if kind == "flag":
        return "true" if value else ""
    if kind == "yaml":
        return yaml.safe_dump(value, sort_keys=False).strip()
    return str(value)


def parsed(type_: str, form: dict[str, str]) -> dict[str, Any]:
    """The settings a submitted form says, as accord.yaml would hold them (empty optional fields left out)."""
    settings: dict[str, Any] = {"type": type_}
    for field in form_fields(type_):
        raw = form.get(field.name, "")
        if field.kind == "flag":
            settings[field.name] = raw in ("true", "on", "1")
            continue
        text = raw.strip()
        if not text:
            continue
        if field.kind == "list":
            settings[field.name] = [line.strip() for line in text.splitlines() if line.strip()]
        elif field.kind == "mapping":
            settings[field.name] = dict(_pair(line) for line in text.splitlines() if line.strip())
        elif field.kind == "yaml":
            try:
                settings[field.name] = yaml_data(text, field.name)
            except UnreadableYaml as err:
                raise WorkspaceError(str(err)) from None
        else:
            settings[field.name] = text
    return settings


def _pair(line: str) -> tuple[str, str]:
    key, sep, value = line.partition("=")
    if not sep:
        raise WorkspaceError(f"{line.strip()!r}: write one `key = value` per line")
    return key.strip(), value.strip()


def save_destination(ws: Workspace, lake: Lake, settings: dict[str, Any], replacing: str | None, actor: str
                     ) -> DestinationConfig:
    """Add a destination (or replace the one named `replacing`), checked as accord.yaml is checked when it loads;
    written to accord.yaml and recorded in the audit log."""
    before = next((d.model_dump(mode="json") for d in ws.config.destinations if d.name == replacing), None)

    def placed(config: WorkspaceConfig) -> WorkspaceConfig:
        current = [d.model_dump(mode="json") for d in config.destinations]
        if replacing is None and any(d["name"] == settings.get("name") for d in current):
            raise WorkspaceError(f"a destination named {settings.get('name')!r} exists already: edit it instead")
        if replacing is not None and all(d["name"] != replacing for d in current):
            raise WorkspaceError(f"no destination named {replacing!r}")
        chosen = [*current, settings] if replacing is None else [settings if d["name"] == replacing else d
                                                                  for d in current]
        try:
            return WorkspaceConfig.model_validate({**config.model_dump(mode="json"), "destinations": chosen})
        except ValidationError as err:
            raise WorkspaceError(problems(err, skip=2)) from None

    ws.edit(placed)
    saved = next(d for d in ws.config.destinations if d.name == settings["name"])
    audit.record(lake, actor, "destination saved", saved.name, before, saved.model_dump(mode="json"))
    return saved


def set_paused(ws: Workspace, lake: Lake, name: str, paused: bool, actor: str) -> None:
    """Pause or resume a destination in accord.yaml."""
    def switched(config: WorkspaceConfig) -> WorkspaceConfig:
        if all(d.name != name for d in config.destinations):
            raise WorkspaceError(f"no destination named {name!r}")
        return config.model_copy(update={"destinations": [
            d.model_copy(update={"paused": paused}) if d.name == name else d for d in config.destinations]})

    ws.edit(switched)
    audit.record(lake, actor, "destination paused" if paused else "destination resumed", name)
