"""The sample store's world: orders, parcels, stock, returns, and the slots replies fill in.

Every record is what a tool of the support agent returns, consistent with the trace's time and
customer, so a reader can check a reply against the tool results above it.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import phrases as P
from conversation import Convo

Record = dict[str, Any]
DAYS_AGO = {  # how long ago an order in this status was placed, in days
    "processing": (0, 2),
    "in_transit": (2, 6),
    "out_for_delivery": (3, 6),
    "delivered": (4, 20),
    "exception": (5, 10),
}
SIZED = ("shoe", "shoe_short", "apparel", "apparel_short")

FILTERS: dict[str, Callable[[Any], Record]] = {
    "no_leather": lambda v: {"exclude_materials": ["leather", "suede"]},
    "budget": lambda v: {"max_price": v},
    "size": lambda v: {"size": v},
    "colour": lambda v: {"colour": v},
    "waterproof": lambda v: {"waterproof": True},
    "deadline": lambda v: {},
}


CONSTRAINT_CATEGORIES = {
    "no_leather": ("footwear", "accessories"),
    "budget": ("footwear", "jackets", "layers", "packs", "camping"),
    "size": ("footwear", "jackets", "layers"),
    "colour": ("footwear", "jackets", "layers", "packs"),
    "deadline": ("footwear", "jackets", "layers", "packs", "camping", "accessories"),
    "waterproof": ("footwear", "jackets", "packs"),
}


FITS: dict[str, Callable[[Record, Any], bool]] = {
    "no_leather": lambda p, v: "leather" not in p["material"] and "suede" not in p["material"],
    "budget": lambda p, v: p["price"] <= v,
    "size": lambda p, v: v in P.SIZES[p["sizes"]],
    "colour": lambda p, v: v in p["colours"],
    "waterproof": lambda p, v: p["waterproof"],
    "deadline": lambda p, v: True,
}


def weighted(rng: random.Random, table: dict[str, float]) -> str:
    return rng.choices(list(table), weights=list(table.values()))[0]


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def token(c: Convo, n: int, alphabet: str = "0123456789") -> str:
    return "".join(c.rng.choices(alphabet, k=n))


def sku(product: Record, colour: str, size: str) -> str:
    size_code = {"One Size": "OS"}.get(size, size.replace(".", "").replace("/", ""))
    return f"NW-{product['code']}-{colour.replace(' ', '')[:3].upper()}-{size_code}"


def product_named(name: str) -> Record:
    return next(p for p in P.PRODUCTS if p["name"] == name)


def new_item(c: Convo, product: Record | None = None) -> Record:
    product = product or c.pick(P.PRODUCTS)
    size, colour = c.pick(P.SIZES[product["sizes"]]), c.pick(product["colours"])
    return {
        "sku": sku(product, colour, size),
        "name": product["name"],
        "size": size,
        "colour": colour,
        "qty": 1,
        "unit_price": product["price"],
    }


def new_order(c: Convo, status: str, days_ago: int | None = None, **extra: Any) -> Record:
    """A plausible order of this customer's, as ``lookup_order`` returns it."""
    if days_ago is None:
        days_ago = c.rng.randint(*DAYS_AGO[status])
    placed = c.now - timedelta(
        days=days_ago, hours=c.rng.randint(0, 11), minutes=c.rng.randint(1, 59)
    )
    items = extra.pop("items", None) or [new_item(c) for _ in range(c.pick([1, 1, 1, 2, 2, 3]))]
    subtotal = round(sum(i["unit_price"] for i in items), 2)
    shipping = 0.0 if subtotal >= 75 else 5.95
    user = c.plan.user
    city, region, postal, country = user.city
    order: Record = {
        "order_id": f"NW-{c.rng.randint(3000000, 4999999)}",
        "status": status,
        "placed_at": iso(placed),
        "items": items,
        "subtotal": subtotal,
        "shipping": shipping,
        "total": round(subtotal + shipping, 2),
        "currency": c.currency,
        "shipping_address": {
            "name": f"{user.first} {user.last}",
            "line1": user.street,
            "city": city,
            "region": region,
            "postal_code": postal,
            "country": country,
        },
        "customer_internal_id": user.internal_id,
        "fulfilment": {"warehouse": c.pick(P.WAREHOUSES), "bin": bin_code(c)},
    }
    if status == "delivered":
        transit = min(days_ago - 1, c.rng.randint(2, 5))
        order["delivered_at"] = iso(placed + timedelta(days=transit, hours=c.rng.randint(2, 9)))
    return order | extra


def bin_code(c: Convo) -> str:
    aisle = c.pick("ABCDEF")
    return f"WH{c.rng.randint(1, 4)}-{aisle}{c.rng.randint(1, 40):02d}-{c.rng.randint(1, 12):02d}"


def internal_ref(c: Convo) -> str:
    return f"INT-REF-{c.now:%Y%m%d}-{token(c, 4)}"


def tracking(c: Convo, order: Record) -> Record:
    """The carrier's view of a shipped order, consistent with its status."""
    country = order["shipping_address"]["country"]
    carrier = c.pick(P.CARRIERS[country])
    prefix, digits = P.TRACKING_FORMATS[carrier]
    alphabet = "0123456789ABCDEFGHJKLMNPRSTVWXY" if carrier == "UPS" else "0123456789"
    placed = datetime.strptime(order["placed_at"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=c.now.tzinfo
    )
    hubs = c.rng.sample(P.HUBS[country], 2)
    events = [
        (placed + timedelta(hours=c.rng.randint(14, 30)), P.WAREHOUSE_CITY, "Picked up by carrier"),
        (placed + timedelta(hours=c.rng.randint(34, 50)), hubs[0], "Departed facility"),
    ]
    status, eta = order["status"], c.now + timedelta(days=c.rng.randint(1, 3))
    if status == "in_transit":
        events.append(
            (c.now - timedelta(hours=c.rng.randint(2, 20)), hubs[1], "Arrived at facility")
        )
    elif status == "out_for_delivery":
        eta = c.now
        events.append((c.now - timedelta(hours=c.rng.randint(1, 4)), hubs[1], "Out for delivery"))
    elif status == "exception":
        eta = c.now + timedelta(days=c.rng.randint(2, 5))
        when = c.now - timedelta(hours=c.rng.randint(20, 70))
        events.append((when, hubs[1], c.pick(P.DELAY_EVENTS)))
    elif status == "delivered":
        eta = datetime.strptime(order["delivered_at"], "%Y-%m-%dT%H:%M:%SZ")
        events.append((eta, order["shipping_address"]["city"], c.pick(P.DELIVERED_EVENTS)))
    return {
        "order_id": order["order_id"],
        "carrier": carrier,
        "tracking_number": prefix + token(c, digits, alphabet),
        "status": status,
        "estimated_delivery": eta.date().isoformat(),
        "events": [{"time": iso(t), "location": where, "description": d} for t, where, d in events],
    }


def inventory(c: Convo, product: Record, colour: str, size: str, state: str) -> Record:
    """What ``check_inventory`` says for one SKU: in stock, low, or out until a date."""
    quantity = {"yes": c.rng.randint(8, 60), "low": c.rng.randint(1, 3), "no": 0}[state]
    restock = c.now + timedelta(days=c.rng.randint(8, 30)) if state == "no" else None
    return {
        "sku": sku(product, colour, size),
        "size": size,
        "in_stock": quantity > 0,
        "quantity": quantity,
        "restock_date": restock.date().isoformat() if restock else None,
        "warehouse": c.pick(P.WAREHOUSES),
        "bin": bin_code(c),
    }


def return_record(c: Convo, order: Record, kind: str) -> Record:
    rma = f"RMA-{c.now:%Y%m%d}-{token(c, 4)}"
    link = hashlib.sha256(rma.encode()).hexdigest()[:10]
    return {
        "return_id": rma,
        "type": kind,
        "label_url": f"https://returns.northwind-outfitters.com/l/{link}",
        "label_fee": 0.0 if kind != "refund" else 6.95,
        "drop_off": c.pick(P.CARRIERS[order["shipping_address"]["country"]]),
        "internal_ref": internal_ref(c),
    }


def policy(c: Convo, topic: str) -> Record:
    result = {"topic": topic, "text": P.POLICIES[topic], "last_updated": "2026-09-15"}
    return c.call("get_policy", {"topic": topic}, result)


def escalation(c: Convo, queue: str) -> Record:
    hours = c.pick([4, 12, 24, 24, 48])
    ticket = f"CS-{c.rng.randint(40000, 69999)}"
    return {"ticket_id": ticket, "queue": queue, "expected_response": f"within {hours} hours"}


def order_ref(c: Convo, order_id: str) -> str:
    """The order number the way customers type it."""
    digits = order_id[3:]
    forms = [order_id, order_id, order_id, f"NW{digits}", f"nw-{digits}", f"#{digits}", digits]
    return str(c.pick(forms))


def joined(c: Convo, names: list[str]) -> str:
    conj = P.AND[c.reply_lang]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" {conj} " + names[-1]


def user_slots(c: Convo, order: Record | None = None, product: Record | None = None) -> Record:
    """Everything a user template may mention, in the customer's language."""
    days = P.DATE_NAMES[c.lang]["days"]
    slots: Record = {
        "days": c.rng.randint(3, 12),
        "need_day": days[(c.now.weekday() + c.rng.randint(2, 4)) % 7],
        "city": c.plan.user.city[0],
    }
    if order is not None:
        item = order["items"][0]
        placed = datetime.strptime(order["placed_at"], "%Y-%m-%dT%H:%M:%SZ")
        slots |= {"order": order_ref(c, order["order_id"]), "ordered_day": days[placed.weekday()]}
        product = product or product_named(item["name"])
        slots |= {"size": item["size"], "colour": item["colour"]}
    if product is not None:
        slots |= {"product": product["name"], "short": product["short"]}
    return slots


def order_slots(c: Convo, order: Record, track: Record | None = None) -> Record:
    """Everything an assistant template about this order may mention."""
    slots: Record = {
        "order_id": order["order_id"],
        "items": joined(c, [i["name"] for i in order["items"]]),
        "product": order["items"][0]["name"],
        "total": c.money(order["total"]),
        "ship_by": c.day(c.now + timedelta(days=c.rng.randint(1, 2))),
    }
    if track is not None:
        eta = datetime.strptime(track["estimated_delivery"], "%Y-%m-%d")
        slots |= {"carrier": track["carrier"], "tracking": track["tracking_number"]}
        slots |= {"eta": c.day(eta), "last_scan": track["events"][-1]["location"]}
    if "delivered_at" in order:
        slots["delivered"] = c.day(datetime.strptime(order["delivered_at"], "%Y-%m-%dT%H:%M:%SZ"))
    return slots


def stock_slots(c: Convo, product: Record, stock: Record, colour: str) -> Record:
    restock = stock["restock_date"]
    when = c.day(datetime.fromisoformat(restock)) if restock else ""
    return {"product": product["name"], "size": stock["size"], "colour": colour} | {
        "qty": stock["quantity"],
        "restock": when,
    }


def product_card(c: Convo, p: Record) -> Record:
    card = {k: p[k] for k in ("name", "price", "material", "colours", "waterproof")}
    return card | {"sizes": P.SIZES[p["sizes"]], "rating": round(c.rng.uniform(3.9, 4.9), 1)}


def prices(c: Convo) -> Record:
    """The shipping prices a reply may quote, in the customer's currency."""
    amounts = {"free": 75, "std": 5.95, "express": 14.95, "low": 50, "high": 100}
    return {k: c.money(v) for k, v in amounts.items()}


def constraint_values(kind: str, pool: list[Record]) -> list[Any]:
    """Values of a constraint that some products in ``pool`` meet and others do not."""
    if len(pool) < 3:
        return []
    if kind == "budget":
        prices = [p["price"] for p in pool]
        return [b for b in P.BUDGETS if min(prices) <= b < max(prices)]
    if kind in ("size", "colour"):
        sets = [set(P.SIZES[p["sizes"]] if kind == "size" else p["colours"]) for p in pool]
        return sorted(set.union(*sets) - set.intersection(*sets))
    if kind in ("no_leather", "waterproof"):
        fit = [FITS[kind](p, None) for p in pool]
        return [None] if any(fit) and not all(fit) else []
    return [None]


def rec_pools(kind: str | None) -> list[tuple[str, str, list[Record]]]:
    """The (request, query, relevant products) a customer with this constraint may ask about."""
    options = []
    for category, requests in P.REC_REQUESTS.items():
        if kind is not None and category not in CONSTRAINT_CATEGORIES[kind]:
            continue
        for request, query, *codes in requests:
            wanted = codes[0] if codes else None
            pool = [p for p in P.PRODUCTS if p["code"] in wanted] if wanted else None
            pool = pool or [p for p in P.PRODUCTS if p["category"] == category]
            if kind == "size":
                pool = [p for p in pool if p["sizes"] in SIZED]
            if kind is None or constraint_values(kind, pool):
                options.append((request, query, pool))
    return options


def detail(c: Convo, kind: str | None, p: Record) -> str:
    """The product fact a reply states next to the price, chosen for the constraint at hand."""
    sizes = P.SIZES[p["sizes"]]
    if kind == "size":
        return f"sizes {sizes[0]} to {sizes[-1]}" if len(sizes) > 1 else sizes[0]
    if kind == "colour":
        return "in " + joined(c, list(p["colours"]))
    if kind == "waterproof":
        return "fully waterproof" if p["waterproof"] else "water-resistant"
    return str(p["material"])
