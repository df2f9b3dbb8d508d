"""One page of a Query, with a signed cursor that resumes exactly after the last item shown."""

from collections.abc import Iterator
from typing import Any

from .client import call
from .cursors import decode_cursor, encode_cursor


def query_all(params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every item a Query matches, page after page as the caller reads on."""
    request = dict(params)
    while True:
        response = call("query", **request)
        yield from response.get("Items", [])
        if "LastEvaluatedKey" not in response:
            return
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def scan_all(params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every item a Scan returns. For operators' commands (upgrade_layout), never a page."""
    request = dict(params)
    while True:
        response = call("scan", **request)
        yield from response.get("Items", [])
        if "LastEvaluatedKey" not in response:
            return
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def put_all(table: str, items: list[dict[str, Any]]) -> None:
    """Put these items (unconditionally), BatchWriteItem 25 at a time, unprocessed retried."""
    for start in range(0, len(items), 25):
        request = {table: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
        while request:
            request = call("batch_write_item", RequestItems=request).get("UnprocessedItems") or {}


def query_page(
    params: dict[str, Any],
    *,
    limit: int,
    cursor: str | None,
    scope: str,
    key_names: tuple[str, ...],
    max_reads: int = 1,
    read_size: int = 0,
) -> tuple[list[dict[str, Any]], str | None]:
    """Run Query until `limit` items pass the filter or `max_reads` calls are spent.

    `read_size` lets a filtered query examine more items per call than it shows.
    """
    start = decode_cursor(cursor, scope=scope)
    items: list[dict[str, Any]] = []
    for _ in range(max_reads):
        request = {**params, "Limit": max(limit, read_size)}
        if start:
            request["ExclusiveStartKey"] = start
        response = call("query", **request)
        items.extend(response.get("Items", []))
        start = response.get("LastEvaluatedKey")
        if len(items) >= limit or not start:
            break
    if len(items) > limit or (len(items) == limit and start):
        items = items[:limit]
        start = {name: items[-1][name] for name in key_names}
    return items, encode_cursor(start, scope=scope)
