"""Canonical records ⇄ Adobe XDM B2B JSON, validated against the shipped XDM schemas.

Columns with no XDM home (and Accord's lineage) go under one URI-named property: the XDM base schemas
accept extension properties only in a namespace of the form `scheme://...`. A workspace's custom fields go
under its tenant namespace (`_<tenant>`), as Adobe's own custom field groups do, validated by a field group
made from their declarations.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from jsonschema_rs import Draft6Validator, Registry

from accord.model.entities import ColumnType
from accord.model.schema import STANDARD, Schema
from accord.model.source_key import checked_instance, make_source_key, parse_source_key
from accord.model.times import parse_instant

TENANT = "https://ns.accord.dev/b2b"
DEFAULT_TENANT = "accord"
JSON_TYPES: dict[ColumnType, dict[str, Any]] = {
    ColumnType.STRING: {"type": "string"},
    ColumnType.NUMBER: {"type": "number"},
    ColumnType.INTEGER: {"type": "integer"},
    ColumnType.BOOLEAN: {"type": "boolean"},
    ColumnType.DATE: {"type": "string", "format": "date"},
    ColumnType.TIMESTAMP: {"type": "string", "format": "date-time"},
    ColumnType.STRING_LIST: {"type": "array", "items": {"type": "string"}},
}


class XdmError(ValueError):
    """A record that does not fit its XDM class."""


class XdmInvalid(XdmError):
    """A record whose values fail the XDM schemas (the others of its entity may not)."""


@dataclass(frozen=True)
class XdmClass:
    """Which XDM class and field groups an entity becomes, and where its id and key go."""

    schemas: tuple[str, ...]
    id_path: str
    key_path: str
    fields: dict[str, str]  # canonical column -> XDM path ("/"-separated)


NS = "https://ns.adobe.com/xdm"
AUDIT = "xdm:extSourceSystemAudit"
COMMON = {
    "created_at": f"{AUDIT}/xdm:createdDate",
    "source_updated_at": f"{AUDIT}/xdm:lastUpdatedDate",
    "is_deleted": "xdm:isDeleted",
}

XDM_CLASSES: dict[str, XdmClass] = {
    "account": XdmClass(
        (f"{NS}/context/account", f"{NS}/mixins/account-details"),
        "xdm:accountID",
        "xdm:accountKey",
        {
            "name": "xdm:accountName",
            "domain": "xdm:accountOrganization/xdm:domain",
            "website": "xdm:accountOrganization/xdm:website",
            "industry": "xdm:accountOrganization/xdm:industry",
            "employees": "xdm:accountOrganization/xdm:numberOfEmployees",
            "annual_revenue": "xdm:accountOrganization/xdm:annualRevenue/xdm:amount",
            "currency_code": "xdm:accountOrganization/xdm:annualRevenue/xdm:currencyCode",
            "account_type": "xdm:accountType",
            "country": "xdm:accountBillingAddress/xdm:country",
            "state": "xdm:accountBillingAddress/xdm:state",
            "city": "xdm:accountBillingAddress/xdm:city",
            "phone": "xdm:accountPhone/xdm:number",
            "parent_account_key": "xdm:accountParentKey",
        },
    ),
    "person": XdmClass(
        (
            f"{NS}/context/profile",
            f"{NS}/mixins/b2b-person-details",
            f"{NS}/context/profile-work-details",
            f"{NS}/context/profile-other-work-details",
        ),
        "xdm:personID",
        "xdm:b2b/xdm:personKey",
        {
            "person_type": "xdm:b2b/xdm:personType",
            "email": "xdm:workEmail/xdm:address",
            "first_name": "xdm:person/xdm:name/xdm:firstName",
            "last_name": "xdm:person/xdm:name/xdm:lastName",
            "job_title": "xdm:extendedWorkDetails/xdm:jobTitle",
            "phone": "xdm:workPhone/xdm:number",
            "company_name": "xdm:b2b/xdm:companyName",
            "company_website": "xdm:b2b/xdm:companyWebsite",
            "account_key": "xdm:b2b/xdm:accountKey",
            "lead_status": "xdm:b2b/xdm:personStatus",
            "lead_source": "xdm:b2b/xdm:personSource",
            "lead_score": "xdm:b2b/xdm:personScore",
            "is_converted": "xdm:b2b/xdm:isConverted",
            "converted_date": "xdm:b2b/xdm:convertedDate",
            "converted_contact_key": "xdm:b2b/xdm:convertedContactKey",
            "country": "xdm:workAddress/xdm:country",
            "city": "xdm:workAddress/xdm:city",
        },
    ),
    "opportunity": XdmClass(
        (f"{NS}/context/opportunity", f"{NS}/mixins/opportunity-details"),
        "xdm:opportunityID",
        "xdm:opportunityKey",
        {
            "name": "xdm:opportunityName",
            "account_key": "xdm:accountKey",
            "stage": "xdm:opportunityStage",
            "amount": "xdm:opportunityAmount/xdm:amount",
            "currency_code": "xdm:opportunityAmount/xdm:currencyCode",
            "close_date": "xdm:expectedCloseDate",
            "is_closed": "xdm:isClosed",
            "is_won": "xdm:isWon",
            "probability": "xdm:probabilityPercentage",
            "opportunity_type": "xdm:opportunityType",
            "lead_source": "xdm:leadSource",
            "forecast_category": "xdm:forecastCategoryName",
            "campaign_key": "xdm:campaignKey",
        },
    ),
    "account_person": XdmClass(
        (f"{NS}/classes/account-person", f"{NS}/mixins/account-person-details"),
        "xdm:accountPersonID",
        "xdm:accountPersonKey",
        {
            "account_key": "xdm:accountKey",
            "person_key": "xdm:personKey",
            "role": "xdm:personRole",
            "is_primary": "xdm:isPrimary",
            "is_active": "xdm:isActive",
            "start_date": "xdm:relationStartDate",
            "end_date": "xdm:relationEndDate",
        },
    ),
    "opportunity_person": XdmClass(
        (f"{NS}/classes/opportunity-person",),
        "xdm:opportunityPersonID",
        "xdm:opportunityPersonKey",
        {
            "opportunity_key": "xdm:opportunityKey",
            "person_key": "xdm:personKey",
            "role": "xdm:personRole",
            "is_primary": "xdm:isPrimary",
        },
    ),
    "campaign": XdmClass(
        (f"{NS}/classes/campaign", f"{NS}/mixins/campaign-details"),
        "xdm:campaignID",
        "xdm:campaignKey",
        {
            "name": "xdm:campaignName",
            "campaign_type": "xdm:campaignType",
            "status": "xdm:campaignStatus",
            "channel": "xdm:channelName",
            "start_date": "xdm:campaignStartDate",
            "end_date": "xdm:campaignEndDate",
            "is_active": "xdm:isActive",
            "parent_campaign_key": "xdm:parentCampaignKey",
        },
    ),
    "campaign_member": XdmClass(
        (f"{NS}/context/campaign-member", f"{NS}/context/campaign-member-details"),
        "xdm:campaignMemberID",
        "xdm:campaignMemberKey",
        {
            "campaign_key": "xdm:campaignKey",
            "person_key": "xdm:personKey",
            "status": "xdm:memberStatus",
            "has_responded": "xdm:hasResponded",
            "first_responded_date": "xdm:firstRespondedDate",
            "membership_date": "xdm:membershipDate",
        },
    ),
    "marketing_list": XdmClass(
        (f"{NS}/classes/marketing-list",),
        "xdm:marketingListID",
        "xdm:marketingListKey",
        {"name": "xdm:marketingListName", "description": "xdm:marketingListDescription"},
    ),
    "marketing_list_member": XdmClass(
        (f"{NS}/classes/marketing-list-member",),
        "xdm:marketingListMemberID",
        "xdm:marketingListMemberKey",
        {"marketing_list_key": "xdm:marketingListKey", "person_key": "xdm:personKey"},
    ),
}


def xdm_class(entity: str) -> XdmClass:
    if entity not in XDM_CLASSES:
        supported = ", ".join(XDM_CLASSES)
        raise XdmError(f"{entity} has no XDM class in the shipped schemas; XDM export supports: {supported}")
    return XDM_CLASSES[entity]


def field_paths(entity: str, schema: Schema = STANDARD, tenant: str = DEFAULT_TENANT) -> dict[str, str]:
    """Every column of the entity -> its XDM path (Accord's namespace for columns XDM has no field for, the
    tenant namespace for custom fields)."""
    spec = xdm_class(entity)
    paths = {**COMMON, **spec.fields}
    out = {"source_id": spec.id_path, "source_key": spec.key_path}
    for col in schema.entity(entity).all_columns:
        if col.name in ("source_id", "source_key", "source_instance_id", "source_type"):
            continue
        default = f"_{tenant}/{col.name}" if col.custom else f"{TENANT}/{_camel(col.name)}"
        out[col.name] = paths.get(col.name, default)
    return out


def tenant_field_group(entity: str, schema: Schema = STANDARD, tenant: str = DEFAULT_TENANT) -> dict[str, Any]:
    """The XDM field group (JSON Schema) that declares the entity's custom fields under `_<tenant>`."""
    fields = {
        f.name: JSON_TYPES[f.column.type] | ({"title": f.label} if f.label else {})
        | ({"description": f.description} if f.description else {})
        for f in schema.custom_of(entity)
    }
    return {
        "$id": f"https://ns.adobe.com/{tenant}/mixins/accord-{entity.replace('_', '-')}-custom-fields",
        "$schema": "http://json-schema.org/draft-06/schema#",
        "title": f"Accord custom fields of {entity}",
        "type": "object",
        "meta:intendedToExtend": [xdm_class(entity).schemas[0]],
        "properties": {f"_{tenant}": {"type": "object", "properties": fields, "additionalProperties": False}},
    }


class _EntityPaths:
    """One entity's columns with their XDM paths and types, and the tenant's field group, worked out once for every
    object an export writes or an import reads."""

    def __init__(self, entity: str, schema: Schema = STANDARD, tenant: str = DEFAULT_TENANT) -> None:
        ent = schema.entity(entity)
        self.entity, self.tenant = entity, tenant
        self._paths = field_paths(entity, schema, tenant)
        self._columns = [(column, tuple(_split(path)), ent.column(column).type) for column, path in self._paths.items()]
        self._custom = _group_validator(entity, schema, tenant)


class XdmWriter(_EntityPaths):
    """Canonical records of one entity as XDM objects of its class, each validated."""

    def __init__(self, entity: str, schema: Schema = STANDARD, tenant: str = DEFAULT_TENANT) -> None:
        super().__init__(entity, schema, tenant)
        self._date_time = {column: _is_date_time(entity, path) for column, path in self._paths.items()}
        # A written object's leaves are its columns' paths: those the class declares need no check per object.
        declared, own = _declared_paths(entity), _own_namespaces(tenant)
        self._undeclared = {column: path for column, path in self._paths.items()
                            if path not in declared and _split(path)[0] not in own}

    def write(self, record: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for column, (*parents, last), kind in self._columns:
            value = record.get(column)
            if value is None:
                continue
            if column in self._undeclared:
                raise XdmError(f"{self.entity}: {self._undeclared[column]} is not a field of the XDM class or its "
                               "field groups")
            if column.endswith("_key"):
                value = _b2b_source(value)
            elif kind in (ColumnType.DATE, ColumnType.TIMESTAMP):
                value = _xdm_time(value, self._date_time[column])
            elif kind is ColumnType.JSON and not isinstance(value, str):
                value = json.dumps(value)
            elif kind is ColumnType.STRING_LIST:
                value = list(value)
            node = out
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = value
        _check_schemas(self.entity, out, self._custom, self.tenant)
        return out


def to_xdm(entity: str, record: dict[str, Any], schema: Schema = STANDARD,
           tenant: str = DEFAULT_TENANT) -> dict[str, Any]:
    """A canonical record as an XDM JSON object of the entity's class; validated before it is returned."""
    return XdmWriter(entity, schema, tenant).write(record)


class XdmReader(_EntityPaths):
    """XDM objects of one entity's class back to canonical records, each validated first; the inverse of
    `XdmWriter`."""

    def read(self, doc: dict[str, Any]) -> dict[str, Any]:
        _check_schemas(self.entity, doc, self._custom, self.tenant)
        _check_declared(self.entity, doc, self.tenant)
        record: dict[str, Any] = {}
        for column, parts, kind in self._columns:
            value: Any = doc
            for part in parts:
                value = value.get(part) if isinstance(value, dict) else None
            if value is None:
                continue
            if column.endswith("_key"):
                value = value["xdm:sourceKey"]
            elif kind is ColumnType.DATE:
                value = date.fromisoformat(value[:10])
            elif kind is ColumnType.TIMESTAMP:
                value = parse_instant(value)
            elif kind is ColumnType.STRING_LIST:
                value = json.dumps(value)
            record[column] = value
        if "source_key" in record:
            key = parse_source_key(record["source_key"])
            record["source_instance_id"] = checked_instance(key.source_instance_id)
            record["source_type"] = key.source_type
        return record


def from_xdm(entity: str, doc: dict[str, Any], schema: Schema = STANDARD,
             tenant: str = DEFAULT_TENANT) -> dict[str, Any]:
    """An XDM JSON object back to a canonical record; the inverse of `to_xdm`."""
    return XdmReader(entity, schema, tenant).read(doc)


def validate_xdm(entity: str, doc: dict[str, Any], schema: Schema = STANDARD, tenant: str = DEFAULT_TENANT) -> None:
    """Check the object against its class and field groups (the tenant's custom field group among them), and that
    every field it sets is declared there."""
    _check_schemas(entity, doc, _group_validator(entity, schema, tenant), tenant)
    _check_declared(entity, doc, tenant)


def _check_declared(entity: str, doc: dict[str, Any], tenant: str) -> None:
    """Every field the object sets is declared by its class or field groups (the tenant's part aside)."""
    declared = _declared_paths(entity)
    for path in _leaf_paths(doc, skip=_own_namespaces(tenant)):
        if path not in declared:
            raise XdmError(f"{entity}: {path} is not a field of the XDM class or its field groups")


def _own_namespaces(tenant: str) -> frozenset[str]:
    """The top-level properties Accord's own schemas check, not the XDM class: its lineage and the tenant's fields."""
    return frozenset((TENANT, f"_{tenant}"))


def _check_schemas(entity: str, doc: dict[str, Any], custom: Draft6Validator, tenant: str) -> None:
    """The object against its class and field groups, and the tenant's part against the tenant's field group."""
    # Adobe's published class schemas predate tenant field groups; the tenant's part is checked by its own.
    standard = {k: v for k, v in doc.items() if k != f"_{tenant}"}
    errors = sorted([*_validator(entity).iter_errors(standard), *custom.iter_errors(doc)],
                    key=lambda e: [str(p) for p in e.instance_path])
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.instance_path) or "(root)"
        raise XdmInvalid(f"{entity}: XDM validation failed at {where}: {first.message}")


def _b2b_source(key: str) -> dict[str, str]:
    parsed = parse_source_key(key)
    return {
        "xdm:sourceType": parsed.source_type,
        "xdm:sourceInstanceID": parsed.source_instance_id,
        "xdm:sourceID": parsed.source_id,
        "xdm:sourceKey": make_source_key(parsed.source_id, parsed.source_instance_id, parsed.source_type),
    }


def _xdm_time(value: date | datetime | str, date_time: bool) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{value.isoformat()}T00:00:00Z" if date_time else value.isoformat()


def _split(path: str) -> list[str]:
    """Path parts; the tenant namespace holds slashes of its own."""
    if path.startswith(TENANT + "/"):
        return [TENANT, *path[len(TENANT) + 1 :].split("/")]
    return path.split("/")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _leaf_paths(doc: dict[str, Any], prefix: str = "", skip: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Every leaf's path, leaving out the namespaces in `skip` (checked by their own schemas)."""
    out = []
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if key in skip:
            continue
        if isinstance(value, dict) and not _is_b2b_source(value):
            out.extend(_leaf_paths(value, path + "/"))
        else:
            out.append(path)
    return out


def _is_b2b_source(value: dict[str, Any]) -> bool:
    return "xdm:sourceKey" in value


@cache
def _schemas() -> dict[str, dict[str, Any]]:
    root = resources.files("accord.model") / "xdm_schemas"
    found: dict[str, dict[str, Any]] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        for item in node.iterdir():
            if item.is_dir():
                stack.append(item)
            elif item.name.endswith(".schema.json"):
                schema = json.loads(item.read_text())
                found[schema["$id"]] = schema
    return found


# Formats are not asserted: draft 6 leaves them to the application, and a date-time is written by `_xdm_time`.
@cache
def _validator(entity: str) -> Draft6Validator:
    composed = {"$schema": "http://json-schema.org/draft-06/schema#", "allOf": [{"$ref": s} for s in xdm_class(entity).schemas]}
    return Draft6Validator(composed, registry=_registry(), validate_formats=False)


@cache
def _registry() -> Registry:
    """The shipped schemas, folded once for every class."""
    return Registry([(uri, folded_names(schema)) for uri, schema in _schemas().items()])


def folded_names(node: Any) -> Any:
    """`node` with each object that allows only the property names some patterns match (`patternProperties` that
    accept any value, `additionalProperties: false`) checking each name once against all patterns together.

    The same verdicts: XDM's `@context` lists 40 such patterns and every field group includes it, so each name of
    each object was matched some 400 times, nine tenths of the time a person took to validate.
    """
    if isinstance(node, list):
        return [folded_names(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: folded_names(value) for key, value in node.items()}
    patterns = node.get("patternProperties")
    if not patterns or node.get("additionalProperties") is not False or any(v != {} for v in patterns.values()):
        return node
    names: dict[str, Any] = {"pattern": "|".join(f"(?:{pattern})" for pattern in patterns)}
    if node.get("properties"):
        names = {"anyOf": [{"enum": list(node["properties"])}, names]}
    folded = {k: v for k, v in node.items() if k not in ("patternProperties", "additionalProperties")}
    return {**folded, "propertyNames": names}


def _group_validator(entity: str, schema: Schema, tenant: str) -> Draft6Validator:
    return _group_validator_of(json.dumps(tenant_field_group(entity, schema, tenant), sort_keys=True))


@lru_cache(maxsize=256)
def _group_validator_of(group: str) -> Draft6Validator:
    """A tenant field group's validator, made once per group (its JSON text: a schema's custom fields are no key)."""
    return Draft6Validator(json.loads(group), validate_formats=False)


@cache
def _declared_paths(entity: str) -> dict[str, dict[str, Any]]:
    """Every property path the entity's class and field groups declare, with its schema node."""
    schemas = _schemas()
    out: dict[str, dict[str, Any]] = {}

    def resolve(ref: str, base: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        url, _, fragment = ref.partition("#")
        doc = schemas[url] if url else base
        node: Any = doc
        for part in (p for p in fragment.split("/") if p):
            node = node[part]
        return node, doc

    def walk(node: dict[str, Any], doc: dict[str, Any], prefix: str, depth: int) -> None:
        if depth > 12:
            return
        if "$ref" in node:
            target, target_doc = resolve(node["$ref"], doc)
            walk(target, target_doc, prefix, depth + 1)
        for sub in node.get("allOf", []):
            walk(sub, doc, prefix, depth + 1)
        for name, sub in node.get("properties", {}).items():
            path = f"{prefix}{name}"
            out.setdefault(path, sub)
            walk(sub, doc, path + "/", depth + 1)

    for sid in xdm_class(entity).schemas:
        walk(schemas[sid], schemas[sid], "", 0)
    return out


def _is_date_time(entity: str, path: str) -> bool:
    node = _declared_paths(entity).get(path, {})
    return node.get("format") == "date-time"
