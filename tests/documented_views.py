"""The views docs/analysts.md documents, as queries to ask of a store with data in it.

Each `### name` heading of its "Views" section and each `name` of its date-range table
is a view; parameterised ones are called with the example values below for a range, so
a view documented with a parameter not listed here fails the tests that use this."""

from __future__ import annotations

import re
from datetime import date

from tests.support import REPO

ANALYSTS = REPO / "docs" / "analysts.md"

#: Example values of the views' parameters other than the range.
EXAMPLES = {
    "channel": "''",
    "campaign": "''",
    "segment": "''",
    "window_size": "86400",
    "dimension": "'all'",
    "value": "''",
    "stage": "'decision'",
    "steps": "['product_view', 'add_to_cart', 'order_placed']",
    "window_seconds": "604800",
    "grain": "'week'",
}


def documented_views() -> dict[str, list[str]]:
    """Each documented view and its parameters (the range's included)."""
    text = ANALYSTS.read_text()
    views_section = text[text.index("## 4. Views") : text.index("## 5. Recipes")]
    plain = re.findall(r"^### ([a-z_]+)$", views_section, re.MULTILINE)
    table = re.findall(r"^\| `([a-z_]+)` \| ([^|]+) \|", views_section, re.MULTILINE)
    views: dict[str, list[str]] = {name: [] for name in plain}
    for name, parameters in table:
        named = re.sub(r"\([^)]*\)", "", parameters)  # without "(`week` or `day`)" asides
        views[name] = re.findall(r"`([a-z_]+)`", named)
    return views


def view_query(name: str, parameters: list[str], since: date, until: date, customer: str) -> str:
    """SELECT * FROM the view, its parameters given example values."""
    values = {**EXAMPLES, "since": f"'{since}'", "until": f"'{until}'", "customer": f"'{customer}'"}
    if name == "customer_timeline":
        parameters = ["customer"]
    unknown = [p for p in parameters if p not in values]
    assert not unknown, f"{name}: no example value for {unknown} (tests/documented_views.py)"
    if not parameters:
        return f"SELECT * FROM {name} LIMIT 1000"
    arguments = ", ".join(f"{p} = {values[p]}" for p in dict.fromkeys(parameters))
    return f"SELECT * FROM {name}({arguments}) LIMIT 1000"
