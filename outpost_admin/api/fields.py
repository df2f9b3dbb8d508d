"""Serializer fields whose parsing is exactly what the OpenAPI schema says.

DRF's own fields coerce: CharField takes 0 as "0", IntegerField takes "600" and 600.0,
DateTimeField writes microseconds. A body that breaks the schema must be a 400, and an answer
must look like the control plane's, so the API's serializers use these instead.
"""

import re
from datetime import datetime
from typing import Any

from rest_framework import serializers

from outpost_admin.dynamo import iso
from outpost_admin.validation import ONE_LINE, ONE_LINE_MESSAGE


class StrictCharField(serializers.CharField):
    """A string, never a number or a boolean turned into one, and not trimmed: the length the
    schema states is the length checked."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class PatternField(serializers.RegexField):
    """A string matching the whole pattern. (Python's `$` also matches before a final newline,
    the schema's ECMA `$` does not: the whole string is matched here, as the schema reads.)"""

    def __init__(self, regex: str, **kwargs: Any):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(regex, **kwargs)
        self._whole = re.compile(regex)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        value = str(super().to_internal_value(data))
        if not self._whole.fullmatch(value):
            self.fail("invalid")
        return value


class OneLineField(PatternField):
    """A name: one line of printable text, not blank, no leading or trailing space."""

    def __init__(self, **kwargs: Any):
        super().__init__(ONE_LINE, error_messages={"invalid": ONE_LINE_MESSAGE}, **kwargs)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer in a body: not "600", 600.5 or true. (Query strings use IntegerField.)"""

    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class StrictChoiceField(serializers.ChoiceField):
    """One of the choices, given as a string."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


class IsoDateTimeField(serializers.DateTimeField):
    """An RFC 3339 date-time with its offset, as the schema's `date-time` format says;
    written as the tables and the control plane write it (milliseconds, Z)."""

    def to_internal_value(self, value: Any) -> datetime:
        if not isinstance(value, str) or not _RFC3339.fullmatch(value):
            self.fail("invalid", format="YYYY-MM-DDThh:mm:ss[.fff]Z (or an offset)")
        return super().to_internal_value(value)

    def to_representation(self, value: datetime | None) -> str | None:  # type: ignore[override]
        return iso(value) if value else None


class BlankAsNullField(serializers.CharField):
    """An optional text attribute: shown as null when empty, as the API always has."""

    def __init__(self, **kwargs: Any):
        super().__init__(allow_null=True, **kwargs)

    def to_representation(self, value: Any) -> str | None:  # type: ignore[override]
        return str(value) if value else None
