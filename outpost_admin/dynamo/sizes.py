"""An item's size as DynamoDB counts it for capacity and its 400 KB limit (documented rules:
each attribute's name in UTF-8 bytes plus its value; a number up to 21 bytes; maps and lists
3 bytes plus their elements, one more byte per element)."""

from typing import Any


def item_size(item: dict[str, Any]) -> int:
    """The size of a low-level (typed) item, in bytes."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def value_size(value: dict[str, Any]) -> int:
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return _number_size(inner)
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in inner)
    if kind == "NS":
        return sum(_number_size(n) for n in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in inner)
    return len(str(inner).encode())


def _number_size(number: str) -> int:
    digits = len(number.lstrip("-").replace(".", "").lstrip("0")) or 1
    return min(21, (digits + 1) // 2 + 1)
