"""The last requests made with each API key: one item per key, the only module that builds it.

`tenant_id = <tenant>`, `sk = RECENT#<apiKeyId>` in the tenants table: `requests`, a list of
at most RECENT_REQUESTS small maps (`t` time, `m` method, `p` path cut to PATH_MAX
characters, `s` status, `d` dispatch id), oldest first, and `version`. Written only by the
key-usage flush (authentication.UsageRecorder, off the request path); read by key by the key
page (usage app) in the BatchGetItem that reads the key's month items.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from outpost_admin.dynamo import Conflict, call, from_item, iso, parse_iso, to_item, values
from outpost_admin.dynamo.tables import TENANTS

RECENT_REQUESTS = 50
PATH_MAX = 100
SK_PREFIX = "RECENT#"
TRIES = 8


@dataclass(frozen=True)
class KeyRequest:
    at: datetime
    method: str
    path: str
    status: int
    dispatch_id: str = ""


def recent_key(tenant_id: str, api_key_id: str) -> dict[str, Any]:
    return to_item({"tenant_id": tenant_id, "sk": f"{SK_PREFIX}{api_key_id}"})


def _to_entry(request: KeyRequest) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "t": iso(request.at),
        "m": request.method[:10],
        "p": request.path[:PATH_MAX],
        "s": int(request.status),
    }
    if request.dispatch_id:
        entry["d"] = request.dispatch_id[:40]
    return entry


def _from_entry(entry: dict[str, Any]) -> KeyRequest | None:
    at = parse_iso(entry.get("t"))
    if at is None:
        return None
    return KeyRequest(
        at=at,
        method=str(entry.get("m", "")),
        path=str(entry.get("p", "")),
        status=int(entry.get("s", 0)),
        dispatch_id=str(entry.get("d", "")),
    )


def requests_from_item(data: dict[str, Any]) -> list[KeyRequest]:
    """The item's requests (plain values, as `from_item` gives them), newest first."""
    found = [_from_entry(e) for e in data.get("requests", []) if isinstance(e, dict)]
    oldest_first = sorted((r for r in found if r), key=lambda r: r.at)  # stable: ties in order
    return oldest_first[::-1]


def requests_get(tenant_id: str, api_key_id: str) -> list[KeyRequest]:
    response = call("get_item", TableName=TENANTS.name, Key=recent_key(tenant_id, api_key_id))
    return requests_from_item(from_item(response["Item"])) if "Item" in response else []


def requests_add(tenant_id: str, api_key_id: str, new: list[KeyRequest]) -> None:
    """Merge `new` into the key's item, keeping the newest RECENT_REQUESTS: read, then put on
    condition that nobody wrote it since (another process's flush); again on a conflict."""
    key = recent_key(tenant_id, api_key_id)
    for _ in range(TRIES):
        response = call("get_item", TableName=TENANTS.name, Key=key, ConsistentRead=True)
        item = from_item(response["Item"]) if "Item" in response else {}
        held = requests_from_item(item)[::-1]
        kept = sorted([*held, *new], key=lambda r: r.at)[-RECENT_REQUESTS:]
        version = int(item.get("version", 0))
        fresh = {
            "tenant_id": tenant_id,
            "sk": f"{SK_PREFIX}{api_key_id}",
            "apiKeyId": api_key_id,
            "requests": [_to_entry(r) for r in kept],
            "version": version + 1,
        }
        try:
            call(
                "put_item",
                TableName=TENANTS.name,
                Item=to_item(fresh),
                ConditionExpression="attribute_not_exists(sk) OR version = :v",
                ExpressionAttributeValues=values({":v": version}),
            )
            return
        except Conflict:
            continue
    raise Conflict(f"recent requests of key {api_key_id} kept changing")
