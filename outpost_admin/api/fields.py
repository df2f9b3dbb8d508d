"""Serializer fields whose parsing is exactly what the OpenAPI schema says.

DRF's own fields coerce: CharField takes 0 as "0", IntegerField takes "600" and 600.0,
DateTimeField writes microseconds. A body that breaks the schema must be a 400, and an answer
must look like the control plane's, so the API's serializers use these instead.
"""

import re
from datetime import datetime
from typing import Any

from django.core.validators import ProhibitNullCharactersValidator, RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from outpost_admin.dynamo import iso
from outpost_admin.validation import ONE_LINE, ONE_LINE_MESSAGE

NO_NUL = r"^[^\x00]*$"
"""DRF refuses a NUL character in any string; as a pattern, the schema says so too."""


class StrictCharField(serializers.CharField):
    """A string, never a number or a boolean turned into one, and not trimmed: the length the
    schema states is the length checked. No NUL character, stated as the schema's pattern."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)
        self.validators = [
            *(v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)),
            RegexValidator(NO_NUL, ProhibitNullCharactersValidator.message),
        ]

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


class StrictBooleanField(serializers.BooleanField):
    """true or false, never 0, 1 or "yes" turned into one: what the schema's boolean says."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer in a body: not "600", 600.5 or true. 600.0 is the number 600, an integer
    as the schema's JSON Schema (and JavaScript) read it. (Query strings use IntegerField.)"""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, float) and data.is_integer():
            data = int(data)
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class StrictChoiceField(serializers.ChoiceField):
    """One of the choices, given as a string."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


# [0-9], not \d: in Python and in Rust's regex (which Schemathesis uses), \d is any digit.
_YEAR = r"(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"  # 0001-9999, like datetime
_DATE = rf"{_YEAR}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
RFC3339 = rf"^{_DATE}[Tt]{_TIME}(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
_RFC3339 = re.compile(RFC3339)


@extend_schema_field({"type": "string", "format": "date-time", "pattern": RFC3339})
class IsoDateTimeField(serializers.DateTimeField):
    """An RFC 3339 date-time with its offset, as the schema's `date-time` format says, and its
    pattern: OpenAPI 3.1's JSON Schema takes a format as an annotation only. (The pattern lets
    a day past its month's end through, 02-30: the format does not, nor the code.)
    Written as the tables and the control plane write it (milliseconds, Z)."""

    def to_internal_value(self, value: Any) -> datetime:
        if not isinstance(value, str) or not _RFC3339.fullmatch(value):
            self.fail("invalid", format="YYYY-MM-DDThh:mm:ss[.fff]Z (or an offset)")
        return super().to_internal_value(value.upper())  # RFC 3339 allows a lowercase t and z

    def to_representation(self, value: datetime | None) -> str | None:  # type: ignore[override]
        return iso(value) if value else None


class BlankAsNullField(serializers.CharField):
    """An optional text attribute: shown as null when empty, as the API always has."""

    def __init__(self, **kwargs: Any):
        super().__init__(allow_null=True, **kwargs)

    def to_representation(self, value: Any) -> str | None:  # type: ignore[override]
        return str(value) if value else None
