"""A generated customer: persona, identifiers as they become known, and event ids."""

from __future__ import annotations

from dataclasses import dataclass, field
from random import Random

from pipeline.generator.personas import PERSONAS, PRODUCTS, STORES, Persona

_FIRST = ("anna", "ben", "clara", "deniz", "emil", "fatma", "greta", "hugo", "ida", "jonas")
_LAST = ("lee", "schmidt", "yilmaz", "novak", "weber", "rossi", "meyer", "kaya", "fischer")

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0 Mobile Safari/537.36"
)
DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Safari/537.36"
)


@dataclass
class Customer:
    """One person; identifiers fill in as the journey reveals them."""

    index: int
    seed: int
    persona: Persona
    city: str
    interest: str
    rng: Random
    anonymous_id: str
    device_id: str | None
    user_agent: str
    user_id: str | None = None
    email: str | None = None
    phone: str | None = None
    loyalty_id: str | None = None
    purchases: int = 0
    _sequence: int = field(default=0, repr=False)

    def event_id(self, prefix: str) -> str:
        """A new event id, unique in the run and stable for the seed."""
        self._sequence += 1
        return f"{prefix}-{self.seed}-{self.index}-{self._sequence}"

    def product(self) -> tuple[str, str, str]:
        """A product of their interest: (sku, title, price)."""
        return self.rng.choice(PRODUCTS[self.interest])

    @property
    def store(self) -> str:
        return STORES.get(self.city, "ber-mitte-01")

    def identify_email(self) -> str:
        if self.email is None:
            first, last = self.rng.choice(_FIRST), self.rng.choice(_LAST)
            self.email = f"{first}.{last}.{self.seed}.{self.index}@example.com"
        return self.email

    def sign_up(self) -> str:
        if self.user_id is None:
            self.user_id = f"u-{self.seed}-{self.index}"
            self.identify_email()
            if self.rng.random() < 0.6:
                self.phone = "+49 151 " + f"{self.rng.randrange(10**8):08d}"
        return self.user_id

    def join_loyalty(self) -> str:
        if self.loyalty_id is None:
            self.loyalty_id = f"L-{self.seed}-{self.index}"
        return self.loyalty_id


def new_customer(index: int, seed: int) -> Customer:
    """Draw the customer who arrives `index`-th; the same inputs give the same customer."""
    rng = Random(f"journeys-generator/{seed}/{index}")
    persona = rng.choices(PERSONAS, weights=[p.weight for p in PERSONAS])[0]
    mobile = rng.random() < persona.mobile
    return Customer(
        index=index,
        seed=seed,
        persona=persona,
        city=rng.choice(persona.cities),
        interest=rng.choice(persona.interests),
        rng=rng,
        anonymous_id=f"anon-{rng.getrandbits(48):012x}",
        device_id=f"dev-{rng.getrandbits(64):016x}" if mobile else None,
        user_agent=rng.choice((IPHONE, ANDROID)) if mobile else DESKTOP,
    )
