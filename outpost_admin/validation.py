"""Text rules shared by the API's serializers and the pages' forms."""

import unicodedata

from django.core.validators import RegexValidator

# What a one-line name may not contain: C0 and C1 controls, DEL, line and paragraph
# separators. Written as explicit ranges so Python and the schema's ECMA regex agree.
_CONTROL = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
_SPACE = r" \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\ufeff"
ONE_LINE = rf"^[^{_CONTROL}{_SPACE}](?:[^{_CONTROL}]*[^{_CONTROL}{_SPACE}])?$"
"""One line of printable text that neither starts nor ends with a space."""

ONE_LINE_MESSAGE = (
    "Must be one line of printable text, without control characters or leading and trailing spaces."
)

# Forms strip surrounding whitespace first; what remains must be one clean line.
one_line = RegexValidator(rf"\A(?:{ONE_LINE[1:-1]})\Z", ONE_LINE_MESSAGE)


def _escaped(code: int) -> str:
    # \uXXXX and \UXXXXXXXX read the same in Python's re and Rust's regex (Schemathesis).
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _class_body(codes: list[int]) -> str:
    """Code points as the inside of a character class, consecutive ones as ranges."""
    parts, start = [], 0
    for i, code in enumerate(codes):
        if i + 1 == len(codes) or codes[i + 1] != code + 1:
            first = codes[start]
            parts.append(_escaped(first) + (f"-{_escaped(code)}" if code != first else ""))
            start = i + 1
    return "".join(parts)


_EVERY = [chr(code) for code in range(0x110000)]
_INVISIBLE_CODES = [ord(c) for c in _EVERY if unicodedata.category(c) in ("Cc", "Cf")]
_BLANK_CODES = [ord(c) for c in _EVERY if c.isspace() and unicodedata.category(c) != "Cc"]
_INVISIBLE, _BLANK = _class_body(_INVISIBLE_CODES), _class_body(_BLANK_CODES)
VISIBLE_NAME = rf"^[^{_INVISIBLE}]*[^{_INVISIBLE}{_BLANK}][^{_INVISIBLE}]*$"
"""Not blank, and no control or format character (Unicode categories Cc and Cf: C0, DEL, C1,
zero-width and bidi controls such as U+202E), listed from `unicodedata`, so Python and the
schema's pattern refuse the same characters. Spaces inside or around are allowed."""
