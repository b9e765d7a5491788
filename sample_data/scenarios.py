"""One conversation per customer intent, each enacting the failure modes seeded into its trace.

The wording comes from ``phrases.py`` and the facts from ``world.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import phrases as P
from conversation import Convo
from world import (
    FILTERS,
    FITS,
    SIZED,
    Record,
    constraint_values,
    detail,
    escalation,
    internal_ref,
    inventory,
    iso,
    new_item,
    new_order,
    order_slots,
    policy,
    prices,
    product_card,
    product_named,
    rec_pools,
    return_record,
    stock_slots,
    token,
    tracking,
    user_slots,
    weighted,
)

STATUSES = {
    "processing": 18,
    "in_transit": 40,
    "out_for_delivery": 8,
    "delivered": 19,
    "exception": 15,
}
USER_KEY = {  # the status an order has, and what a customer then tends to write about it
    "processing": "not_shipped",
    "exception": "late",
    "in_transit": "late",
    "delivered": "delivered_missing",
}


def handoff(c: Convo, topic: str, order: Record | None = None) -> bool:
    """Escalate to a human although the agent could have answered, when that is seeded."""
    if not c.has("premature_handoff"):
        return False
    if order is not None and c.chance(0.5):
        c.call("lookup_order", {"order_id": order["order_id"]}, order)
    reason = c.pick(P.HANDOFF_REASONS[topic])
    ticket = c.call("escalate_to_human", {"reason": reason}, escalation(c, "tier1"))
    c.final(c.say("handoff_premature", ticket=ticket["ticket_id"]))
    return True


def ask_for_order(c: Convo, key: str, slots: Record) -> None:
    """The customer forgets the order number; the agent asks for it."""
    c.user(key, **slots)
    c.assistant(c.say("ask_order_id"))
    c.user("give_order_id", **slots)


def order_status(c: Convo) -> None:
    status = weighted(c.rng, STATUSES)
    order = new_order(c, status)
    oid, slots = order["order_id"], user_slots(c, order)
    key = "generic"
    if c.plan.user.channel != "email" and c.chance(0.3):
        ask_for_order(c, "os_noid", slots)
    else:
        key = c.pick(["generic", USER_KEY.get(status, "generic")])
        c.user(f"os_{key}", **slots)
    if handoff(c, "order_status", order):
        return
    if c.has("missing_tool_call"):
        carrier = c.pick(P.CARRIERS[order["shipping_address"]["country"]])
        eta = c.day(c.now + timedelta(days=c.rng.randint(1, 3)))
        c.final(c.say("invented_status", order_id=oid, carrier=carrier, eta=eta))
        return
    track = tracking(c, order) if status != "processing" else None
    if track is not None and c.chance(0.4):
        args = {"order_id": oid}
        c.calls([("lookup_order", args, order), ("get_tracking", args, track)])
    else:
        c.call("lookup_order", {"order_id": oid}, order)
        if track is not None:
            c.call("get_tracking", {"order_id": oid}, track)
    reply = "delivered_missing" if key == "delivered_missing" else status
    c.final(c.say(f"status_{reply}", **order_slots(c, order, track)))


def return_exchange(c: Convo) -> None:
    late = c.chance(0.15)
    order = new_order(
        c, "delivered", days_ago=c.rng.randint(36, 70) if late else c.rng.randint(5, 27)
    )
    item = order["items"][0]
    product = product_named(item["name"])
    sizes = P.SIZES[product["sizes"]]
    exchange = product["sizes"] in SIZED and c.chance(0.4)
    reason = c.pick(["too_small", "too_large"]) if exchange else c.pick(list(P.REASONS["en"]))
    step = 1 if reason == "too_small" else -1
    new_size = sizes[min(max(sizes.index(item["size"]) + step, 0), len(sizes) - 1)]
    slots = user_slots(c, order) | {"reason": P.REASONS[c.lang][reason], "new_size": new_size}
    c.user("exchange_request" if exchange else "return_request", **slots)
    if handoff(c, "return", order):
        return
    c.call("lookup_order", {"order_id": order["order_id"]}, order)
    policy(c, "returns")
    invented = c.has("invented_policy")
    reply = order_slots(c, order) | {"new_size": new_size, "fee": c.money(6.95)}
    if late and not invented:
        c.final(c.say("return_too_late", **reply))
        return
    if c.chance(0.35):
        c.assistant(c.say("return_confirm_q", **reply))
        c.user("confirm_yes")
    if exchange:
        stock = inventory(c, product, item["colour"], new_size, "yes")
        c.call("check_inventory", {"sku": stock["sku"], "size": new_size}, stock)
    kind = "exchange" if exchange else "refund"
    args = {
        "order_id": order["order_id"],
        "items": [{"sku": item["sku"], "qty": 1}],
        "reason": reason,
    }
    rma = return_record(c, order, kind)
    c.call("start_return", args | {"type": kind}, rma)
    reply |= {"rma": rma["return_id"], "label_url": rma["label_url"]}
    rule = c.say("invented_returns") if invented else c.say("policy_returns_ok", **reply)
    c.final(c.say(f"{kind}_started", **reply) + " " + rule)


def refund_status(c: Convo) -> None:
    order = new_order(c, "delivered", days_ago=c.rng.randint(12, 30))
    stage = weighted(c.rng, {"processed": 45, "pending": 30, "not_received": 25})
    amount = round(order["items"][0]["unit_price"] - 6.95, 2)
    done = c.now - timedelta(days=c.rng.randint(1, 4))
    order["return"] = {
        "return_id": f"RMA-{done:%Y%m%d}-{token(c, 4)}",
        "status": "in_transit" if stage == "not_received" else "received",
        "refund": {
            "status": {"processed": "processed", "pending": "pending"}.get(stage, "not_started"),
            "amount": amount,
            "processed_at": iso(done) if stage == "processed" else None,
            "internal_ref": internal_ref(c),
        },
    }
    slots = user_slots(c, order)
    c.user("refund_status", **slots)
    reply = order_slots(c, order) | {"amount": c.money(amount), "done": c.day(done)}
    invented = c.has("invented_policy")
    if c.has("missing_tool_call"):
        rule = " " + c.say("invented_refunds") if invented else ""
        c.final(c.say("invented_refund", **reply) + rule)
        return
    c.call("lookup_order", {"order_id": order["order_id"]}, order)
    core = c.say(f"refund_{stage}", **reply)
    if invented or c.chance(0.3):
        policy(c, "refunds")
        core += " " + c.say("invented_refunds" if invented else "policy_refunds_ok")
    c.final(core)


def product_rec(c: Convo) -> None:
    kind = c.plan.constraint
    request, query, pool = c.pick(rec_pools(kind))
    category = pool[0]["category"]
    if len({p["category"] for p in pool}) == 1 and len(pool) > 4:
        pool = c.rng.sample(pool, len(pool))
    value = c.pick(constraint_values(kind, pool)) if kind else None
    if kind == "deadline":
        value = P.DATE_NAMES["en"]["days"][(c.now.weekday() + c.rng.randint(2, 3)) % 7]
    shown = c.money(value).replace(".00", "") if kind == "budget" else value
    ask = c.pick(P.CONSTRAINT_ASKS[kind]).format(value=shown) if kind else ""
    if c.chance(0.35):
        c.user_text(request)
        c.assistant(c.say("rec_clarify"))
        c.user("rec_detail", tail=ask)
    else:
        c.user_text(f"{request} {ask}".strip())
    if handoff(c, "product_rec"):
        return
    ignore = c.has("ignored_constraint")
    fits = [p for p in pool if kind is None or FITS[kind](p, value)]
    if ignore and kind != "deadline":
        miss = next(p for p in pool if p not in fits)
        hits = [miss, *[p for p in pool if p is not miss][:2]]
    else:
        hits = fits[:3]
    filters = {"category": category} | ({} if ignore or kind is None else FILTERS[kind](value))
    result = {"results": [product_card(c, p) for p in hits], "total_matches": len(hits) + 7}
    c.call("search_products", {"query": query, "filters": filters}, result)
    acknowledge = kind not in (None, "deadline") and not ignore
    lines = [c.say(f"ack_{kind}", value=shown) if acknowledge else c.say("rec_intro")]
    bullet = c.pick(P.BOT["en"]["rec_item"])
    for p in hits[: c.pick([2, 2, 3])]:
        line = bullet.format(
            product=p["name"], price=c.money(p["price"]), detail=detail(c, kind, p)
        )
        lines.append(f"{line} {p['blurb']}")
    if kind == "deadline":
        lines.append(
            c.say("deadline_ignored" if ignore else "deadline_ok", value=value, **prices(c))
        )
    c.final("\n".join(lines))
    if c.chance(0.35):
        stock_question(c, hits[0])


def stock_question(c: Convo, product: Record) -> None:
    """A follow-up: is the recommended product in stock in my size?"""
    size, colour = c.pick(P.SIZES[product["sizes"]]), c.pick(product["colours"])
    key = "rec_followup" if product["sizes"] in SIZED else "rec_followup_one"
    c.user(key, short=product["short"], size=size, colour=colour)
    state = weighted(c.rng, {"yes": 60, "low": 20, "no": 20})
    stock = inventory(c, product, colour, size, state)
    c.call("check_inventory", {"sku": stock["sku"], "size": size}, stock)
    key = f"stock_{state}" if product["sizes"] in SIZED else f"stock_{state}_one"
    c.assistant(c.say(key, **stock_slots(c, product, stock, colour)))


def sizing(c: Convo) -> None:
    product = c.pick([p for p in P.PRODUCTS if p["sizes"] in SIZED])
    sizes = P.SIZES[product["sizes"]]
    usual = c.pick(sizes[1:-1])
    kind = "shoe" if product["sizes"].startswith("shoe") else "apparel"
    slots = user_slots(c, product=product) | {"size": usual, "brand": c.pick(P.OTHER_BRANDS[kind])}
    c.user(f"sizing_{kind}", **slots | {"height": c.pick(P.HEIGHTS)})
    if handoff(c, "sizing"):
        return
    card = product_card(c, product) | {"fit": P.FIT_NOTES[product["fit"]]}
    c.call("search_products", {"query": product["name"], "filters": {}}, {"results": [card]})
    step = {"small": 1, "large": -1}.get(product["fit"], 0)
    advised = sizes[sizes.index(usual) + step]
    core = c.say(f"size_{product['fit']}", product=product["name"], size=usual, advised=advised)
    if c.chance(0.6):
        colour = c.pick(product["colours"])
        state = weighted(c.rng, {"yes": 70, "low": 15, "no": 15})
        stock = inventory(c, product, colour, advised, state)
        c.call("check_inventory", {"sku": stock["sku"], "size": advised}, stock)
        core += " " + c.say(f"stock_{state}", **stock_slots(c, product, stock, colour))
    c.final(core)


def change_address(c: Convo) -> None:
    order = new_order(c, c.pick(["processing", "processing", "processing", "in_transit"]))
    city, region, postal, country = c.pick(P.LOCALES[c.plan.user.locale]["cities"])
    street = f"{c.rng.randint(2, 2400)} {c.pick(P.LOCALES[c.plan.user.locale]['streets'])}"
    address = f"{street}, {city}, {region} {postal}".replace(",  ", ", ")
    c.user("change_address", **user_slots(c, order) | {"address": address})
    if handoff(c, "change_address", order):
        return
    c.call("lookup_order", {"order_id": order["order_id"]}, order)
    reply = order_slots(c, order) | {"address": address}
    if order["status"] == "processing":
        new = {
            "line1": street,
            "city": city,
            "region": region,
            "postal_code": postal,
            "country": country,
        }
        result = {"ok": True, "order_id": order["order_id"], "shipping_address": new}
        c.call("update_address", {"order_id": order["order_id"], "address": new}, result)
        c.final(c.say("address_updated", **reply))
    else:
        track = c.call("get_tracking", {"order_id": order["order_id"]}, tracking(c, order))
        c.final(c.say("address_too_late", **reply | order_slots(c, order, track)))


def damaged_item(c: Convo) -> None:
    order = new_order(c, "delivered", days_ago=c.rng.randint(3, 20))
    item = order["items"][0]
    product = product_named(item["name"])
    specific = P.DAMAGE_BY_CODE.get(product["code"], []) if c.lang == "en" else []
    problem = c.pick(specific + P.DAMAGE[c.lang][product["category"]] + P.DAMAGE[c.lang]["any"])
    c.user("damaged", **user_slots(c, order) | {"problem": problem})
    c.call("lookup_order", {"order_id": order["order_id"]}, order)
    policy(c, "damaged_items")
    invented = c.has("invented_policy")
    reply = order_slots(c, order) | {"product": item["name"], "size": item["size"]}
    if order["total"] > 250 and not invented and c.chance(0.6):
        reason = f"Damage claim over 250 on {order['order_id']} ({item['name']}): {problem}"
        ticket = c.call("escalate_to_human", {"reason": reason}, escalation(c, "claims"))
        c.final(c.say("damage_review", ticket=ticket["ticket_id"], **reply))
        return
    if c.chance(0.55):
        stock = inventory(c, product, item["colour"], item["size"], "yes")
        c.call("check_inventory", {"sku": item["sku"], "size": item["size"]}, stock)
        rma = return_record(c, order, "replacement")
        args = {"order_id": order["order_id"], "items": [{"sku": item["sku"], "qty": 1}]}
        c.call("start_return", args | {"reason": "damaged", "type": "replacement"}, rma)
        core = c.say(
            "damage_replacement", rma=rma["return_id"], label_url=rma["label_url"], **reply
        )
    else:
        amount = round(item["unit_price"] + order["shipping"], 2)
        refund = {"refund_id": f"RF-{token(c, 8)}", "amount": amount, "status": "processed"}
        refund |= {"eta_business_days": "3-5", "internal_ref": internal_ref(c)}
        c.call("issue_refund", {"order_id": order["order_id"], "amount": amount}, refund)
        core = c.say("damage_refund", amount=c.money(amount), **reply)
    rule = c.say("invented_damaged") if invented else c.say("policy_damaged_ok")
    c.final(f"{core} {rule}")


def promo_code(c: Convo) -> None:
    case = weighted(c.rng, {"valid": 30, "expired": 25, "min_spend": 20, "retro": 25})
    codes = [code for code in P.PROMO_CODES if code[2] > 0 or case != "min_spend"]
    code, percent, minimum = c.pick(codes)
    order = new_order(c, "processing", days_ago=c.rng.randint(0, 3))
    c.user(f"promo_{case}", **user_slots(c, order) | {"code": code})
    if handoff(c, "promo_code"):
        return
    expired = c.now - timedelta(days=c.rng.randint(2, 20))
    result = {"code": code, "valid": case in ("valid", "retro"), "discount_percent": percent}
    result |= {
        "min_spend": minimum,
        "expires": (expired if case == "expired" else c.now + timedelta(days=30))
        .date()
        .isoformat(),
    }
    if case == "expired":
        result["reason"] = "expired"
    c.call("validate_promo", {"code": code}, result)
    invented = c.has("invented_policy")
    if case == "retro" or invented:
        policy(c, "promotions")
    reply = {
        "code": code,
        "percent": percent,
        "min_spend": c.money(minimum),
        "expired": c.day(expired),
    }
    reply |= order_slots(c, order)
    if invented and case == "retro":
        c.final(c.say("invented_promo_retro", **reply))
        return
    core = c.say(f"promo_{case}" + ("_any" if case == "valid" and not minimum else ""), **reply)
    if invented:
        core += " " + c.say("invented_promotions", **reply)
    c.final(core)


def cancel_order(c: Convo) -> None:
    open_ = c.chance(0.55)
    order = new_order(c, "processing" if open_ else c.pick(["processing", "in_transit"]))
    order["fulfilment"]["state"] = "awaiting_pick" if open_ else "packed"
    if order["status"] == "in_transit":
        order["fulfilment"]["state"] = "shipped"
    slots = user_slots(c, order) | {"reason": c.pick(P.CANCEL_REASONS[c.lang])}
    c.user("cancel", **slots)
    reply = order_slots(c, order)
    if c.has("missing_tool_call"):
        c.final(c.say("invented_cancel", **reply))
        return
    c.call("lookup_order", {"order_id": order["order_id"]}, order)
    if open_:
        result = {"ok": True, "order_id": order["order_id"], "refund_amount": order["total"]}
        result |= {"refund_eta_business_days": "3-5", "internal_ref": internal_ref(c)}
        c.call("cancel_order", {"order_id": order["order_id"]}, result)
        c.final(c.say("cancelled", **reply))
    else:
        c.final(c.say("cannot_cancel", **reply))


def warranty(c: Convo) -> None:
    case = weighted(c.rng, {"defect": 55, "wear": 25, "expired": 20})
    months = c.rng.randint(27, 40) if case == "expired" else c.rng.randint(3, 22)
    product = c.pick([p for p in P.PRODUCTS if p["category"] in P.WARRANTY_PROBLEMS[case]])
    order = new_order(c, "delivered", days_ago=months * 30, items=[new_item(c, product)])
    problem = c.pick(P.WARRANTY_PROBLEMS[case][product["category"]])
    slots = user_slots(c, order) | {"months": months, "problem": problem}
    if c.chance(0.3):
        ask_for_order(c, "warranty_noid", slots)
    else:
        c.user("warranty", **slots)
    c.call("lookup_order", {"order_id": order["order_id"]}, order)
    policy(c, "warranty")
    reply = order_slots(c, order) | {"months": months, "problem": problem}
    if case == "defect" or c.has("invented_policy"):
        rma = return_record(c, order, "warranty")
        args = {
            "order_id": order["order_id"],
            "items": [{"sku": order["items"][0]["sku"], "qty": 1}],
        }
        c.call("start_return", args | {"reason": "warranty", "type": "warranty"}, rma)
        core = c.say("warranty_claim", rma=rma["return_id"], label_url=rma["label_url"], **reply)
        if c.has("invented_policy"):
            core += " " + c.say("invented_warranty")
        c.final(core)
    else:
        c.final(c.say(f"warranty_{case}", **reply))


def stock_check(c: Convo) -> None:
    product = c.pick([p for p in P.PRODUCTS if p["sizes"] in SIZED])
    size, colour = c.pick(P.SIZES[product["sizes"]]), c.pick(product["colours"])
    c.user("stock", **user_slots(c, product=product) | {"size": size, "colour": colour})
    if handoff(c, "stock_check"):
        return
    if c.has("missing_tool_call"):
        c.final(c.say("invented_stock", product=product["name"], size=size, colour=colour))
        return
    state = weighted(c.rng, {"yes": 45, "low": 20, "no": 35})
    stock = inventory(c, product, colour, size, state)
    c.call("check_inventory", {"sku": stock["sku"], "size": size}, stock)
    c.final(c.say(f"stock_{state}", **stock_slots(c, product, stock, colour)))


def shipping_info(c: Convo) -> None:
    topic = c.pick(["free", "express", "international", "po_box", "time"])
    dest = c.pick(P.DESTINATIONS)
    need_day = P.DATE_NAMES["en"]["days"][(c.now.weekday() + c.rng.randint(2, 4)) % 7]
    c.user(f"ship_{topic}", dest=dest, need_day=need_day)
    if handoff(c, "shipping"):
        return
    policy(c, "shipping")
    key = "invented_shipping" if c.has("invented_policy") else f"ship_{topic}"
    c.final(c.say(key, dest=dest, need_day=need_day, **prices(c)))


def account_billing(c: Convo) -> None:
    case = c.pick(["double_charge", "login", "fraud", "gift_card"])
    order = new_order(c, c.pick(["processing", "in_transit"]))
    c.user(f"billing_{case}", **user_slots(c, order))
    if case == "double_charge":
        c.call("lookup_order", {"order_id": order["order_id"]}, order)
    queue = "trust_safety" if case == "fraud" else "billing"
    ticket = c.call(
        "escalate_to_human", {"reason": c.pick(P.BILLING_REASONS[case])}, escalation(c, queue)
    )
    c.final(c.say(f"billing_{case}", ticket=ticket["ticket_id"], hours=ticket["expected_response"]))


def after_main(c: Convo) -> None:
    """What may follow the main answer: thanks, or asking for a person (a fair escalation)."""
    roll = c.rng.random()
    if roll < 0.03 and c.plan.intent != "account_billing" and not c.has("premature_handoff"):
        c.user("human_request")
        reason = "Customer asked to speak with a person after the answer above"
        ticket = c.call("escalate_to_human", {"reason": reason}, escalation(c, "tier1"))
        c.assistant(c.say("human_request_reply", ticket=ticket["ticket_id"]))
    elif roll < 0.33:
        c.user("thanks")
        c.assistant(c.say("closing"))


SCENARIOS: dict[str, Callable[[Convo], None]] = {
    "order_status": order_status,
    "return_exchange": return_exchange,
    "refund_status": refund_status,
    "product_rec": product_rec,
    "sizing": sizing,
    "change_address": change_address,
    "damaged_item": damaged_item,
    "promo_code": promo_code,
    "cancel_order": cancel_order,
    "warranty": warranty,
    "stock_check": stock_check,
    "shipping_info": shipping_info,
    "account_billing": account_billing,
}
