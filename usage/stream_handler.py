"""The one batch handler of the tenants' and dispatches' stream records (see backfill.py).

AWS Lambda runs it in production (`handler`, fed by an event source mapping per table with
`FunctionResponseTypes: ["ReportBatchItemFailures"]` and the FILTER_CRITERIA below); the
in-process follower (outpost_admin/dynamo/streams.py) feeds it the same Lambda-shaped events
locally and applies the same patterns first (`keep`). Powertools' BatchProcessor hands each
record to its handler and reports the ones that raised in `batchItemFailures`, so one poison
record never holds its shard back beyond itself; every write the handlers make is
conditional, so a batch retried or replayed counts nothing twice.
"""

import json
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

NEW_OR_CHANGED = ["INSERT", "MODIFY"]
TERMINAL = ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"]
ABSENT = [{"exists": False}]
PRESENT = [{"exists": True}]

# Lambda event filter patterns (FilterCriteria.Filters[].Pattern, OR'ed): only the records
# that may still need work. Our tenants carry `nameLower` already; a refused create leaves a
# `REFUSED#` item to count (once: counting deletes it); the control plane's
# dispatches lack `started_day`; a terminal dispatch without `counted_outcome` has an outcome
# to count; and ours (`counted_by` = "stream") need their creation counted and every move in
# and out of the queue (while PENDING or RUNNING; the handler's own marks on them come back
# here too and cost one read of the batch's marks).
TENANT_PATTERNS: list[dict[str, Any]] = [
    {
        "eventName": NEW_OR_CHANGED,
        "dynamodb": {"NewImage": {"sk": {"S": ["TENANT"]}, "nameLower": {"S": ABSENT}}},
    },
    {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"sk": {"S": [{"prefix": "REFUSED#"}]}}}},
    # A budget item written (spend added, a budget set): its alerts may be due.
    {
        "eventName": NEW_OR_CHANGED,
        "dynamodb": {"NewImage": {"sk": {"S": ["BUDGET", {"prefix": "BUDGET#KEY#"}]}}},
    },
]
DISPATCH_PATTERNS: list[dict[str, Any]] = [
    {
        "eventName": NEW_OR_CHANGED,
        "dynamodb": {
            "NewImage": {"dispatch_id": {"S": PRESENT}, "started_day": {"S": ABSENT}},
        },
    },
    {
        "eventName": NEW_OR_CHANGED,
        "dynamodb": {
            "NewImage": {
                "dispatch_id": {"S": PRESENT},
                "status": {"S": TERMINAL},
                "counted_outcome": {"S": ABSENT},
            },
        },
    },
    {
        "eventName": NEW_OR_CHANGED,
        "dynamodb": {
            "NewImage": {
                "counted_by": {"S": ["stream"]},
                "status": {"S": ["PENDING", "RUNNING"]},
            },
        },
    },
    {
        "eventName": NEW_OR_CHANGED,
        "dynamodb": {
            "NewImage": {"counted_by": {"S": ["stream"]}, "counted_created": {"S": ABSENT}},
        },
    },
]


def filter_criteria(patterns: list[dict[str, Any]]) -> dict[str, Any]:
    """The event source mapping's FilterCriteria (each pattern a JSON string, as AWS takes it)."""
    return {"Filters": [{"Pattern": json.dumps(p, separators=(",", ":"))} for p in patterns]}


def matches(pattern: Any, value: Any) -> bool:
    """The part of Lambda's pattern syntax used above: nested keys, a list of accepted
    strings, {"exists": bool} and {"prefix": str}. A missing key is `None`."""
    if isinstance(pattern, dict):
        inner = value if isinstance(value, dict) else {}
        return all(matches(sub, inner.get(key)) for key, sub in pattern.items())
    return any(_accepts(choice, value) for choice in pattern)


def _accepts(choice: Any, value: Any) -> bool:
    if isinstance(choice, dict) and "exists" in choice:
        return (value is not None) == choice["exists"]
    if isinstance(choice, dict) and "prefix" in choice:
        return isinstance(value, str) and value.startswith(choice["prefix"])
    return value is not None and value == choice


# The app's modules are imported inside the functions: in Lambda this module is loaded
# before `handler` has set Django up.


def patterns_for(table: str) -> list[dict[str, Any]]:
    from outpost_admin.dynamo.tables import DISPATCHES, TENANTS

    return {TENANTS.name: TENANT_PATTERNS, DISPATCHES.name: DISPATCH_PATTERNS}.get(table, [])


def keep(table: str) -> Callable[[dict[str, Any]], bool]:
    """The local follower's filter for a table's records: Lambda's patterns, applied here."""
    patterns = patterns_for(table)
    return lambda record: any(matches(p, record) for p in patterns)


def table_of(record: dict[str, Any]) -> str:
    """arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label> -> <name>."""
    arn = str(record.get("eventSourceARN", ""))
    return arn.split(":table/", 1)[-1].split("/stream/", 1)[0]


def _record_handler(failed: set[str]) -> Callable[[DynamoDBRecord], None]:
    """Tenant records one by one; dispatch records were counted as a batch beforehand, so
    theirs only reports which of them failed."""
    from outpost_admin.dynamo.tables import DISPATCHES

    from . import backfill

    def handle(record: DynamoDBRecord) -> None:
        raw = record.raw_event
        table = table_of(raw)
        if table == DISPATCHES.name:
            if str(raw.get("dynamodb", {}).get("SequenceNumber", "")) in failed:
                raise ValueError("its dispatch's roll-ups could not be counted")
            return
        handler = backfill.record_handlers().get(table)
        if handler is None:
            raise ValueError(f"no handler for the stream of {table!r}")
        handler(raw)

    return handle


def handle_batch(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """A Lambda DynamoDB Streams event -> its partial batch response.

    The dispatches' records are counted together first (one read of their marks, the
    roll-up items written once per batch), then Powertools walks every record."""
    from outpost_admin.dynamo.tables import DISPATCHES

    from . import backfill

    records = [r for r in event.get("Records", []) if table_of(r) == DISPATCHES.name]
    failed = backfill.dispatch_records(records) if records else set()
    # An entire batch failing is reported, not raised: Lambda then retries from the first
    # failure either way, and the local follower reads one answer shape.
    processor = BatchProcessor(EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
    response = process_partial_response(
        event=event, record_handler=_record_handler(failed), processor=processor, context=context
    )
    return dict(response)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """AWS Lambda's entry point (`usage.stream_handler.handler`)."""
    _set_up_django()
    return handle_batch(event, context)


def _set_up_django() -> None:
    import django
    from django.apps import apps

    if not apps.ready:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "outpost_admin.settings")
        django.setup()
