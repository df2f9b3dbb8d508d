"""The schema-vs-code fuzz run: Schemathesis, every check, all four phases (stateful included),
against the app served by gunicorn on the suite's DynamoDB Local.

Bounded by counts, not time: the coverage phase sends every case the schema defines, fuzzing
and stateful a fixed number of examples each. Deterministic: derandomized generation, one
worker (two threads would race inside Hypothesis and interleave requests differently each
run), no cache of earlier runs. Any failure of any check is a non-zero exit, so a failed test.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tenants import services
from tenants.domain import Scope, Tier
from tests.conftest import unique_email
from tests.live_app import app_server, http

PHASES = ("examples", "coverage", "fuzzing", "stateful")
CONFIG = """
[cache]
# Schemathesis replays requests it cached in earlier runs: each run starts from nothing here.
enabled = false

[generation]
deterministic = true

[phases.fuzzing.generation]
max-examples = 5

[phases.stateful.generation]
max-examples = 20

[checks.positive_data_acceptance]
# A reused idempotency key with another body is refused by design (422, documented with an
# example on create and rerun): it depends on an earlier request, so no hook can rule it out.
expected-statuses = ["2xx", 401, 403, 404, 409, 422, 429]

[[operations]]
# A webhook delivery exists only once an event reached an endpoint's receiver, which a fuzz
# run has none of, and a secret rotates only on an endpoint the run has not deleted: these
# answer 404 by design (tests/webhooks/ cover them with real ones).
include-operation-id-regex = "^webhook_(delivery_|rotate_secret)"
warnings = false

[[operations]]
# The control plane's DELETE /dispatch/{id} cancels: the dispatch stays readable afterwards.
include-operation-id = "legacy_dispatch_cancel"
checks.use_after_free.enabled = false
"""


@pytest.fixture
def fuzzed_app(dynamodb_local, tmp_path, actor):
    tenant, _ = services.tenant_provision(
        name="Fuzz runner", email=unique_email("fuzz"), tier=Tier.ENTERPRISE, actor=actor
    )
    run_key = services.key_create(
        tenant_id=tenant.tenant_id,
        name="fuzz",
        scopes=tuple(Scope),
        expires_at=None,
        actor=actor,
        by_staff=True,
    )
    # A key of the run's tenant for its admin key to lower the budget of (PUT
    # /api/v1/budget/keys/{key_id}): an id Schemathesis cannot find on its own.
    budgeted = services.key_create(
        tenant_id=tenant.tenant_id,
        name="fuzz-budgeted",
        scopes=(Scope.LIST,),
        expires_at=None,
        actor=actor,
    )
    throwaway, throwaway_key = services.tenant_provision(
        name="Fuzz throwaway", email=unique_email("throwaway"), tier=Tier.FREE, actor=actor
    )
    env = {
        "SCHEMATHESIS_HOOKS": "tests.api_fuzz_hooks",
        "OUTPOST_FUZZ_TENANT": tenant.tenant_id,
        "OUTPOST_FUZZ_THROWAWAY_TENANT": throwaway.tenant_id,
        "OUTPOST_FUZZ_THROWAWAY_KEY": throwaway_key.key.api_key_id,
        "OUTPOST_FUZZ_OWN_KEY": budgeted.key.api_key_id,
    }
    # The server's own SQLite (staff sessions): without its tables, a session cookie is a 500.
    database = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=settings.BASE_DIR,
        env={**os.environ, **database, "DJANGO_SECRET_KEY": "test-only"},
        check=True,
    )
    # The run sends keyless and forged-key requests by the hundred (the auth checks): with the
    # usual limit of failed authentications per address, every later request would be a 429.
    # Webhook URLs may be plain http here, as the schema's pattern allows (https only when
    # private addresses are refused, as in production).
    with app_server(
        dynamodb_local,
        tmp_path,
        OUTPOST_API_AUTH_FAILURE_LIMIT="100000",
        OUTPOST_WEBHOOK_ALLOW_PRIVATE="true",
    ) as url:
        yield url, run_key.raw, env, tmp_path


def test_the_schema_and_the_code_agree_under_fuzzing(fuzzed_app):
    url, key, env, var_dir = fuzzed_app
    config = var_dir / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(config),
        "run",
        f"{url}/api/schema/",
        "--header",
        f"X-API-Key: {key}",
        "--checks",
        "all",
        "--phases",
        ",".join(PHASES),
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--no-color",
    ]
    result = subprocess.run(
        command,
        cwd=var_dir,  # anything Schemathesis writes stays out of the repository
        env={**os.environ, **env, "PYTHONPATH": str(settings.BASE_DIR)},
        capture_output=True,
        text=True,
        timeout=600,  # a hang guard only: the run is bounded by its example counts
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
    assert "No issues found" in output, output[-4000:]  # nor a warning ("mostly 429"...)
    for phase in ("Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}\n" in output, output[-5000:]
    # Suspensions, revocations and rotations went to the throwaway tenant: the run's key works.
    status, me = http(url, "GET", "/api/v1/me", key=key)
    assert status == 200 and me["data"]["tenantId"] == env["OUTPOST_FUZZ_TENANT"]
