"""Pieces that several raw contracts share."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from pydantic import AliasChoices, AwareDatetime, BaseModel, ConfigDict, Field, WithJsonSchema

#: Raw contracts ignore fields they do not know and accept field names or aliases.
RAW = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, str_strip_whitespace=True)

#: Event time as ISO 8601 with an offset, or Unix seconds (milliseconds when > 2e10).
EventTime = Annotated[
    AwareDatetime,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "number", "description": "Unix seconds (milliseconds when > 2e10)"},
            ]
        }
    ),
]

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


#: An amount of money as a non-negative decimal string, e.g. "129.00".
Amount = Annotated[str, Field(pattern=r"^\d{1,12}(\.\d{1,4})?$")]

#: An ISO 4217 currency code, upper-case, e.g. "EUR".
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]

#: An id that systems send as a number or a string; kept as text.
RawId = Annotated[
    str,
    Field(min_length=1, max_length=200, coerce_numbers_to_str=True),
    WithJsonSchema({"type": ["string", "integer"], "minLength": 1, "maxLength": 200}),
]


class LineItem(BaseModel):
    """One product line of an order, refund or receipt."""

    model_config = RAW

    sku: str | None = None
    quantity: int = Field(ge=1)
    price: Amount = Field(description="unit price")


def item_count(items: Iterable[LineItem]) -> int:
    """How many units the lines add up to."""
    return sum(item.quantity for item in items)
