"""Pieces that several raw contracts share."""

from __future__ import annotations

from pydantic import AliasChoices, AwareDatetime, BaseModel, ConfigDict, Field

#: Raw contracts ignore fields they do not know and accept field names or aliases.
RAW = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, str_strip_whitespace=True)

#: Event time as ISO 8601 with an offset, or Unix seconds (milliseconds when > 2e10).
EventTime = AwareDatetime

#: A JSON scalar as it may appear in free-form properties.
Scalar = str | int | float | bool | None


class Utm(BaseModel):
    """UTM parameters as trackers report them."""

    model_config = RAW

    source: str | None = None
    medium: str | None = None
    campaign: str | None = Field(
        default=None, validation_alias=AliasChoices("campaign", "name")
    )  # Segment calls it `name`
    content: str | None = None
    term: str | None = None
