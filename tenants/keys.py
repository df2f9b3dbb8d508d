"""API key format: otp_ + Base62 body (256 bits from secrets) + 6-char Base62 CRC32 checksum.

Legacy keys, otp_ + 64 lowercase hex, are accepted too. The checksum lets us refuse a
mistyped or made-up key without reading the store.
"""

import hashlib
import re
import secrets
import zlib

PREFIX = "otp_"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BODY_LENGTH = 43  # 43 Base62 characters carry 256 bits
CHECKSUM_LENGTH = 6  # 62**6 > 2**32
DISPLAY_PREFIX_LENGTH = 12

_NEW = re.compile(rf"^{PREFIX}([0-9A-Za-z]{{{BODY_LENGTH}}})([0-9A-Za-z]{{{CHECKSUM_LENGTH}}})$")
_LEGACY = re.compile(rf"^{PREFIX}[0-9a-f]{{64}}$")


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(ALPHABET[rest])
    return "".join(reversed(digits)).rjust(width, "0")


def checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def generate() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(BODY_LENGTH))
    return f"{PREFIX}{body}{checksum(body)}"


def is_well_formed(raw: str) -> bool:
    if _LEGACY.match(raw):
        return True
    match = _NEW.match(raw)
    if match is None:
        return False
    return secrets.compare_digest(checksum(match.group(1)), match.group(2))


def is_legacy(raw: str) -> bool:
    return bool(_LEGACY.match(raw))


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def display_prefix(raw: str) -> str:
    return raw[:DISPLAY_PREFIX_LENGTH]
