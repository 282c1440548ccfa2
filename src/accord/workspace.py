"""A workspace: `accord.yaml`, `audiences/` and a data directory holding one isolated store per sandbox."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from accord.activation.config import DestinationConfig
from accord.alerts.config import AlertsConfig
from accord.audiences.config import AudiencesConfig
from accord.engines.registry import engine_kind
from accord.engines.spark.config import SparkConfig
from accord.governance.config import GovernanceConfig
from accord.identity.config import IdentityConfig
from accord.lake.config import StoreConfig
from accord.lake.custom_fields import declare
from accord.lake.store import Lake
from accord.model.schema import CustomField, CustomObject, Schema
from accord.profiles.build import build_profiles
from accord.readable import UnreadableYaml, problems, yaml_data
from accord.replaced import replace_text
from accord.sources.config import SourceConfig, check_sources
from accord.yaml_edits import rewritten

if TYPE_CHECKING:
    from accord.governance.labels import Labels

CONFIG_FILE = "accord.yaml"
SANDBOX_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
PROFILE_KINDS = ("person", "account")


class CollectorConfig(BaseModel):
    """How collector messages become records."""

    model_config = ConfigDict(extra="forbid")

    track_events: dict[str, str] = Field(
        default_factory=dict,
        description='track event name → Accord event type, e.g. {"Demo Requested": "web.formfill"}; '
        "others become track.<name in snake case>.",
    )


class WorkspaceError(ValueError):
    """No workspace here, a broken accord.yaml, or an unknown sandbox."""


class WorkspaceConfig(BaseModel):
    """The contents of accord.yaml."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="accord", description="A name for people to recognise the workspace by.")
    data_dir: str = Field(default="data", description="Where the stores live, relative to the workspace.")
    store: StoreConfig = Field(default_factory=StoreConfig, description="The memory and cores each store may take.")
    sandboxes: list[str] = Field(default_factory=lambda: ["prod"], description="Isolated stores; nothing reads across.")
    default_sandbox: str = Field(default="prod", description="The sandbox used when none is named.")
    identity: IdentityConfig = Field(default_factory=IdentityConfig, description="Stitching and merge settings.")
    audiences: AudiencesConfig = Field(default_factory=AudiencesConfig, description="Evaluation schedule and retention.")
    engine: str = Field(default="duckdb", description="The engine of the batch stages (identity's components, "
                                                      "audiences): `duckdb` embedded, or `spark`.")
    spark: SparkConfig = Field(default_factory=SparkConfig, description="Where Spark runs, when `engine: spark`.")
    collector: CollectorConfig = Field(default_factory=CollectorConfig, description="Collector event mapping.")
    sources: list[SourceConfig] = Field(default_factory=list, description="API sources (Marketo instances, ...).")
    destinations: list[DestinationConfig] = Field(default_factory=list, description="Where audiences are sent.")
    custom_fields: list[CustomField] = Field(default_factory=list,
                                             description="Fields the organisation adds to the model (ABM_Tier__c, ...).")
    custom_objects: list[CustomObject] = Field(default_factory=list,
                                               description="Objects the organisation adds (Subscription__c, ...), "
                                                           "each related to a person or an account.")
    governance: GovernanceConfig = Field(default_factory=GovernanceConfig,
                                         description="Usage labels, marketing actions and policies.")
    alerts: AlertsConfig = Field(default_factory=AlertsConfig, description="What fires an alert and where it goes.")
    xdm_tenant: str = Field(default="accord", pattern=r"^[a-z][a-z0-9]{0,63}$",
                            description="The tenant id custom fields go under in XDM exports (`_<tenant>`).")
    schema_file: str | None = Field(default=None, description="A YAML file (relative to the workspace) whose "
                                                              "`custom_fields:` and `custom_objects:` lists add to "
                                                              "the ones above.")

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, name: str) -> str:
        return engine_kind(name).name

    @model_validator(mode="after")
    def _check_sandboxes(self) -> WorkspaceConfig:
        for name in self.sandboxes:
            if not SANDBOX_NAME.match(name):
                raise ValueError(f"sandbox name {name[:50]!r}{'…' if len(name) > 50 else ''}: begin with a lower-case "
                                 "letter, then up to 39 lower-case letters, digits, - and _")
        if len(set(self.sandboxes)) != len(self.sandboxes):
            raise ValueError("a sandbox is listed twice")
        if self.default_sandbox not in self.sandboxes:
            raise ValueError(f"default_sandbox {self.default_sandbox!r} is not in sandboxes")
        for kind, parts in (("source", self.sources), ("destination", self.destinations)):
            names = [p.name for p in parts]
            if len(set(names)) != len(names):
                raise ValueError(f"two {kind}s share a name; names must be unique ({', '.join(names)})")
            for part in parts:
                unknown = set(part.sandboxes) - set(self.sandboxes)
                if unknown:
                    raise ValueError(f"{kind} {part.name!r} names unknown sandbox(es) {', '.join(sorted(unknown))} "
                                     f"(sandboxes: {', '.join(self.sandboxes)})")
        check_sources(self.sources)
        return self


_EDITING = threading.Lock()
"""One change of accord.yaml at a time in this process (two web requests saving destinations at once)."""


def _write(root: Path, config: WorkspaceConfig) -> None:
    replace_text(root / CONFIG_FILE, yaml.safe_dump(config.model_dump(), sort_keys=False))


def _reads_as(text: str, config: WorkspaceConfig) -> bool:
    """Whether edited text reads back as the configuration meant (YAML 1.1 reads `on` and `no` as true and false
    where the editor's YAML 1.2 writes them bare): else the whole configuration is written."""
    try:
        return WorkspaceConfig.model_validate(yaml_data(text, CONFIG_FILE) or {}) == config
    except (UnreadableYaml, ValidationError):
        return False


class Workspace:
    def __init__(self, root: Path, config: WorkspaceConfig) -> None:
        self.root = root
        self.config = config
        self._schema: tuple[WorkspaceConfig, Schema] | None = None  # read once per configuration
        self._labels: tuple[WorkspaceConfig, Labels] | None = None

    @classmethod
    def init(cls, root: Path, name: str | None = None) -> Workspace:
        """Create a workspace in `root` (which may exist, but must not hold one already)."""
        if (root / CONFIG_FILE).exists():
            raise WorkspaceError(f"{root} already holds a workspace ({CONFIG_FILE})")
        if root.exists() and not root.is_dir():
            raise WorkspaceError(f"{root} is a file: name a folder for the workspace")
        root.mkdir(parents=True, exist_ok=True)
        config = WorkspaceConfig(name=name or root.resolve().name)
        (root / "audiences").mkdir(exist_ok=True)
        (root / config.data_dir).mkdir(exist_ok=True)
        ws = cls(root, config)
        ws.save()
        return ws

    @classmethod
    def load(cls, root: Path) -> Workspace:
        return cls._read(root)[0]

    @classmethod
    def _read(cls, root: Path) -> tuple[Workspace, str]:
        """The workspace and the text of accord.yaml it was read from."""
        path = root / CONFIG_FILE
        try:
            text = path.read_text()
            ws = cls(root, WorkspaceConfig.model_validate(yaml_data(text, str(path)) or {}))
        except FileNotFoundError:
            raise WorkspaceError(f"no workspace at {root}: {CONFIG_FILE} not found (run `accord init`)") from None
        except UnreadableYaml as err:
            raise WorkspaceError(str(err)) from None
        except (OSError, UnicodeDecodeError) as err:
            raise WorkspaceError(f"{path} cannot be read: {err}") from None
        except ValidationError as err:
            raise WorkspaceError(f"{path} is not a valid workspace configuration: {problems(err)}") from None
        ws.check()
        return ws, text

    def check(self) -> None:
        """What loading checks beyond each setting's own validation: destinations' audience kinds, governance."""
        self._check_destination_kinds()
        self._check_governance()

    def _check_governance(self) -> None:
        """Labels, actions, entities, fields and sources named under governance (and in destinations' actions)
        exist; policies themselves are checked where data moves."""
        from accord.governance.labels import GovernanceError

        try:
            self.labels.check()
            for destination in self.config.destinations:
                self.labels.check_actions(destination.performs, f"destination {destination.name!r}")
        except GovernanceError as err:
            raise WorkspaceError(f"{self.root / CONFIG_FILE}: {err}") from None

    @property
    def labels(self) -> Labels:
        """The labels of this workspace's fields, and the labels and actions it knows."""
        from accord.governance.labels import Labels

        if self._labels is None or self._labels[0] is not self.config:
            self._labels = (self.config, Labels(self.config.governance, self.schema,
                                                {s.name: s.type for s in self.config.sources}))
        return self._labels[1]

    def _check_destination_kinds(self) -> None:
        """A destination that takes only people (or only accounts) must not list an audience of the other kind."""
        from accord.activation.destination import AudienceKindMismatch
        from accord.audiences.files import kinds_of

        kinds: dict[str, dict[str, str]] = {}  # per sandbox, read once: every command loads the workspace
        for destination in self.config.destinations:
            if not destination.minds_kinds():
                continue
            for sandbox in destination.sandboxes:
                if sandbox not in kinds:
                    kinds[sandbox] = kinds_of(self.audiences_dir(sandbox), self.schema)
                try:
                    destination.refuse_kinds(kinds[sandbox])
                except AudienceKindMismatch as err:
                    raise WorkspaceError(f"{self.root / CONFIG_FILE}: {err}") from None

    @classmethod
    def find(cls, start: Path | None = None) -> Workspace:
        """The workspace named by ACCORD_WORKSPACE, else the nearest accord.yaml at or above `start`."""
        if env := os.environ.get("ACCORD_WORKSPACE"):
            return cls.load(Path(env))
        here = (start or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / CONFIG_FILE).exists():
                return cls.load(folder)
        raise WorkspaceError(f"no {CONFIG_FILE} in {here} or above: run `accord init` or pass --workspace")

    def save(self) -> None:
        _write(self.root, self.config)

    def edit(self, change: Callable[[WorkspaceConfig], WorkspaceConfig]) -> None:
        """Make `change` to accord.yaml as the file is now, not as this process read it: what was changed there
        since (by hand, or a command relayed to `serve`, such as `accord sandboxes create`) is kept, where saving
        this process's copy wrote it over. This process's copy gets the same change and nothing else of the file's
        (`reread` takes the rest up). Only what changed is written: the file's comments and order stay."""
        with _EDITING:
            read, text = Workspace._read(self.root)
            before = read.config
            on_file = change(before)
            Workspace(self.root, on_file).check()
            mine = change(self.config)
            edited = rewritten(text, before.model_dump(mode="json"), on_file.model_dump(mode="json"),
                               on_file.model_dump(mode="json", exclude_defaults=True))
            if edited is not None and _reads_as(edited, on_file):
                replace_text(self.root / CONFIG_FILE, edited)
            else:
                _write(self.root, on_file)
            self.config = mine

    def sandbox(self, name: str | None = None) -> str:
        """The sandbox to use: the one named, else ACCORD_SANDBOX, else the default; it must exist."""
        chosen = name or os.environ.get("ACCORD_SANDBOX") or self.config.default_sandbox
        if chosen not in self.config.sandboxes:
            known = ", ".join(self.config.sandboxes)
            raise WorkspaceError(f"unknown sandbox {chosen!r} (sandboxes: {known}); add it with `accord sandboxes create`")
        return chosen

    def add_sandbox(self, name: str) -> None:
        def added(config: WorkspaceConfig) -> WorkspaceConfig:
            if name in config.sandboxes:
                raise WorkspaceError(f"sandbox {name!r} exists already")
            try:
                return WorkspaceConfig.model_validate({**config.model_dump(), "sandboxes": [*config.sandboxes, name]})
            except ValidationError as err:
                raise WorkspaceError(problems(err)) from None

        self.edit(added)

    def reread(self, live: tuple[str, ...], serving: str) -> tuple[list[str], list[str]]:
        """Read accord.yaml again and take up what changed in the `live` settings (those a running process reads
        each time it needs them); returns the settings taken up, and those that changed but wait for a restart.
        WorkspaceError when the file does not load, or no longer lists the sandbox `serving` (nothing is taken up)."""
        with _EDITING:
            on_file = Workspace.load(self.root).config
            if serving not in on_file.sandboxes:
                raise WorkspaceError(f"{self.root / CONFIG_FILE} no longer lists sandbox {serving!r}, which is served")
            changed = [name for name in WorkspaceConfig.model_fields
                       if getattr(on_file, name) != getattr(self.config, name)]
            taken = [name for name in changed if name in live]
            if taken:
                config = self.config.model_copy(update={name: getattr(on_file, name) for name in taken})
                Workspace(self.root, config).check()
                self.config = config
        return taken, [name for name in changed if name not in live]

    def audiences_dir(self, sandbox: str | None = None) -> Path:
        """Where a sandbox's audience files live: `audiences/` for the default sandbox, `audiences/<name>/` for the
        others, so that no sandbox reads or writes another's definitions."""
        name = self.sandbox(sandbox)
        folder = self.root / "audiences"
        return folder if name == self.config.default_sandbox else folder / name

    def lake_path(self, sandbox: str | None = None) -> Path:
        return self.root / self.config.data_dir / self.sandbox(sandbox) / "accord.duckdb"

    @property
    def schema(self) -> Schema:
        """The model as this workspace declares it: Accord's entities, custom fields and custom objects (the schema
        file is read once for each configuration, not at every request)."""
        if self._schema is None or self._schema[0] is not self.config:
            self._schema = (self.config, self._declared_schema())
        return self._schema[1]

    def _declared_schema(self) -> Schema:
        fields, objects = list(self.config.custom_fields), list(self.config.custom_objects)
        if self.config.schema_file:
            path = self.root / self.config.schema_file
            try:
                raw = yaml_data(path.read_text(), str(path)) or {}
                fields += [CustomField.model_validate(f) for f in raw.get("custom_fields") or []]
                objects += [CustomObject.model_validate(o) for o in raw.get("custom_objects") or []]
            except ValidationError as err:
                raise WorkspaceError(f"schema file {path} cannot be used: {problems(err)}") from None
            except (OSError, UnicodeDecodeError, UnreadableYaml, AttributeError) as err:
                raise WorkspaceError(f"schema file {path} cannot be used: {err}") from None
        try:
            return Schema(tuple(fields + [f for o in objects for f in o.custom_fields()]), tuple(objects))
        except ValueError as err:
            raise WorkspaceError(str(err)) from None

    def lake(self, sandbox: str | None = None, migrate: bool = False, declare_fields: bool = True) -> Lake:
        """The sandbox's store, holding the declared custom fields; `migrate` brings an older store up to date
        (`accord migrate`), `declare_fields=False` opens one whose declared types are being changed."""
        name = self.sandbox(sandbox)
        lake = Lake(self.lake_path(name), sandbox=name, migrate=migrate, settings=self.config.store.settings())
        if declare_fields:
            try:
                schema = self.schema
                added = declare(lake, schema.custom, schema.objects)
                if any(f.entity in PROFILE_KINDS for f in added):
                    build_profiles(lake, self.config.identity)  # profiles gain the column, filled from the records
            except BaseException:
                lake.close()
                raise
        return lake
