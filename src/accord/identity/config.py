"""Identity settings (the `identity:` section of accord.yaml), with safe defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from accord.model.namespaces import NAMESPACES

DEFAULT_BLOCKED = (
    "",
    "null",
    "none",
    "unknown",
    "n/a",
    "na",
    "test",
    "test@test.com",
    "test@example.com",
    "email@example.com",
    "noemail@noemail.com",
    "no@email.com",
    "000000000000000",
    "000000000000000aaa",
)
DEFAULT_BLOCKED_PATTERNS = (r"^no-?reply@", r"^do-?not-?reply@", r"@example\.(com|org|net)$", r"^(test|none|null|unknown|noemail)@")


class IdentityConfig(BaseModel):
    """How records are stitched into people and accounts."""

    model_config = ConfigDict(extra="forbid")

    max_identities: int = Field(default=50, ge=2, description="Most identities one profile may hold.")
    namespace_limits: dict[str, int] = Field(
        default_factory=lambda: {"crm_id": 1, "marketo_lead_id": 1, "b2b_account_crm": 1},
        description="Most distinct values of a namespace per profile (marketo_lead_id: per Marketo instance; "
                    "crm_id and b2b_account_crm: per Salesforce org when records of several are held).",
    )
    blocked_values: list[str] = Field(
        default_factory=list, description="More placeholder values that never link anything (added to the defaults)."
    )
    link_by_phone: bool = Field(default=False, description="Let a shared phone number join records (office lines do).")
    merge_policy: Literal["timestamp", "source_precedence"] = Field(
        default="timestamp", description="timestamp: newest non-empty value wins; source_precedence: ranked sources first."
    )
    source_precedence: list[str] = Field(
        default_factory=lambda: ["Salesforce", "Marketo"],
        description="For source_precedence: source types or type/instance, most trusted first.",
    )
    fuzzy_company_threshold: float = Field(
        default=92.0, ge=50, le=100, description="Least rapidfuzz score for a lead's company to match an account name."
    )

    @field_validator("namespace_limits")
    @classmethod
    def _known_namespaces(cls, limits: dict[str, int]) -> dict[str, int]:
        # A misspelt namespace would replace the defaults and limit nothing: two CRM ids could then merge.
        unknown = sorted(set(limits) - set(NAMESPACES))
        if unknown:
            raise ValueError(f"no identity namespace {', '.join(map(repr, unknown))}; "
                             f"namespaces: {', '.join(NAMESPACES)}")
        low = sorted(name for name, limit in limits.items() if limit < 1)
        if low:
            raise ValueError(f"a limit is at least 1 value per profile ({', '.join(low)})")
        return limits

    def blocked(self) -> list[str]:
        return sorted(set(DEFAULT_BLOCKED) | {v.strip().lower() for v in self.blocked_values})
