"""Budget alerts (issue 16, point 3): the soft threshold, 90 % and 100 % of a hard budget each
e-mail the tenant's users once a month.

Counted from the tenants' stream like the roll-ups: every write to a budget item (spend added
by a terminal write, a budget set or changed) is a record whose new image holds the budget,
this month's spend and the levels already mailed (`alerts_<YYYY-MM>`). A level crossed and
not yet mailed is claimed with a conditional write first (one claim wins, however often the
record is seen), then mailed through Django's e-mail backend; a message that cannot be sent
gives its claim back and fails the record, which is retried. Only the current month alerts:
a record of last month's spend read after the month ended mails nothing. The levels live on
the budget item, so a change of budget never mails a level again within the month.
"""

import logging
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from outpost_admin.dynamo import from_item, utcnow
from tenants import budgets
from tenants.memberships import member_list

logger = logging.getLogger(__name__)
PREFIX = "[Outpost] "
WHAT = {
    "soft": "has crossed its soft threshold of {soft}",
    "p90": "has reached 90 % of its hard budget of {hard}",
    "p100": "has reached its hard budget of {hard}: new dispatches are refused until {reset}",
}


def is_budget(image: dict[str, Any]) -> bool:
    sk = str(image.get("sk", {}).get("S", ""))
    return sk == budgets.TENANT_SK or sk.startswith(budgets.KEY_SK)


def budget_record(image: dict[str, Any]) -> list[str]:
    """A budget item's new image: mail what it newly crossed this month. Returns the levels
    this call claimed (and mailed)."""
    data = from_item(image)
    tenant_id = str(data["tenant_id"])
    now = utcnow()
    budget = budgets.from_image(data, budgets.month_of(now))
    due = [level for level in budget.crossed if level not in budget.alerted]
    claimed = [
        level
        for level in due
        if budgets.alert_claim(
            tenant_id, api_key_id=budget.api_key_id, month=budget.month, level=level
        )
    ]
    if not claimed:
        return []
    try:
        _mail(tenant_id, budget, claimed[-1], now)
    except Exception:
        for level in claimed:
            budgets.alert_release(
                tenant_id, api_key_id=budget.api_key_id, month=budget.month, level=level
            )
        raise
    logger.info("budget alert %s of %s sent (%s)", claimed, tenant_id, budget.month)
    return claimed


def recipients(tenant_id: str) -> list[str]:
    """The tenant's users, by the address they sign in with."""
    found = set()
    for membership in member_list(tenant_id=tenant_id):
        user = membership.user
        address = user.email or (user.username if "@" in user.username else "")
        if address:
            found.add(address)
    return sorted(found)


def _mail(tenant_id: str, budget: budgets.Budget, level: str, now: Any) -> None:
    """One message for the highest level newly crossed (several at once: one message)."""
    to = recipients(tenant_id)
    if not to:
        return
    whose = f"API key {budget.api_key_id}" if budget.api_key_id else "Your tenant"
    reset = budgets.resets_at(now).strftime("%Y-%m-%d %H:%M UTC")
    what = WHAT[level].format(
        soft=budgets.usd(budget.soft), hard=budgets.usd(budget.hard), reset=reset
    )
    subject = f"{whose} {what.split(':')[0]} ({budget.month})"
    body = (
        f"{whose} {what}.\n\n"
        f"Spent in {budget.month}: {budgets.usd(budget.spent)} "
        f"(hard budget {budgets.usd(budget.hard)}, soft threshold {budgets.usd(budget.soft)}).\n"
        f"The month's count starts again at {reset}.\n\n{reverse('dispatches:home')}\n"
    )
    send_mail(PREFIX + subject, body, settings.DEFAULT_FROM_EMAIL, to)
