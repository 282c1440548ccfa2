"""File destination settings as accord.yaml states them."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from accord.activation.destination import DestinationBase
from accord.model.names import slug


class FileDestinationConfig(DestinationBase):
    """Audience files: CSV or Parquet, snapshots or changes, written atomically with a manifest."""

    type: Literal["file"] = "file"
    keeps_files: ClassVar[bool] = True
    url: str = Field(description="Folder: a path (relative to the workspace) or an fsspec URL such as s3://bucket/x.")
    format: Literal["csv", "parquet"] = Field(default="csv", description="File format.")
    mode: Literal["snapshot", "incremental"] = Field(
        default="snapshot", description="Every member each run, or only adds and removes with a `change` column.")
    split_rows: int = Field(default=1_000_000, ge=1, description="Rows per file at most; more go to further parts.")
    hash_fields: list[str] = Field(default_factory=list, description="Fields written as SHA-256 of their value.")
    storage_options: dict[str, str] = Field(default_factory=dict, description="fsspec options (e.g. endpoint_url).")
    formulas: Literal["escape", "keep"] = Field(
        default="escape", description="CSV only. `escape`: a value a spreadsheet would run as a formula (beginning "
                                      "with = + - @, a tab or a carriage return, and holding more than a number or "
                                      "a phone number) is written after an apostrophe, so opening the file shows it "
                                      "instead; `keep` writes it as it is, for files only programs read.")

    @model_validator(mode="after")
    def _hashed_fields_are_sent(self) -> FileDestinationConfig:
        # A hash_fields entry matching no field (`Email` for `email`) would leave that value written in clear.
        unsent = [f for f in self.hash_fields if f not in self.fields]
        if unsent:
            raise ValueError(f"hash_fields {', '.join(map(repr, unsent))} not among the fields written "
                             f"({', '.join(self.fields)}): the value meant to be hashed would be written as it is, or "
                             "not at all")
        return self

    @model_validator(mode="after")
    def _one_folder_each(self) -> FileDestinationConfig:
        """Each audience is written under a folder named after it: two names one folder would mix their files."""
        folders: dict[str, str] = {}
        for name in self.audiences:
            other = folders.setdefault(slug(name), name)
            if other != name:
                raise ValueError(f"audiences {other!r} and {name!r} would share the folder {slug(name)!r}: "
                                 "send them to two file destinations, or rename one")
        return self
