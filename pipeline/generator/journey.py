"""One customer's journey as a sequence of visits, rendered as raw channel events.

    walk(customer, arrived, incidents) -> [(event time, (channel, raw payload)), ...]

A visit happens at the stage the customer is in and either moves them on (a product
view, a cart, an order) or ends there; the odds come from the persona, or from an
incident running at that moment. Customers come back after days, up to a few times, like
the journey in docs/domain: an ad, a search a week later, the popup, the newsletter, the
purchase, the loyalty programme, a repeat purchase, a review.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pipeline.generator import raw
from pipeline.generator.customers import Customer
from pipeline.generator.incidents import Incident, advance_probability

Timed = tuple[datetime, raw.Raw]

#: Hour-of-day weights of visits (local evenings and lunch breaks are busy).
HOURS = (1, 1, 1, 1, 1, 1, 2, 4, 6, 7, 8, 9, 12, 11, 9, 8, 8, 10, 13, 15, 15, 12, 7, 3)
_ADS = ("instagram", "tiktok", "facebook", "youtube")
MAX_VISITS = 8


class Journey:
    """Walks one customer through visits; `events` collects what the channels emit."""

    def __init__(
        self, customer: Customer, incidents: tuple[Incident, ...], driver: str | None = None
    ) -> None:
        self.customer = customer
        self.rng = customer.rng
        self.incidents = incidents
        # With a driver (an entry, e.g. google_organic), only customers who first came
        # that way buy, and they come back that way (retargeting): it earns every order.
        self.driver = driver
        self.entry: str | None = None
        self.events: list[Timed] = []
        self.at = datetime.min
        self.stage: str | None = None
        self.visits = 0

    # -- time ------------------------------------------------------------------------------

    def _emit(self, event: raw.Raw) -> None:
        self.events.append((self.at, event))

    def _wait(self, low: float, high: float) -> datetime:
        """Move the clock on by low..high seconds; the new time."""
        self.at += timedelta(seconds=self.rng.uniform(low, high))
        return self.at

    def _days_later(self, low: float, high: float) -> None:
        """The next visit: some days later, at a busy hour of that day."""
        day = self.at + timedelta(days=self.rng.uniform(low, high))
        hour = self.rng.choices(range(24), weights=HOURS)[0]
        start = day.replace(hour=hour, minute=0, second=0, microsecond=0)
        self.at = max(start + timedelta(seconds=self.rng.uniform(0, 3600)), self.at)

    def _moves_on(self, stage: str, usual: float) -> bool:
        return self.rng.random() < advance_probability(self.incidents, stage, self.at, usual)

    # -- the walk --------------------------------------------------------------------------

    def walk(self, arrived: datetime) -> list[Timed]:
        self.at = arrived
        comes_back = self.first_visit()
        while comes_back and self.visits < MAX_VISITS:
            self._days_later(1, 9 if self.stage == "awareness" else 5)
            if self.stage == "awareness":
                comes_back = self.return_visit()
            elif self.stage == "consideration":
                comes_back = self.research_visit()
            else:
                comes_back = self.cart_visit(reminded=True)
        return self.events

    def first_visit(self) -> bool:
        """An ad or a search result; the landing page; maybe a product. Back later?"""
        persona = self.customer.persona
        self.visits += 1
        self.stage = "awareness"
        entry = self.rng.choices(list(persona.entry), weights=list(persona.entry.values()))[0]
        self.entry = entry
        return self._enter(entry, first=True)

    def _enter(self, entry: str, first: bool) -> bool:
        """A visit through `entry` (an ad or a search result) to the landing page; on a
        first visit, maybe a product. Back later?"""
        persona, customer = self.customer.persona, self.customer
        campaign = f"spring-{entry}"
        if entry in _ADS:
            self._emit(raw.ad(customer, self.at, entry, "impression", campaign))
            if self.rng.random() >= persona.click_ad:
                return self.rng.random() < persona.consider
            self._wait(5, 60)
            self._emit(raw.ad(customer, self.at, entry, "click", campaign))
            self._wait(2, 10)
            utm = (entry, "paid_social", campaign)
            self._emit(raw.web(customer, self.at, None, "/spring", utm))
        else:
            engine, _, kind = entry.partition("_")
            self._emit(
                raw.search_landing(
                    customer, self.at, engine, paid=kind == "paid", path="/", campaign=campaign
                )
            )
            self._wait(2, 10)
            self._emit(raw.web(customer, self.at, None, "/"))
        if not first:
            return True
        if self._moves_on("awareness", persona.consider * 0.5):
            return self.research_visit(continued=True)
        return self.rng.random() < persona.consider

    @property
    def _driven(self) -> bool:
        return self.driver is not None and self.entry == self.driver

    def return_visit(self) -> bool:
        """Back through a search, an email or a push; looks at a product, or leaves again."""
        customer, persona = self.customer, self.customer.persona
        self.visits += 1
        self._arrive()
        if self._moves_on("awareness", persona.consider):
            return self.research_visit(continued=True)
        self._wait(20, 120)
        self._emit(raw.web(customer, self.at, None, "/about"))
        return self.rng.random() < 0.3

    def _arrive(self) -> None:
        """How a returning visitor gets to the site."""
        customer = self.customer
        if self._driven:
            assert self.driver is not None
            self._enter(self.driver, first=False)
            return
        if customer.email and self.rng.random() < 0.5:
            url = f"{raw.SHOP}/new?{raw.utm_query('newsletter', 'email', 'newsletter')}"
            self._emit(
                raw.email(
                    customer, self.at, "delivered", "newsletter", category="newsletter", url=None
                )
            )
            self._wait(600, 7200)
            self._emit(
                raw.email(customer, self.at, "open", "newsletter", category="newsletter", url=None)
            )
            self._wait(10, 90)
            self._emit(
                raw.email(customer, self.at, "click", "newsletter", category="newsletter", url=url)
            )
            if self.rng.random() < 0.4:
                self._wait(20, 60)
                self._emit(raw.video(customer, self.at, "view_started", "youtube"))
                self._wait(60, 300)
                self._emit(raw.video(customer, self.at, "completed", "youtube", 100.0))
            self._wait(5, 30)
            self._emit(
                raw.web(customer, self.at, None, "/new", ("newsletter", "email", "newsletter"))
            )
        elif customer.device_id and customer.user_id and self.rng.random() < 0.5:
            notification = customer.event_id("n")
            self._emit(raw.push(customer, self.at, "sent", notification, "weekend-push"))
            self._wait(60, 3600)
            self._emit(raw.push(customer, self.at, "opened", notification, "weekend-push"))
            self._wait(3, 20)
            self._emit(raw.web(customer, self.at, None, "/"))
        elif customer.phone and self.rng.random() < 0.3:
            message = customer.event_id("SM")
            self._emit(raw.sms(customer, self.at, "delivered", message, "flash-sale"))
            self._wait(60, 1800)
            self._emit(raw.sms(customer, self.at, "clicked", message, "flash-sale"))
            self._wait(2, 10)
            self._emit(raw.web(customer, self.at, None, "/sale", ("sms", "sms", "flash-sale")))
        else:
            self._emit(
                raw.search_landing(customer, self.at, "google", paid=False, path="/", campaign=None)
            )
            self._wait(2, 10)
            self._emit(raw.web(customer, self.at, None, "/"))

    def research_visit(self, continued: bool = False) -> bool:
        """Products, maybe a video, the chatbot, the exit-intent popup; maybe the cart."""
        customer, persona = self.customer, self.customer.persona
        if not continued:
            self.visits += 1
            self._arrive()
        self.stage = "consideration"
        sku, _, price = customer.product()
        for _ in range(self.rng.randint(1, 3)):
            self._wait(15, 120)
            self._emit(
                raw.web(
                    customer,
                    self.at,
                    "Product Viewed",
                    f"/p/{sku}",
                    product_id=sku,
                    price=float(price),
                )
            )
        if self.rng.random() < 0.2:
            self._wait(10, 60)
            self._emit(raw.video(customer, self.at, "completed", "website", 100.0))
        if self.rng.random() < persona.chat:
            conversation = customer.event_id("conv")
            self._wait(20, 90)
            self._emit(
                raw.chat(customer, self.at, "conversation.started", conversation, author="user")
            )
            self._wait(20, 120)
            self._emit(
                raw.chat(customer, self.at, "conversation.message", conversation, author="bot")
            )
        if self._moves_on("consideration", persona.decide):
            return self.cart_visit(continued=True)
        if customer.email is None and self.rng.random() < 0.6:
            self._wait(10, 60)
            submitted = self.rng.random() < persona.give_email
            self._emit(raw.popup(customer, self.at, "shown"))
            self._wait(3, 20)
            self._emit(raw.popup(customer, self.at, "submitted" if submitted else "dismissed"))
            if submitted:
                self._wait(30, 120)
                self._emit(
                    raw.email(
                        customer,
                        self.at,
                        "delivered",
                        "welcome-coupon",
                        category="coupon",
                        url=None,
                    )
                )
        return self.rng.random() < 0.7

    def cart_visit(self, continued: bool = False, reminded: bool = False) -> bool:
        """Signs in, fills the cart, and orders, or leaves the cart (the decision step)."""
        customer, persona = self.customer, self.customer.persona
        if not continued:
            self.visits += 1
            if reminded and customer.email and not self._driven:
                url = f"{raw.SHOP}/cart?{raw.utm_query('reminder', 'email', 'cart-reminder')}"
                self._emit(
                    raw.email(
                        customer, self.at, "click", "cart-reminder", category="reminder", url=url
                    )
                )
                self._wait(5, 30)
            else:
                self._arrive()
        event = "Signed In" if customer.user_id else "Signed Up"
        customer.sign_up()
        self._wait(10, 60)
        self._emit(raw.web(customer, self.at, event, "/account"))
        self.stage = "decision"
        sku, _, price = customer.product()
        self._wait(10, 90)
        self._emit(
            raw.web(
                customer, self.at, "Product Added", f"/p/{sku}", product_id=sku, price=float(price)
            )
        )
        undriven = self.driver is not None and not self._driven
        if undriven or not self._moves_on("decision", persona.buy):
            if self.rng.random() < 0.5:
                self._wait(20, 120)
                self._emit(
                    raw.web(customer, self.at, "Checkout Started", "/checkout", value=float(price))
                )
            return self.rng.random() < persona.retry
        self._wait(20, 120)
        self._emit(raw.web(customer, self.at, "Checkout Started", "/checkout", value=float(price)))
        self._wait(60, 240)
        self._emit(raw.order(customer, self.at, sku, price, self.rng.choice((1, 1, 1, 2))))
        customer.purchases += 1
        self.after_purchase()
        return False

    def after_purchase(self) -> None:
        """Thank-you email, loyalty, support, a repeat purchase, a review or a referral."""
        customer, persona = self.customer, self.customer.persona
        self._wait(60, 300)
        self._emit(
            raw.email(
                customer, self.at, "delivered", "thank-you", category="transactional", url=None
            )
        )
        self.stage = "retention"
        if self.rng.random() < persona.join_loyalty:
            self._wait(300, 3600)
            customer.join_loyalty()
            self._emit(raw.loyalty(customer, self.at, "member.enrolled", 50, 50))
        if self.rng.random() < 0.12:
            self._days_later(2, 10)
            ticket = customer.event_id("t")
            self._emit(raw.support(customer, self.at, "ticket.created", ticket, None))
            self._wait(3600, 20000)
            self._emit(raw.support(customer, self.at, "ticket.solved", ticket, None))
            self._wait(600, 7200)
            self._emit(
                raw.support(customer, self.at, "ticket.rated", ticket, self.rng.randint(2, 5))
            )
        if self.rng.random() < persona.repeat:
            self._days_later(7, 30)
            self._repeat_purchase()
        if self.rng.random() < persona.advocate:
            self._days_later(3, 20)
            self._advocate()

    def _repeat_purchase(self) -> None:
        customer = self.customer
        sku, _, price = customer.product()
        if customer.loyalty_id:
            self._emit(raw.store(customer, self.at, "visit"))
            self._wait(300, 1500)
            self._emit(raw.store(customer, self.at, "purchase", sku, price))
            self._wait(1, 60)
            points = int(float(price))
            self._emit(raw.loyalty(customer, self.at, "points.earned", points, 50 + points))
        else:
            self._arrive()
            self._wait(20, 120)
            self._emit(
                raw.web(
                    customer,
                    self.at,
                    "Product Added",
                    f"/p/{sku}",
                    product_id=sku,
                    price=float(price),
                )
            )
            self._wait(60, 240)
            self._emit(raw.order(customer, self.at, sku, price, 1))
        customer.purchases += 1

    def _advocate(self) -> None:
        customer = self.customer
        kind = self.rng.choices(("review", "referral", "nps"), weights=(5, 2, 3))[0]
        if kind == "review":
            rating = self.rng.choices((5, 4, 3, 2, 1), weights=(50, 30, 10, 6, 4))[0]
            review = {
                "rating": rating,
                "text": "Fits well." * rating,
                "product_id": customer.product()[0],
            }
            self._emit(raw.feedback(customer, self.at, "review.posted", review=review))
        elif kind == "referral":
            code = f"REF-{customer.index}"
            self._emit(raw.feedback(customer, self.at, "referral.sent", referral={"code": code}))
        else:
            score = self.rng.choices(range(11), weights=(1, 1, 1, 1, 2, 3, 5, 8, 12, 14, 10))[0]
            survey = {"id": "nps-q", "kind": "nps", "score": score}
            self._emit(raw.feedback(customer, self.at, "survey.answered", survey=survey))


def walk(
    customer: Customer,
    arrived: datetime,
    incidents: tuple[Incident, ...] = (),
    driver: str | None = None,
) -> list[Timed]:
    """Every event of one customer's journey, in event-time order."""
    return Journey(customer, incidents, driver).walk(arrived)
