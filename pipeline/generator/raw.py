"""Raw events in each channel system's own shape (see schemas/raw/ and the fixtures).

Every builder takes the customer (for identifiers and event ids) and the event time and
returns `(channel, payload)`: exactly what that system would put on its raw topic.
"""

from __future__ import annotations

from datetime import datetime

from pipeline.generator.customers import Customer
from schemas.touchpoint import Channel

Payload = dict[str, object]
Raw = tuple[Channel, Payload]

SHOP = "https://shop.example"


def iso(at: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as most trackers send it."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def unix(at: datetime) -> int:
    """Unix seconds, as email and SMS providers send them."""
    return int(at.timestamp())


def utm_query(source: str, medium: str, campaign: str) -> str:
    return f"utm_source={source}&utm_medium={medium}&utm_campaign={campaign}"


def ad(customer: Customer, at: datetime, platform: str, kind: str, campaign: str) -> Raw:
    """An ad impression or click on a social or video platform."""
    return Channel.ADS, {
        "event_id": customer.event_id(f"{platform[:2]}-{kind[:3]}"),
        "event_type": kind,
        "timestamp": iso(at),
        "platform": platform,
        "campaign_id": f"cmp-{campaign}",
        "campaign_name": campaign,
        "placement": f"{platform}_feed",
        "anonymous_id": customer.anonymous_id,
        "device_id": customer.device_id,
        "utm": {"source": platform, "medium": "paid_social", "campaign": campaign},
        "user_agent": customer.user_agent,
    }


def search_landing(
    customer: Customer, at: datetime, engine: str, *, paid: bool, path: str, campaign: str | None
) -> Raw:
    """A visit that starts on a search result (organic or a search ad)."""
    query = f"?{utm_query(engine, 'cpc', campaign)}" if paid and campaign else ""
    return Channel.SEARCH, {
        "event_id": customer.event_id("land"),
        "type": "landing",
        "timestamp": iso(at),
        "engine": engine,
        "paid": paid,
        "query": f"{customer.interest} shoes" if paid else None,
        "landing_url": f"{SHOP}{path}{query}",
        "referrer": f"https://www.{engine}.com/",
        "anonymous_id": customer.anonymous_id,
        "user_id": customer.user_id,
        "user_agent": customer.user_agent,
    }


def web(
    customer: Customer,
    at: datetime,
    event: str | None,
    path: str,
    utm: tuple[str, str, str] | None = None,
    **properties: object,
) -> Raw:
    """A tracker `page` call (event None) or `track` call (e.g. "Product Viewed")."""
    context: Payload = {
        "userAgent": customer.user_agent,
        "page": {"url": f"{SHOP}{path}" + (f"?{utm_query(*utm)}" if utm else ""), "path": path},
    }
    if utm:
        context["campaign"] = {"source": utm[0], "medium": utm[1], "name": utm[2]}
    payload: Payload = {
        "messageId": customer.event_id("ajs"),
        "type": "track" if event else "page",
        "anonymousId": customer.anonymous_id,
        "userId": customer.user_id,
        "timestamp": iso(at),
        "context": context,
        "properties": {"segment": customer.persona.segment, **properties},
    }
    if event:
        payload["event"] = event
    return Channel.WEB, payload


def chat(customer: Customer, at: datetime, topic: str, conversation: str, **data: object) -> Raw:
    """A chat widget webhook (conversation started, message, rated)."""
    visitor = {"anonymous_id": customer.anonymous_id, "user_id": customer.user_id}
    return Channel.CHAT, {
        "type": "notification_event",
        "id": customer.event_id("notif"),
        "topic": topic,
        "created_at": unix(at),
        "data": {"conversation_id": conversation, "visitor": visitor, **data},
    }


def popup(customer: Customer, at: datetime, event: str) -> Raw:
    """The exit-intent popup: shown, dismissed, or submitted with an email address."""
    payload: Payload = {
        "event_id": customer.event_id("om-ev"),
        "event": event,
        "timestamp": iso(at),
        "campaign_id": "exit-10off",
        "popup_id": "om-form-12",
        "trigger": "exit_intent",
        "offer": "10% off your first order",
        "anonymous_id": customer.anonymous_id,
        "page_url": f"{SHOP}/cart",
        "user_agent": customer.user_agent,
    }
    if event == "submitted":
        payload["email"] = customer.identify_email()
        payload["coupon_code"] = "SPRING10"
    return Channel.POPUP, payload


def email(
    customer: Customer, at: datetime, event: str, campaign: str, *, category: str, url: str | None
) -> Raw:
    """An email service provider event (delivered, open, click)."""
    payload: Payload = {
        "sg_event_id": customer.event_id("sg-ev"),
        "event": event,
        "timestamp": unix(at),
        "email": customer.email,
        "sg_message_id": f"msg-{campaign}-{customer.index}",
        "campaign_id": campaign,
        "category": category,
        "user_id": customer.user_id,
    }
    if url:
        payload["url"] = url
    return Channel.EMAIL, payload


def video(
    customer: Customer, at: datetime, event: str, platform: str, percent: float | None = None
) -> Raw:
    """A video player event on YouTube or the site's own player."""
    payload: Payload = {
        "event_id": customer.event_id("yt" if platform == "youtube" else "wp"),
        "event": event,
        "timestamp": iso(at),
        "platform": platform,
        "video_id": f"vid-{customer.interest}",
        "title": f"{customer.interest.replace('-', ' ').title()}: the spring test",
        "anonymous_id": customer.anonymous_id,
        "user_id": customer.user_id,
        "user_agent": customer.user_agent,
    }
    if percent is not None:
        payload["percent_watched"] = percent
    return Channel.VIDEO, payload


def order(customer: Customer, at: datetime, sku: str, price: str, quantity: int) -> Raw:
    """The shop backend's order webhook; the buyer is signed in."""
    total = f"{float(price) * quantity:.2f}"
    order_id = customer.event_id("order")
    return Channel.COMMERCE, {
        "topic": "orders/create",
        "id": order_id,
        "created_at": iso(at),
        "customer": {"id": customer.user_id, "email": customer.email, "phone": customer.phone},
        "total_price": total,
        "currency": "EUR",
        "line_items": [{"sku": sku, "quantity": quantity, "price": price}],
        "anonymous_id": customer.anonymous_id,
        "source_name": "app" if customer.device_id else "web",
    }


def loyalty(customer: Customer, at: datetime, kind: str, points: int, balance: int) -> Raw:
    """A loyalty platform event (member enrolled, points earned)."""
    return Channel.LOYALTY, {
        "id": customer.event_id("lp-evt"),
        "type": kind,
        "occurred_at": iso(at),
        "member": {
            "loyalty_id": customer.loyalty_id,
            "customer_id": customer.user_id if kind == "member.enrolled" else None,
            "email": customer.email if kind == "member.enrolled" else None,
        },
        "points": points,
        "balance": balance,
        "tier": "bronze",
        "reason": "welcome_bonus" if kind == "member.enrolled" else "purchase",
    }


def store(customer: Customer, at: datetime, kind: str, sku: str = "", price: str = "") -> Raw:
    """The point of sale: a card scanned at the entrance, or a purchase at the till."""
    payload: Payload = {
        "id": customer.event_id("pos-ev"),
        "type": kind,
        "occurred_at": iso(at),
        "store_id": customer.store,
        "loyalty_id": customer.loyalty_id,
    }
    if kind == "purchase":
        payload["register_id"] = "R1"
        payload["receipt"] = {
            "id": customer.event_id("RC"),
            "total": price,
            "currency": "EUR",
            "payment": "card",
            "items": [{"sku": sku, "quantity": 1, "price": price}],
        }
    return Channel.STORE, payload


def support(customer: Customer, at: datetime, event: str, ticket: str, rating: int | None) -> Raw:
    """A help desk ticket event."""
    payload: Payload = {
        "id": customer.event_id("zd-ev"),
        "event": event,
        "ticket_id": ticket,
        "timestamp": iso(at),
        "requester": {"email": customer.email, "user_id": customer.user_id},
        "via": "email",
        "category": "sizing",
    }
    if rating is not None:
        payload["rating"] = rating
    return Channel.SUPPORT, payload


def feedback(customer: Customer, at: datetime, kind: str, **body: object) -> Raw:
    """A review, survey answer, referral or share."""
    return Channel.FEEDBACK, {
        "id": customer.event_id("fb-ev"),
        "type": kind,
        "occurred_at": iso(at),
        "customer": {"user_id": customer.user_id, "email": customer.email},
        "platform": "trustpilot" if kind == "review.posted" else "website",
        **body,
    }


def push(customer: Customer, at: datetime, event: str, notification: str, campaign: str) -> Raw:
    """A push provider event on the customer's phone."""
    return Channel.PUSH, {
        "event_id": customer.event_id("pe"),
        "notification_id": notification,
        "event": event,
        "timestamp": unix(at),
        "device_id": customer.device_id,
        "user_id": customer.user_id,
        "campaign_id": campaign,
        "platform": "ios" if "iPhone" in customer.user_agent else "android",
    }


def sms(customer: Customer, at: datetime, event: str, message: str, campaign: str) -> Raw:
    """An SMS provider event; clicks carry the tracked link and the browser."""
    payload: Payload = {
        "EventSid": customer.event_id("EV"),
        "EventType": event,
        "Timestamp": iso(at),
        "MessageSid": message,
        "To": customer.phone,
        "CampaignId": campaign,
    }
    if event == "clicked":
        payload["Url"] = f"{SHOP}/sale?{utm_query('sms', 'sms', campaign)}"
        payload["UserAgent"] = customer.user_agent
    return Channel.SMS, payload
