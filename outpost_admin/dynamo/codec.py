"""Python values <-> DynamoDB attribute values, and the timestamp format the tables use."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _prepare(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _prepare(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_prepare(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return {_plain(v) for v in value}
    return value


def serialize(value: Any) -> dict[str, Any]:
    result: Any = _serializer.serialize(_prepare(value))
    return dict(result)


def deserialize(value: dict[str, Any]) -> Any:
    typed: Any = value
    return _plain(_deserializer.deserialize(typed))


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    """Serialize a plain dict; None values are omitted, never stored as NULL."""
    return {k: serialize(v) for k, v in data.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: deserialize(v) for k, v in item.items()}


def values(data: dict[str, Any]) -> dict[str, Any]:
    """ExpressionAttributeValues from {":name": value}."""
    return {k: serialize(v) for k, v in data.items()}


def utcnow() -> datetime:
    """Now, at the millisecond precision the tables store, so values round-trip exactly."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def iso(dt: datetime) -> str:
    """ISO-8601 in UTC with millisecond precision and a Z, as the control plane writes it.

    The year always has four digits (strftime drops the zeros before 1000), so the strings
    sort as the times do: key conditions like BETWEEN depend on it.
    """
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
