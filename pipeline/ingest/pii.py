"""Personal data at the edge: emails and phone numbers become keyed hashes here.

Nothing past the normaliser sees a raw address or number. The hash is an HMAC-SHA256
under a secret key (`JOURNEYS_PRIVACY_HASH_KEY`), so the same person hashes the same way
on every channel, and nobody without the key can test guesses against the hashes.

Usage:
    hasher = PiiHasher(b"secret key")
    hasher.email("  Ann.Lee@Example.COM ")   # same as hasher.email("ann.lee@example.com")
    hasher.phone("+49 30 1234567")           # same as hasher.phone("+49301234567")
"""

from __future__ import annotations

import hashlib
import hmac
import re

import phonenumbers

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: Shorter "numbers" (short codes, typos) would collapse many people onto one hash.
_MIN_DIGITS = 6


class InvalidPersonalData(ValueError):
    """An email address or phone number that cannot be normalised (never echoes it)."""


class PiiHasher:
    """Normalises and hashes personal identifiers with one secret key."""

    def __init__(self, key: bytes, default_region: str = "US") -> None:
        self._key = key
        self._region = default_region

    def email(self, address: str) -> str:
        """Hash of an email address: trimmed, lower-cased, shape-checked."""
        normalised = address.strip().lower()
        if not _EMAIL.match(normalised):
            raise InvalidPersonalData("not an email address")
        return self._hash("email", normalised)

    def phone(self, number: str) -> str:
        """Hash of a phone number in E.164 form (national numbers use the default region)."""
        try:
            parsed = phonenumbers.parse(number, self._region)
        except phonenumbers.NumberParseException:
            raise InvalidPersonalData("not a phone number") from None
        national = phonenumbers.national_significant_number(parsed)
        if len(national) < _MIN_DIGITS or not phonenumbers.is_possible_number(parsed):
            raise InvalidPersonalData("not a possible phone number")
        return self._hash(
            "phone", phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        )

    def _hash(self, kind: str, value: str) -> str:
        # The kind is part of the message: an email and a phone never share a hash.
        return hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
