"""Identity namespaces known to Accord, and which of them hold at most one value per profile by default."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Namespace:
    name: str
    doc: str
    unique_per_profile: bool = False


NAMESPACES: dict[str, Namespace] = {
    n.name: n
    for n in (
        Namespace("email", "E-mail address, trimmed and lower-cased."),
        Namespace("b2b_person", "Source key of a lead or contact."),
        Namespace("b2b_account", "Source key of an account."),
        Namespace("crm_id", "Salesforce lead or contact id.", unique_per_profile=True),
        Namespace("marketo_lead_id", "Marketo lead id, per Marketo instance.", unique_per_profile=True),
        Namespace("anonymous_id", "Collector anonymous id."),
        Namespace("user_id", "Collector user id."),
        Namespace("ecid", "Experience Cloud id."),
        Namespace("phone", "Phone number in E.164."),
        Namespace("domain", "Web domain of an account."),
        Namespace("b2b_account_crm", "Salesforce id of an account.", unique_per_profile=True),
    )
}
