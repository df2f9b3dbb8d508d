"""Signing with the Standard Webhooks library: secrets and the three headers of a delivery."""

import base64
import secrets
from datetime import datetime

from standardwebhooks import Webhook

PREFIX = "whsec_"


def new_secret() -> str:
    """`whsec_` + base64 of 24 random bytes, the form Standard Webhooks' verifiers read."""
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def headers(*, msg_id: str, at: datetime, body: str, signing: list[str]) -> dict[str, str]:
    """`webhook-id`, `webhook-timestamp`, `webhook-signature` (one `v1,<sig>` per secret,
    space-separated: a receiver holding either the new or the rotated-out secret verifies)."""
    signatures = [Webhook(s).sign(msg_id=msg_id, timestamp=at, data=body) for s in signing]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
