"""How much of the machine a sandbox's store may take (the `store:` section of accord.yaml)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB|%)\s*$", re.IGNORECASE)
UNITS = {"bytes": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
         "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "pib": 2**50}
SAID = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(bytes|KiB|MiB|GiB|TiB|PiB)\s*$")
"""An amount of memory as DuckDB says it (`953.6 MiB`, `18.8 GiB`)."""
LEAST_MEMORY = 256 * 2**20
"""Below this DuckDB fails Accord's own queries (a join of a few thousand rows) for want of memory."""


class StoreConfig(BaseModel):
    """The store's share of this machine: by default DuckDB's own, up to 80 % of its memory and every core."""

    model_config = ConfigDict(extra="forbid")

    memory_limit: str | None = Field(
        default=None, description="Most memory the store uses, e.g. `4GB`, `512MiB` or `50%` of this machine's; "
                                  "past it, large joins and sorts spill to a folder beside the store (slower, "
                                  "never lost). Default: 80 %.")
    threads: int | None = Field(default=None, ge=1, le=1024,
                                description="Cores the store's queries run on. Default: all of them.")

    @field_validator("memory_limit")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is None:
            return None
        found = MEMORY.match(value)
        if not found:
            raise ValueError(f"{value!r} is no amount of memory: write it as 4GB, 512MiB or 50%")
        amount, unit = float(found.group(1)), found.group(2).lower()
        if unit == "%" and not 0 < amount <= 100:
            raise ValueError(f"{value!r}: a share of memory is more than 0 % and at most 100 %")
        if unit != "%" and amount * UNITS[unit] < LEAST_MEMORY:
            raise ValueError(f"{value!r} is too little for the store: give it at least 256MiB")
        return f"{found.group(1)}{found.group(2)}"

    def settings(self) -> dict[str, str | int]:
        """The DuckDB settings a store opens with (see `Lake`)."""
        held = {"memory_limit": self.memory_limit, "threads": self.threads}
        return {name: value for name, value in held.items() if value is not None}


def said_bytes(said: str) -> int:
    """The bytes in an amount of memory as DuckDB says it (`953.6 MiB`); ValueError for anything else."""
    found = SAID.match(said)
    if not found:
        raise ValueError(f"{said!r} is no amount of memory DuckDB says")
    return int(float(found.group(1)) * UNITS[found.group(2).lower()])
