"""Text rules shared by the API's serializers and the pages' forms."""

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
