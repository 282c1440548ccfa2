"""Declarative mappings (YAML): which source column fills which canonical field, through which transforms."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from accord.model.entities import Entity
from accord.model.schema import STANDARD, Schema
from accord.model.source_key import checked_instance, checked_type
from accord.readable import UnreadableYaml, problems, yaml_data
from accord.sources.base import twin_of

STRING_TRANSFORMS = {"trim", "lower", "upper", "email_domain", "url_domain", "map", "source_key", "prefix", "json_get",
                     "snake_keys", "add_keys", "salesforce_id"}
PARSE_TRANSFORMS = {"to_date", "to_timestamp", "to_number", "to_integer", "to_boolean"}
TRANSFORMS = STRING_TRANSFORMS | PARSE_TRANSFORMS


class MappingError(ValueError):
    """A mapping that cannot work: unknown fields, unknown transforms, columns the input lacks."""


class Transform(BaseModel):
    """One named transform and its argument (a format, a value map, a source type ...)."""

    name: str
    arg: Any = None

    @classmethod
    def parse(cls, raw: Any) -> Transform:
        if isinstance(raw, str):
            name, arg = raw, None
        elif isinstance(raw, dict) and len(raw) == 1 and isinstance(next(iter(raw)), str):
            name, arg = next(iter(raw.items()))
        else:
            raise MappingError(f"a transform is a name or {{name: argument}}, got {raw!r}")
        if name not in TRANSFORMS:
            raise MappingError(f"unknown transform {name!r}{_suggest(name, TRANSFORMS)}")
        if name == "map" and not isinstance(arg, dict):
            raise MappingError("transform 'map' takes a table of source value -> canonical value")
        if name in ("prefix", "json_get") and not isinstance(arg, str):
            raise MappingError(f"transform {name!r} takes a text argument")
        if name == "add_keys" and not (isinstance(arg, dict) and arg and all(isinstance(v, str) for v in arg.values())):
            raise MappingError("transform 'add_keys' takes a table of key -> source column")
        return cls(name=name, arg=arg)


class FieldSpec(BaseModel):
    """Where one canonical field comes from: exactly one of from / constant / concat / coalesce."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    from_: str | None = Field(default=None, alias="from", description="Source column (dots reach into nested records).")
    constant: Any = Field(default=None, description="A fixed value for every record.")
    concat: list[str] | None = Field(default=None, description="Source columns joined with `sep`, skipping empty ones.")
    sep: str = Field(default="", description="Separator for `concat`.")
    coalesce: list[str] | None = Field(default=None, description="The first non-empty of these source columns.")
    transforms: list[Transform] = Field(default_factory=list, description="Applied in order; a parse transform last.")
    optional: bool | None = Field(default=None, description="The input may lack the column(s); the field is then "
                                  "empty. By default only a field the record cannot exist without (its key, the "
                                  "keys it relates, an event's type and time) needs its column.")
    default: Any = Field(default=None, description="The value when the source gives none.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, raw: Any) -> Any:
        if isinstance(raw, str):
            return {"from": raw[:-1], "optional": True} if raw.endswith("?") else {"from": raw}
        if isinstance(raw, dict):
            raw = dict(raw)
            if "transform" in raw:
                raw["transforms"] = [raw.pop("transform")]
            transforms = raw.get("transforms") or []
            if isinstance(transforms, (str, dict)):  # one transform, written without its list
                transforms = [transforms]
            if not isinstance(transforms, list):
                raise MappingError(f"transforms is a list of transforms, e.g. [trim, lower], not {transforms!r}")
            raw["transforms"] = [Transform.parse(t) for t in transforms]
        return raw

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        given = [k for k in ("from_", "constant", "concat", "coalesce") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of: from, constant, concat, coalesce")
        parses = [i for i, t in enumerate(self.transforms) if t.name in PARSE_TRANSFORMS]
        if len(parses) > 1 or (parses and parses[0] != len(self.transforms) - 1):
            raise ValueError("at most one parse transform (to_date, to_number, ...), and it comes last")
        return self

    @property
    def source_columns(self) -> list[str]:
        """The input columns the field reads: its source, and those a transform adds (`add_keys`)."""
        added = [str(c) for t in self.transforms if t.name == "add_keys" for c in t.arg.values()]
        if self.from_ is not None:
            return [self.from_, *added]
        return [*(self.concat or self.coalesce or []), *added]


STRPTIME_DIRECTIVE = re.compile(r"%(?:-?[aAbBcdfgGhHIjmMnpSuUVwWxXyYzZ]|%)")
"""The directives both engines read (DuckDB's strptime, turned into Java's patterns for Spark)."""


def checked_date_formats(formats: list[str]) -> list[str]:
    """strptime formats, each naming at least one part of a date in directives the engines read; a MappingError
    for one that does not."""
    for fmt in formats:
        if "%" not in fmt:
            raise MappingError(f"date format {fmt!r} names no part of a date: write it as strptime does, e.g. "
                               "'%d.%m.%Y' for 05.03.2025")
        stray = STRPTIME_DIRECTIVE.sub("", fmt).find("%")
        if stray >= 0:
            bad = STRPTIME_DIRECTIVE.sub("", fmt)[stray:stray + 2]
            raise MappingError(f"date format {fmt!r}: {bad!r} is no strptime directive (%d %m %Y %H %M %S %p ...)")
    return formats


NumberFormat = Literal["1234.56", "1,234.56", "1.234,56", "1 234,56", "1'234.56"]
"""How an export writes 1234.56: plainly, or grouped as a locale does."""
NUMBER_FORMATS: tuple[str, ...] = get_args(NumberFormat)


def checked_number_format(number_format: str) -> NumberFormat:
    """One of NUMBER_FORMATS; a MappingError naming them for any other text."""
    if number_format not in NUMBER_FORMATS:
        raise MappingError(f"number format {number_format!r}: write 1234.56 as the file does, one of "
                           + ", ".join(NUMBER_FORMATS))
    return number_format  # type: ignore[return-value]


def checked_time_zone(zone: str) -> str:
    """An IANA time zone's name; a MappingError for a name that is none."""
    try:
        ZoneInfo(zone)
    except (ValueError, OSError, ZoneInfoNotFoundError):  # OSError: a folder of zones ('America')
        raise MappingError(f"time zone {zone!r} is unknown: name it as the IANA database does, e.g. "
                           "'America/New_York', 'Europe/Berlin', 'UTC'") from None
    return zone


class Mapping(BaseModel):
    """A whole mapping file: one input shape to one canonical entity."""

    model_config = ConfigDict(extra="forbid")

    entity: str = Field(description="Canonical entity the records become (person, account, event, ...).")
    source_type: str = Field(default="File", description="The system the records come from: Salesforce, Marketo, ...")
    source_instance_id: str = Field(default="files", description="Instance of that system; overridable per run.")
    null_values: list[str] = Field(default_factory=lambda: [""], description="Raw texts that mean 'no value'.")
    fields: dict[str, FieldSpec] = Field(description="Canonical field -> where its value comes from.")
    labels: dict[str, list[str]] = Field(default_factory=dict,
                                         description="Input column -> other names it goes by, e.g. a Salesforce "
                                                     "report's labels ({Id: [Contact ID]}). Names that differ only "
                                                     "in case, spaces and punctuation are matched without one.")
    date_formats: list[str] = Field(default_factory=list,
                                    description="strptime formats tried in order, after ISO 8601, for every date and "
                                                "timestamp field without a format of its own: a report exported in a "
                                                "locale's format (['%m/%d/%Y %I:%M %p', '%m/%d/%Y']).")
    time_zone: str | None = Field(default=None,
                                  description="The IANA time zone of times that name no offset (a Salesforce report "
                                              "writes them in the exporting user's zone: 'America/New_York'); "
                                              "default UTC. A time naming its offset is read as it says.")

    number_format: NumberFormat = Field(default="1234.56",
                                        description="How numbers are written: '1234.56' (plain, the default), or "
                                                    "as a locale writes them, with digits grouped: '1,234.56', "
                                                    "'1.234,56', '1 234,56', \"1'234.56\"; then a currency code or "
                                                    "symbol before or after the number (USD 1,500.00, 1.500,00 €) "
                                                    "is left out.")

    _schema: Schema = PrivateAttr(default=STANDARD)

    @field_validator("date_formats")
    @classmethod
    def _formats_have_directives(cls, formats: list[str]) -> list[str]:
        return checked_date_formats(formats)

    @field_validator("time_zone")
    @classmethod
    def _zone_is_known(cls, zone: str | None) -> str | None:
        return checked_time_zone(zone) if zone is not None else None

    @field_validator("source_instance_id")
    @classmethod
    def _instance_fits_a_key(cls, instance: str) -> str:
        return checked_instance(instance)

    @field_validator("source_type")
    @classmethod
    def _type_fits_a_key(cls, source_type: str) -> str:
        return checked_type(source_type)

    @property
    def target(self) -> Entity:
        """The entity the records become, with the custom fields of the schema the mapping was read for."""
        return self._schema.entity(self.entity)

    @model_validator(mode="after")
    def _fields_exist(self, info: ValidationInfo) -> Mapping:
        self._schema = (info.context or {}).get("schema", STANDARD)
        self._check_fields()
        return self

    def on(self, schema: Schema) -> Mapping:
        """This mapping read for a store with `schema` (custom fields become targets)."""
        if schema == self._schema:
            return self
        bound = self.model_copy()
        bound._schema = schema
        try:
            bound._check_fields()
        except ValueError as err:
            raise MappingError(str(err)) from None
        return bound

    def with_custom(self, columns: list[str]) -> Mapping:
        """This mapping plus, for each custom field it does not map, the input column named as the field or as
        its label (`ABM_Tier__c`, `ABM Tier`): exports carry custom fields under their own names."""
        taken = set(self.source_columns)
        by_form = {_form(c): c for c in columns if c not in taken}
        extra = {}
        for f in self._schema.custom_of(self.entity):
            column = by_form.get(_form(f.name)) or (by_form.get(_form(f.label)) if f.label else None)
            if f.name not in self.fields and column is not None:
                extra[f.name] = FieldSpec.model_validate({"from": column, "optional": True})
        if not extra:
            return self
        wider = self.model_copy(update={"fields": {**self.fields, **extra}})
        wider._schema = self._schema
        return wider

    def in_locale(self, date_formats: list[str], time_zone: str | None = None,
                  number_format: str | None = None) -> Mapping:
        """This mapping reading values as an export in a locale writes them: dates and times also in `date_formats`
        (strptime), after its own; times that name no offset in `time_zone`; numbers as `number_format` writes
        them (each when given)."""
        update: dict[str, Any] = {"date_formats": [*self.date_formats, *checked_date_formats(date_formats)]}
        if time_zone is not None:
            update["time_zone"] = checked_time_zone(time_zone)
        if number_format is not None:
            update["number_format"] = checked_number_format(number_format)
        wider = self.model_copy(update=update)
        wider._schema = self._schema
        return wider

    def _check_fields(self) -> None:
        entity = self.target
        known = {c.name: c for c in entity.mappable_columns}
        for name in self.fields:
            if name not in known:
                custom = "" if self._schema.custom_of(entity.name) else "; a custom field must be declared first " \
                                                                        "(custom_fields: in accord.yaml)"
                raise ValueError(f"{entity.name} has no field {name!r}{_suggest(name, known)}{custom}")
        missing = [c.name for c in entity.mappable_columns if c.required and c.name not in self.fields]
        if missing:
            raise ValueError(f"mapping for {entity.name} must fill required field(s): {', '.join(missing)}")

    @property
    def source_columns(self) -> list[str]:
        """Every input column the mapping reads, in first-use order: what an API call must ask for."""
        return list(dict.fromkeys(c for spec in self.fields.values() for c in spec.source_columns))

    def needs(self, field_name: str) -> bool:
        """Must the input have this field's column(s)? Yes for what a record cannot exist without, or if told so."""
        spec = self.fields[field_name]
        return spec.optional is False or (spec.optional is None and self.target.column(field_name).required)

    def absent(self, available: Iterable[str]) -> list[str]:
        """The columns the mapping reads that the input lacks (a dotted name is there if its first part is)."""
        there = set(available)
        return [c for c in self.source_columns if c not in there and c.split(".")[0] not in there]

    def check_columns(self, available: list[str]) -> None:
        """Fail before loading, naming every needed column the input does not have (not only the first), and every
        column it reads that the input has twice (which one is meant cannot be guessed)."""
        gone = set(self.absent(available))
        self._check_twins(gone, available)
        missing = []
        for name, spec in self.fields.items():
            if self.needs(name) and spec.coalesce is not None and gone.issuperset(spec.coalesce):
                missing.append((name, " or ".join(spec.coalesce)))
            elif self.needs(name) and spec.coalesce is None:
                missing += [(name, col) for col in spec.source_columns if col in gone]
        if missing:
            said = "; ".join(f"field {name!r} reads column {col!r}{self._labelled(col)}{_suggest(col, available)}"
                             for name, col in missing)
            raise MappingError(f"the input lacks {len(missing)} column(s) the mapping needs: {said}; "
                               f"its columns (as the mapping names them): {', '.join(available)}")

    def _check_twins(self, gone: set[str], available: list[str]) -> None:
        """Refuse the columns the mapping reads that the input's header wrote more than once."""
        twins = [(name, _form(twin)) for name in available if (twin := twin_of(name)) is not None]
        said = []
        for field_name, spec in self.fields.items():
            for col in (c for c in spec.source_columns if c in gone):
                forms = {_form(name) for name in [col, *self.labels.get(col, [])]}
                if found := [name for name, form in twins if form in forms]:
                    said.append(f"field {field_name!r} reads column {col!r}{self._labelled(col)}, which the input "
                                f"has {len(found)} times: {', '.join(map(repr, found))}")
        if said:
            raise MappingError("; ".join(said) + ONE_MEANT)

    def _labelled(self, column: str) -> str:
        """The other names `column` is read by, for an error: a report must include a column under one of them."""
        names = [label for part in column.split(" or ") for label in self.labels.get(part, [])]
        return f" (or {', '.join(map(repr, names))})" if names else ""

    def renames(self, available: list[str]) -> dict[str, str]:
        """Input column -> the name the mapping reads it by, for inputs that use another name for it (a report
        label, other case or spacing). A column the input has under the mapping's own name is never renamed; one
        it has under two other names (`EMAIL` and `E-mail`) is refused, naming both: which is meant is a guess."""
        wanted = [c for c in self.source_columns if c not in available]
        by_form = {_form(name): col for col in wanted for name in [col, *self.labels.get(col, [])]}
        found: dict[str, list[str]] = {}
        for column in available:
            if (col := by_form.get(_form(column))) is not None:
                found.setdefault(col, []).append(column)
        if said := [f"the mapping reads column {col!r}{self._labelled(col)}, which the input has as "
                    f"{' and '.join(map(repr, names))}" for col, names in found.items() if len(names) > 1]:
            raise MappingError("; ".join(said) + ONE_MEANT)
        return {names[0]: col for col, names in found.items()}


def load_mapping(path: Path | str, schema: Schema = STANDARD) -> Mapping:
    """Read a mapping YAML file, with errors that say what is wrong and where."""
    path = Path(path)
    try:
        raw = yaml_data(path.read_text(), str(path))
    except (OSError, UnicodeDecodeError, UnreadableYaml) as err:
        raise MappingError(f"cannot read mapping {path}: {err}") from None
    return parse_mapping(raw, str(path), schema)


def parse_mapping(raw: Any, where: str = "mapping", schema: Schema = STANDARD) -> Mapping:
    """A mapping from its YAML form, its fields checked against `schema`'s entities."""
    try:
        return Mapping.model_validate(raw, context={"schema": schema})
    except ValidationError as err:
        raise MappingError(f"{where}: {problems(err)}") from None
    except (MappingError, ValueError) as err:
        raise MappingError(f"{where}: {err}") from None


ONE_MEANT = "; map the one meant by its name here, or rename the others in the file"
"""How a mapping reading a column the input has more than once is mended."""


def _form(name: str) -> str:
    """A column name without case, spaces or punctuation: `Account ID` and `AccountId` are one."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
