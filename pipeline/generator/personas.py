"""Buyer personas: who the generated customers are and how they behave.

A persona sets the channels a customer meets the brand on and the odds of each step of
the journey. The numbers are plausible for a mid-sized online shop with stores; they are
inputs to a simulation, not claims about real people.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Persona:
    """One buyer persona and the odds of its journey steps."""

    segment: str  # the label analysts break counts down by
    age_band: str
    cities: tuple[str, ...]
    interests: tuple[str, ...]  # product families they look at
    weight: float  # share of new customers
    entry: dict[str, float]  # how they first meet the brand -> weight
    mobile: float  # share of visits from a phone (app device ids, push)
    click_ad: float  # an ad impression becomes a click
    consider: float  # awareness -> a research visit later
    decide: float  # research -> a visit that puts something in the cart
    buy: float  # cart -> order (the decision step; 1 - its drop-off)
    chat: float  # asks the chatbot during research
    give_email: float  # accepts the exit-intent popup's discount
    join_loyalty: float  # after the first order
    repeat: float  # buys again (in the store when they have a card)
    advocate: float  # reviews, refers or shares
    retry: float  # comes back to the cart after leaving it


PERSONAS: tuple[Persona, ...] = (
    Persona(
        segment="young-urban",
        age_band="18-24",
        cities=("Berlin", "Hamburg", "Cologne"),
        interests=("sneakers", "streetwear"),
        weight=0.28,
        entry={"instagram": 0.45, "tiktok": 0.35, "google_organic": 0.2},
        mobile=0.85,
        click_ad=0.4,
        consider=0.55,
        decide=0.45,
        buy=0.78,
        chat=0.25,
        give_email=0.45,
        join_loyalty=0.35,
        repeat=0.3,
        advocate=0.35,
        retry=0.3,
    ),
    Persona(
        segment="outdoor-enthusiast",
        age_band="25-34",
        cities=("Munich", "Freiburg", "Berlin"),
        interests=("trail-running", "hiking"),
        weight=0.24,
        entry={"youtube": 0.35, "google_organic": 0.35, "google_paid": 0.3},
        mobile=0.55,
        click_ad=0.3,
        consider=0.65,
        decide=0.5,
        buy=0.84,
        chat=0.35,
        give_email=0.35,
        join_loyalty=0.45,
        repeat=0.4,
        advocate=0.3,
        retry=0.35,
    ),
    Persona(
        segment="busy-parent",
        age_band="35-44",
        cities=("Frankfurt", "Stuttgart", "Hamburg"),
        interests=("kids", "running"),
        weight=0.22,
        entry={"facebook": 0.45, "google_paid": 0.35, "bing_paid": 0.2},
        mobile=0.6,
        click_ad=0.25,
        consider=0.5,
        decide=0.5,
        buy=0.82,
        chat=0.3,
        give_email=0.4,
        join_loyalty=0.3,
        repeat=0.35,
        advocate=0.15,
        retry=0.4,
    ),
    Persona(
        segment="bargain-hunter",
        age_band="25-54",
        cities=("Leipzig", "Dortmund", "Berlin"),
        interests=("sale", "running"),
        weight=0.16,
        entry={"google_paid": 0.4, "google_organic": 0.3, "facebook": 0.3},
        mobile=0.5,
        click_ad=0.35,
        consider=0.6,
        decide=0.4,
        buy=0.74,
        chat=0.2,
        give_email=0.7,
        join_loyalty=0.25,
        repeat=0.2,
        advocate=0.1,
        retry=0.45,
    ),
    Persona(
        segment="loyal-local",
        age_band="45-64",
        cities=("Berlin", "Munich", "Hamburg"),
        interests=("hiking", "walking"),
        weight=0.10,
        entry={"google_organic": 0.5, "facebook": 0.3, "youtube": 0.2},
        mobile=0.3,
        click_ad=0.2,
        consider=0.6,
        decide=0.55,
        buy=0.86,
        chat=0.4,
        give_email=0.3,
        join_loyalty=0.7,
        repeat=0.6,
        advocate=0.4,
        retry=0.3,
    ),
)

#: Products by interest: (sku, title, price).
PRODUCTS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "sneakers": (("sku-city-10", "City Sneaker", "89.00"), ("sku-court-12", "Court Low", "99.00")),
    "streetwear": (("sku-hood-21", "Logo Hoodie", "69.00"), ("sku-cap-03", "Cap", "25.00")),
    "trail-running": (
        ("sku-trail-42", "Trail Runner", "129.00"),
        ("sku-vest-05", "Run Vest", "79.00"),
    ),
    "hiking": (("sku-hike-31", "Hiking Boot", "159.00"), ("sku-pole-08", "Trek Poles", "59.00")),
    "kids": (("sku-kid-14", "Kids Runner", "49.00"), ("sku-kid-15", "Kids Rain Jacket", "45.00")),
    "running": (
        ("sku-road-40", "Road Runner", "119.00"),
        ("sku-sock-07", "Running Socks", "12.00"),
    ),
    "sale": (("sku-out-90", "Last Season Runner", "59.00"), ("sku-out-91", "Outlet Tee", "15.00")),
    "walking": (("sku-walk-22", "Comfort Walker", "109.00"), ("sku-insole-3", "Insoles", "29.00")),
}

#: Stores by city.
STORES: dict[str, str] = {
    "Berlin": "ber-mitte-01",
    "Hamburg": "ham-city-01",
    "Munich": "muc-center-01",
    "Cologne": "cgn-dom-01",
    "Frankfurt": "fra-zeil-01",
}
