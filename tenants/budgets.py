"""Budgets (issue 16, point 3): a tenant's, and each of its keys', monthly hard budget and
soft threshold, and what was spent against them. Their only owner, as counters.py is the
quotas': the create's and the finish's transactions take these as named actions.

Items, in the tenant's own partition of the tenants table (nothing another tenant writes):

- `sk = BUDGET`: `hard`, `soft` (micro-USD; absent: none), `spend_<YYYY-MM>` (micro-USD
  recorded that month, by the terminal writes), `alerts_<YYYY-MM>` (the alert levels mailed
  that month: `soft`, `p90`, `p100`), `updatedAt`.
- `sk = BUDGET#KEY#<apiKeyId>`: the same for one key, with `apiKeyId`.

The budget and the spend sit on one item, so the create's condition compares the two
(`#spend < hard`) as they are when it commits: a budget lowered, raised or spend recorded a
moment before is seen, whatever any process has cached. A month is a name: a new month
starts at nothing with no reset to run, and the names of months older than the last one are
removed by each terminal write (at most two months' names stay: the item stays small).
"""

import calendar
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from outpost_admin.dynamo import Action, Conflict, call, from_item, iso, to_item, values
from outpost_admin.dynamo.paging import query_all
from outpost_admin.dynamo.tables import TENANTS

TENANT_SK = "BUDGET"
KEY_SK = "BUDGET#KEY#"
LEVELS = ("soft", "p90", "p100")  # the alerts, in the order they are crossed
KEPT_MONTHS = 12  # the older names each terminal write removes (a month before, back a year)
MICROS = 1_000_000


@dataclass(frozen=True)
class Budget:
    """One budget as it stands in `month`: amounts in micro-USD."""

    month: str
    hard: int | None = None
    soft: int | None = None
    spent: int = 0
    alerted: frozenset[str] = field(default_factory=frozenset)
    api_key_id: str = ""

    @property
    def over(self) -> bool:
        """At or over the hard budget: creates are refused until the month ends."""
        return self.hard is not None and self.spent >= self.hard

    @property
    def crossed(self) -> list[str]:
        """The alert levels the spend has reached, in order."""
        levels = []
        if self.soft is not None and self.spent >= self.soft:
            levels.append("soft")
        if self.hard is not None and self.spent * 10 >= self.hard * 9:
            levels.append("p90")
        if self.over:
            levels.append("p100")
        return levels

    @property
    def resets_at(self) -> datetime:
        """When this month's count ends."""
        year, number = (int(part) for part in self.month.split("-"))
        return resets_at(datetime(year, number, 1, tzinfo=UTC))

    def projection(self, now: datetime) -> int:
        """The month's spend if it goes on at the pace so far (micro-USD): what was spent,
        over the share of the month gone by (at least an hour of it, so a first dispatch
        does not project a fortune)."""
        year, number = (int(part) for part in self.month.split("-"))
        start = datetime(year, number, 1, tzinfo=UTC)
        length = (resets_at(start) - start).total_seconds()
        gone = min(length, max(3600.0, (now.astimezone(UTC) - start).total_seconds()))
        return round(self.spent * length / gone)

    @property
    def warning(self) -> bool:
        """What a banner shows: the soft threshold or 90 % reached."""
        return bool(self.crossed)


def month_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")


def resets_at(moment: datetime) -> datetime:
    """The start of the next month (UTC): when a month's spend stops counting."""
    moment = moment.astimezone(UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def _months_before(month: str, count: int) -> list[str]:
    year, number = (int(part) for part in month.split("-"))
    found = []
    for _ in range(count):
        year, number = (year - 1, 12) if number == 1 else (year, number - 1)
        found.append(f"{year:04d}-{number:02d}")
    return found


def days_in(month: str) -> int:
    year, number = (int(part) for part in month.split("-"))
    return calendar.monthrange(year, number)[1]


def sk_of(api_key_id: str = "") -> str:
    return f"{KEY_SK}{api_key_id}" if api_key_id else TENANT_SK


def budget_key(tenant_id: str, api_key_id: str = "") -> dict[str, Any]:
    return to_item({"tenant_id": tenant_id, "sk": sk_of(api_key_id)})


def from_image(data: dict[str, Any], month: str) -> Budget:
    """A budget item (decoded) as it stands in `month`."""
    hard, soft = data.get("hard"), data.get("soft")
    return Budget(
        month=month,
        hard=None if hard is None else int(hard),
        soft=None if soft is None else int(soft),
        spent=int(data.get(f"spend_{month}", 0)),
        alerted=frozenset(data.get(f"alerts_{month}", set())),
        api_key_id=str(data.get("apiKeyId", "")),
    )


# --- the create's check and the finish's spend -----------------------------------------


def check(tenant_id: str, *, api_key_id: str, now: datetime) -> list[Action]:
    """The create's conditions: this month's spend under the tenant's hard budget and under
    the key's (an item that does not exist, or no `hard`, passes). A cancellation names
    "budget" or "key_budget", with the item as it was."""
    actions = [("budget", _under(tenant_id, "", now))]
    if api_key_id:
        actions.append(("key_budget", _under(tenant_id, api_key_id, now)))
    return actions


def _under(tenant_id: str, api_key_id: str, now: datetime) -> dict[str, Any]:
    return {
        "ConditionCheck": {
            "TableName": TENANTS.name,
            "Key": budget_key(tenant_id, api_key_id),
            "ConditionExpression": "attribute_not_exists(hard) OR attribute_not_exists(#spend) "
            "OR #spend < hard",
            "ExpressionAttributeNames": {"#spend": f"spend_{month_of(now)}"},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def record_spend(tenant_id: str, *, api_key_id: str, micros: int, now: datetime) -> list[Action]:
    """The terminal write's actions: `micros` more spent this month by the tenant and the key,
    and the names of older months (but the last) removed."""
    if micros <= 0:
        return []
    actions = [("spend", _add(tenant_id, "", micros, now))]
    if api_key_id:
        actions.append(("key_spend", _add(tenant_id, api_key_id, micros, now)))
    return actions


def _add(tenant_id: str, api_key_id: str, micros: int, now: datetime) -> dict[str, Any]:
    month = month_of(now)
    old = _months_before(month, KEPT_MONTHS + 1)[1:]
    names = {"#spend": f"spend_{month}"}
    for n, gone in enumerate(old):
        names[f"#s{n}"], names[f"#a{n}"] = f"spend_{gone}", f"alerts_{gone}"
    removed = ", ".join(f"#s{n}, #a{n}" for n in range(len(old)))
    extra = {"apiKeyId": api_key_id} if api_key_id else {}
    return {
        "Update": {
            "TableName": TENANTS.name,
            "Key": budget_key(tenant_id, api_key_id),
            "UpdateExpression": "ADD #spend :micros"
            + (" SET apiKeyId = :key" if extra else "")
            + f" REMOVE {removed}",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values(
                {":micros": micros, **({":key": api_key_id} if extra else {})}
            ),
        }
    }


# --- setting a budget -------------------------------------------------------------------


def set_action(
    tenant_id: str,
    *,
    api_key_id: str = "",
    hard: int | None,
    soft: int | None,
    now: datetime,
    at_most: bool = False,
) -> list[Action]:
    """Set (None: remove) the hard budget and soft threshold. The spend is left as it is, so
    a change takes effect against what was spent this month, no more and no less. With
    `at_most` (a tenant's own admin key), the key's hard budget may only go down and never
    above the tenant's: a cancellation names "budget" (the key's) or "tenant_budget"."""
    sets = {"updatedAt": iso(now), **({"apiKeyId": api_key_id} if api_key_id else {})}
    removes = []
    for name, amount in (("hard", hard), ("soft", soft)):
        if amount is None:
            removes.append(name)
        else:
            sets[name] = amount  # type: ignore[assignment]
    expression = "SET " + ", ".join(f"{n} = :{n}" for n in sets)
    if removes:
        expression += " REMOVE " + ", ".join(removes)
    update: dict[str, Any] = {
        "TableName": TENANTS.name,
        "Key": budget_key(tenant_id, api_key_id),
        "UpdateExpression": expression,
        "ExpressionAttributeValues": values({f":{n}": v for n, v in sets.items()}),
    }
    actions: list[Action] = [("budget", {"Update": update})]
    if at_most and hard is not None:
        limit = "attribute_not_exists(hard) OR hard >= :cap"
        update["ConditionExpression"] = limit
        update["ExpressionAttributeValues"] |= values({":cap": hard})
        tenant_check = {
            "TableName": TENANTS.name,
            "Key": budget_key(tenant_id),
            "ConditionExpression": limit,
            "ExpressionAttributeValues": values({":cap": hard}),
        }
        actions.append(("tenant_budget", {"ConditionCheck": tenant_check}))
    return actions


# --- reading ----------------------------------------------------------------------------


def budget_get(tenant_id: str, *, api_key_id: str = "", now: datetime) -> Budget:
    """One budget as it stands this month (one consistent GetItem)."""
    item = call(
        "get_item",
        TableName=TENANTS.name,
        Key=budget_key(tenant_id, api_key_id),
        ConsistentRead=True,
    ).get("Item", {})
    budget = from_image(from_item(item), month_of(now))
    return replace(budget, api_key_id=api_key_id) if api_key_id else budget


def key_budgets(tenant_id: str, *, now: datetime) -> dict[str, Budget]:
    """Every key budget of the tenant, by key id (one Query of its partition; a page per
    1 MB, and a key's item is well under 1 KB)."""
    items = query_all(
        {
            "TableName": TENANTS.name,
            "KeyConditionExpression": "tenant_id = :t AND begins_with(sk, :p)",
            "ExpressionAttributeValues": values({":t": tenant_id, ":p": KEY_SK}),
        }
    )
    month = month_of(now)
    found = (from_image(from_item(i), month) for i in items)
    return {b.api_key_id: b for b in found if b.api_key_id}


# --- the alerts' marks ------------------------------------------------------------------


def alert_claim(tenant_id: str, *, api_key_id: str, month: str, level: str) -> bool:
    """Take the right to send `level`'s alert of `month`, once: False if it was taken."""
    try:
        call(
            "update_item",
            TableName=TENANTS.name,
            Key=budget_key(tenant_id, api_key_id),
            UpdateExpression="ADD #alerts :level",
            ConditionExpression="attribute_exists(sk) AND "
            "(attribute_not_exists(#alerts) OR NOT contains(#alerts, :one))",
            ExpressionAttributeNames={"#alerts": f"alerts_{month}"},
            ExpressionAttributeValues=values({":level": {level}, ":one": level}),
        )
    except Conflict:
        return False
    return True


def alert_release(tenant_id: str, *, api_key_id: str, month: str, level: str) -> None:
    """Give the mark back (the message could not be sent): the next record tries again."""
    call(
        "update_item",
        TableName=TENANTS.name,
        Key=budget_key(tenant_id, api_key_id),
        UpdateExpression="DELETE #alerts :level",
        ExpressionAttributeNames={"#alerts": f"alerts_{month}"},
        ExpressionAttributeValues=values({":level": {level}}),
    )


def usd(micros: int | None) -> str:
    """Micro-USD as dollars and cents, for messages."""
    return "none" if micros is None else f"${micros / MICROS:,.2f}"
