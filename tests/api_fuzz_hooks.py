"""Schemathesis hooks for the schema-vs-code run (tests/outpost_admin/test_api_fuzz.py).

Three kinds, and nothing else:
- Safety: an operation aimed at the tenant whose key drives the run (suspend it, revoke or
  rotate its keys, fill it with keys) is sent to a throwaway tenant instead, so the run can't
  lock itself out.
- Test data: a valid request to lower a key's budget names a key of the run's own tenant
  (OUTPOST_FUZZ_OWN_KEY), which Schemathesis has no way to find.
- Rules a JSON Schema cannot state, applied to *valid* (positive) cases only, so that "valid"
  means valid: a cursor is a signed token from a previous page (a made-up one is rightly a
  400), a range ends after it starts and a custom one names both ends, an expiry lies in
  the future, the Idempotency-Key header and the body's idempotencyKey agree, and a budget's
  soft threshold is not above its hard budget. The schema
  states each of these in the parameter's or field's description, with an example of the
  400 (tests/dispatches/test_documented_rules.py checks the examples against the code).
Negative cases go out untouched. A key reused with another body (a 422, documented with its
example) depends on what was sent before, not on the request: test_api_fuzz.py's check
configuration expects it rather than a hook hiding it.
"""

import os
from datetime import UTC, date, datetime, timedelta

import schemathesis

RUN_TENANT = os.environ.get("OUTPOST_FUZZ_TENANT", "")
THROWAWAY_TENANT = os.environ.get("OUTPOST_FUZZ_THROWAWAY_TENANT", "")
THROWAWAY_KEY = os.environ.get("OUTPOST_FUZZ_THROWAWAY_KEY", "")
OWN_KEY = os.environ.get("OUTPOST_FUZZ_OWN_KEY", "")  # a key of the run's tenant, to budget
MAX_DAYS = 366  # usage.forms.MAX_DAYS (this module runs outside Django)


@schemathesis.hook
def before_call(context, case, kwargs):
    params = case.path_parameters
    if params and params.get("tenant_id") == RUN_TENANT:
        params["tenant_id"] = THROWAWAY_TENANT
        if "key_id" in params:
            params["key_id"] = THROWAWAY_KEY


@schemathesis.hook
def map_case(context, case):
    meta = case.meta
    if meta is not None and meta.generation.mode.is_negative:
        return case
    if case.operation.path == "/api/v1/budget/keys/{key_id}" and OWN_KEY:
        case.path_parameters = {**(case.path_parameters or {}), "key_id": OWN_KEY}
    if isinstance(case.query, dict):
        case.query.pop("cursor", None)
        _in_order(case.query)
        if "tenant" not in case.query:
            case.query.pop("key", None)
    if isinstance(case.body, dict):
        if "/webhooks" not in case.operation.path:  # a webhook recovery's `since` stands alone
            _in_order(case.body)
        if isinstance(case.body.get("scopes"), list) and "operator" in case.body["scopes"]:
            # Only staff grant `operator`; the run's key is not staff.
            case.body["scopes"] = [s for s in case.body["scopes"] if s != "operator"] or ["list"]
        if case.body.get("expiresAt"):
            future = datetime.now(UTC) + timedelta(days=30)
            case.body["expiresAt"] = future.isoformat().replace("+00:00", "Z")
        hard, soft = case.body.get("hardCents"), case.body.get("softCents")
        if isinstance(hard, int | float) and isinstance(soft, int | float) and soft > hard:
            case.body["softCents"] = hard
        if case.headers and "idempotencyKey" in case.body and "Idempotency-Key" in case.headers:
            case.headers["Idempotency-Key"] = case.body["idempotencyKey"]
    return case


def _in_order(values):
    if ("since" in values) != ("until" in values):
        values.pop("since", None)
        values.pop("until", None)
    since, until = values.get("since"), values.get("until")
    if isinstance(since, str) and isinstance(until, str) and since > until:
        values["since"], values["until"] = until, since
    _at_most_a_year(values)


def _at_most_a_year(values):
    try:
        since = date.fromisoformat(values["since"])
        until = date.fromisoformat(values["until"])
    except (KeyError, TypeError, ValueError):
        return
    if (until - since).days + 1 > MAX_DAYS:
        values["until"] = (since + timedelta(days=MAX_DAYS - 1)).isoformat()
