"""The canonical B2B model: entities, their columns and which columns each one requires."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum


class ColumnType(str, Enum):
    """Logical column types; `lake/` turns them into DuckDB types."""

    STRING = "string"
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"
    JSON = "json"
    STRING_LIST = "string_list"


S, N, I, B, D, T, J = (
    ColumnType.STRING,
    ColumnType.NUMBER,
    ColumnType.INTEGER,
    ColumnType.BOOLEAN,
    ColumnType.DATE,
    ColumnType.TIMESTAMP,
    ColumnType.JSON,
)


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType = ColumnType.STRING
    required: bool = False
    is_email: bool = False
    doc: str = ""
    custom: bool = False
    """Declared by the workspace (a custom field), not by Accord's model."""
    label: str = ""


@dataclass(frozen=True)
class Entity:
    """One canonical entity. `immutable` entities (events) never get new versions of a key."""

    name: str
    columns: tuple[Column, ...]
    doc: str
    immutable: bool = False
    references: dict[str, str] = field(default_factory=dict)

    @property
    def all_columns(self) -> tuple[Column, ...]:
        return SOURCE_KEY_COLUMNS + self.columns + LINEAGE_COLUMNS

    @property
    def mappable_columns(self) -> tuple[Column, ...]:
        """Columns a mapping may fill: the source id, the source timestamps and the entity's own."""
        return (SOURCE_KEY_COLUMNS[0], LINEAGE_COLUMNS[-2], LINEAGE_COLUMNS[-1]) + self.columns

    def with_columns(self, extra: tuple[Column, ...]) -> Entity:
        """This entity with a workspace's custom fields after its own columns."""
        return replace(self, columns=self.columns + extra) if extra else self

    def column(self, name: str) -> Column:
        for col in self.all_columns:
            if col.name == name:
                return col
        raise KeyError(name)


SOURCE_KEY_COLUMNS: tuple[Column, ...] = (
    Column("source_id", S, required=True, doc="The record's id in its source system."),
    Column("source_instance_id", S, required=True, doc="Munchkin id, Salesforce org id or file source name."),
    Column("source_type", S, required=True, doc="Marketo, Salesforce, File, Collector, ..."),
    Column("source_key", S, required=True, doc="source_id@source_instance_id.source_type"),
)

LINEAGE_COLUMNS: tuple[Column, ...] = (
    Column("batch_id", I, required=True, doc="The ingest batch that wrote this version."),
    Column("source_row", I, doc="1-based row of the record in the batch's input."),
    Column("ingested_at", T, required=True, doc="When Accord wrote this version (UTC)."),
    Column("record_hash", S, required=True, doc="Hash of the canonical values; equal hashes are equal versions."),
    Column("source_updated_at", T, doc="When the source last changed the record (UTC)."),
    Column("is_deleted", B, doc="Soft delete reported by the source."),
)

ACCOUNT = Entity(
    "account",
    (
        Column("name", S, doc="Account (company) name."),
        Column("domain", S, doc="Primary web domain, lower-case, without www."),
        Column("website", S),
        Column("industry", S),
        Column("employees", I, doc="Number of employees."),
        Column("annual_revenue", N),
        Column("currency_code", S),
        Column("account_type", S, doc="Customer, Prospect, Partner, ..."),
        Column("country", S),
        Column("state", S),
        Column("city", S),
        Column("phone", S),
        Column("parent_account_key", S, doc="Source key of the parent account."),
        Column("crm_account_id", S, doc="The Salesforce account id a non-CRM source carries."),
        Column("created_at", T),
    ),
    "A business account (company).",
    references={"parent_account_key": "account"},
)

PERSON = Entity(
    "person",
    (
        Column("person_type", S, doc="lead or contact."),
        Column("email", S, is_email=True),
        Column("first_name", S),
        Column("last_name", S),
        Column("job_title", S),
        Column("seniority", S, doc="Executive, Director, Manager, Individual Contributor, ..."),
        Column("department", S),
        Column("phone", S),
        Column("company_name", S, doc="Company as typed on the lead, before account matching."),
        Column("company_website", S),
        Column("account_key", S, doc="Source key of the account the source links the person to."),
        Column("lead_status", S),
        Column("lead_source", S),
        Column("lead_score", N),
        Column("is_converted", B, doc="A lead converted to a contact."),
        Column("converted_date", D),
        Column("converted_contact_key", S, doc="Source key of the contact a converted lead became."),
        Column("converted_account_key", S),
        Column("crm_lead_id", S, doc="Salesforce lead id carried by a non-CRM source (e.g. Marketo)."),
        Column("crm_contact_id", S, doc="Salesforce contact id carried by a non-CRM source."),
        Column("crm_account_id", S, doc="Salesforce account id carried by a non-CRM source."),
        Column("email_opt_out", B, doc="The person opted out of marketing email."),
        Column("country", S),
        Column("city", S),
        Column("created_at", T),
        Column("user_id", S, doc="The collector's userId (Segment spec)."),
        Column("anonymous_id", S, doc="The collector's anonymousId (Segment spec)."),
        Column("marketing_consent", S, doc="y or n: may the person be sent to marketing destinations."),
        Column("do_not_call", B, doc="The person asked not to be called: no destination that phones them."),
        Column("do_not_call_reason", S, doc="Why the person may not be called."),
        Column("email_invalid", B, doc="The e-mail address bounces or is invalid: nothing is sent to it."),
        Column("ads_consent", S, doc="y or n: may the person be targeted with ads (LinkedIn, Google)."),
        Column("share_consent", S, doc="y or n: may the person's data go to other companies."),
        Column("personalize_consent", S, doc="y or n: may sites, apps and sales personalise for the person."),
        Column("collect_consent", S, doc="y or n: may Accord collect what the person does (events)."),
        Column("consent_reason", S, doc="Why the record states its consent (an unsubscribe reason, the form, the CMP)."),
        Column("merged_into_key", S, doc="Source key of the record the source merged this one into (Marketo's "
               "Merge Leads): its events and relations belong to that person now."),
    ),
    "A person: a lead or a contact.",
    references={"account_key": "account", "converted_contact_key": "person", "converted_account_key": "account",
                "merged_into_key": "person"},
)

OPPORTUNITY = Entity(
    "opportunity",
    (
        Column("name", S),
        Column("account_key", S),
        Column("stage", S),
        Column("amount", N),
        Column("currency_code", S),
        Column("close_date", D),
        Column("is_closed", B),
        Column("is_won", B),
        Column("probability", N),
        Column("opportunity_type", S),
        Column("lead_source", S),
        Column("forecast_category", S),
        Column("campaign_key", S),
        Column("created_at", T),
    ),
    "A sales opportunity on an account.",
    references={"account_key": "account", "campaign_key": "campaign"},
)

ACCOUNT_PERSON = Entity(
    "account_person",
    (
        Column("account_key", S, required=True),
        Column("person_key", S, required=True),
        Column("role", S),
        Column("is_primary", B),
        Column("is_active", B),
        Column("start_date", D),
        Column("end_date", D),
    ),
    "A person's relation to an account, with role.",
    references={"account_key": "account", "person_key": "person"},
)

OPPORTUNITY_PERSON = Entity(
    "opportunity_person",
    (
        Column("opportunity_key", S, required=True),
        Column("person_key", S, required=True),
        Column("role", S),
        Column("is_primary", B),
    ),
    "A person's role on an opportunity (Salesforce OpportunityContactRole).",
    references={"opportunity_key": "opportunity", "person_key": "person"},
)

CAMPAIGN = Entity(
    "campaign",
    (
        Column("name", S),
        Column("campaign_type", S),
        Column("status", S),
        Column("channel", S),
        Column("start_date", D),
        Column("end_date", D),
        Column("is_active", B),
        Column("parent_campaign_key", S),
        Column("created_at", T),
    ),
    "A campaign (Salesforce Campaign, Marketo program).",
    references={"parent_campaign_key": "campaign"},
)

CAMPAIGN_MEMBER = Entity(
    "campaign_member",
    (
        Column("campaign_key", S, required=True),
        Column("person_key", S, required=True),
        Column("status", S),
        Column("has_responded", B),
        Column("first_responded_date", D),
        Column("membership_date", T),
    ),
    "A person's membership of a campaign, with status.",
    references={"campaign_key": "campaign", "person_key": "person"},
)

MARKETING_LIST = Entity(
    "marketing_list",
    (Column("name", S), Column("description", S), Column("created_at", T)),
    "A marketing (static) list.",
)

MARKETING_LIST_MEMBER = Entity(
    "marketing_list_member",
    (
        Column("marketing_list_key", S, required=True),
        Column("person_key", S, required=True),
        Column("added_at", T),
    ),
    "A person on a marketing list.",
    references={"marketing_list_key": "marketing_list", "person_key": "person"},
)

EVENT = Entity(
    "event",
    (
        Column("event_type", S, required=True, doc="Dotted type such as web.pageview or email.click."),
        Column("timestamp", T, required=True),
        Column("person_key", S, doc="Source key of the person; empty for anonymous events."),
        Column("anonymous_id", S),
        Column("url", S),
        Column("campaign_key", S),
        Column("marketing_list_key", S),
        Column("properties", J, doc="Everything else the source said, as a JSON object."),
    ),
    "An experience event (web visit, email, form fill, score change, ...).",
    immutable=True,
    references={"person_key": "person", "campaign_key": "campaign", "marketing_list_key": "marketing_list"},
)

ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        ACCOUNT,
        PERSON,
        OPPORTUNITY,
        ACCOUNT_PERSON,
        OPPORTUNITY_PERSON,
        CAMPAIGN,
        CAMPAIGN_MEMBER,
        MARKETING_LIST,
        MARKETING_LIST_MEMBER,
        EVENT,
    )
}

EVENT_TYPES: tuple[str, ...] = (
    "web.pageview",
    "web.formfill",
    "web.linkclick",
    "email.sent",
    "email.delivered",
    "email.open",
    "email.click",
    "email.bounce",
    "email.unsubscribe",
    "lead.created",
    "lead.score_change",
    "lead.data_change",
    "list.add",
    "webinar.attend",
    "ad.click",
    "program.status_change",
)


def get_entity(name: str) -> Entity:
    """The entity called `name`, or a clear error listing the known ones."""
    try:
        return ENTITIES[name]
    except KeyError:
        raise ValueError(f"unknown entity {name!r}; known entities: {', '.join(ENTITIES)}") from None
