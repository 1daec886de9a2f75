"""The mirror's manifest: which dates an account's mirror covers, where each month's object is, and the sync cursor.

The manifest is the one place that makes objects visible: a sync writes month objects under new keys and then
publishes a manifest naming them, with a conditional write on `version`. A sync that dies before publishing leaves
the previous manifest (and its objects) as they were; two syncs at once cannot both publish over the same version.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class MonthObject(BaseModel):
    """One month's object: its key in the bucket, how many entries it holds, and when it was last pulled whole."""

    model_config = ConfigDict(extra="ignore")

    key: str
    count: int = 0
    full_at: datetime | None = None
    # When the object's names were current (a rename does not touch datemodified): when it was written, or, for a
    # month rewritten with the stored names it was loaded with, when those were.
    written_at: datetime | None = None


class MirrorManifest(BaseModel):
    """An account's mirror as last published (`version` 0: nothing published yet)."""

    model_config = ConfigDict(extra="ignore")

    account: str
    version: int = 0
    # The newest `datemodified` (UTC) a sync has seen: the next sync asks from it less the overlap.
    cursor: datetime | None = None
    # A plain default (pydantic copies it per instance): `default_factory=list` has pydantic read list's signature,
    # which compiles the tokenizer's patterns, about a millisecond of a cold start.
    covered: list[tuple[date, date]] = []
    months: dict[str, MonthObject] = Field(default_factory=dict)
    updated_at: datetime | None = None

    @property
    def entries(self) -> int:
        return sum(month.count for month in self.months.values())
