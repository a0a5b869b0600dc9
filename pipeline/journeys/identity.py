"""Which customer a touchpoint belongs to, until identity stitching links identifiers.

The one place that chooses the customer key: the strongest identifier present.
"""

from __future__ import annotations

from schemas.touchpoint import Identities

#: Identifiers from strongest to weakest, with the prefix that keeps their spaces apart.
ORDER: tuple[tuple[str, str], ...] = (
    ("user_id", "user"),
    ("email_hash", "email"),
    ("phone_hash", "phone"),
    ("loyalty_id", "loyalty"),
    ("anonymous_id", "anon"),
    ("device_id", "device"),
)


def customer_key(identities: Identities) -> str | None:
    """`user:<id>`, else `email:<hash>`, ... else None when the touchpoint has no identifier."""
    for field, prefix in ORDER:
        value = getattr(identities, field)
        if value:
            return f"{prefix}:{value}"
    return None
