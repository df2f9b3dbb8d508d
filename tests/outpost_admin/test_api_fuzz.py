"""The schema-vs-code fuzz run: Schemathesis, every check, stateful phase included, against
the app served by gunicorn on the suite's DynamoDB Local, for a bounded number of examples."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tenants import services
from tenants.domain import Scope, Tier
from tests.conftest import unique_email
from tests.live_app import app_server

CONFIG = """
[checks.positive_data_acceptance]
# A reused idempotency key with another body is refused by design (422), like a conflict.
expected-statuses = ["2xx", 401, 403, 404, 409, 422, 429]

[[operations]]
# The control plane's DELETE /dispatch/{id} cancels: the dispatch stays readable afterwards.
include-operation-id = "legacy_dispatch_cancel"
checks.use_after_free.enabled = false

[[operations]]
# Schemathesis 4.32.5 crashes inside its own coverage phase (KeyError) on this operation:
# only that phase is off here; examples, fuzzing and stateful still cover it.
include-operation-id = "dispatch_get"
phases.coverage.enabled = false
"""


@pytest.fixture
def fuzzed_app(dynamodb_local, tmp_path, actor):
    var_dir = tmp_path
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
    throwaway, throwaway_key = services.tenant_provision(
        name="Fuzz throwaway", email=unique_email("throwaway"), tier=Tier.FREE, actor=actor
    )
    env = {
        "SCHEMATHESIS_HOOKS": "tests.api_fuzz_hooks",
        "OUTPOST_FUZZ_TENANT": tenant.tenant_id,
        "OUTPOST_FUZZ_THROWAWAY_TENANT": throwaway.tenant_id,
        "OUTPOST_FUZZ_THROWAWAY_KEY": throwaway_key.key.api_key_id,
    }
    # The server's own SQLite (staff sessions): without its tables, a session cookie is a 500.
    database = {"DATABASE_URL": f"sqlite:///{var_dir / 'db.sqlite3'}"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=settings.BASE_DIR,
        env={**os.environ, **database, "DJANGO_SECRET_KEY": "test-only"},
        check=True,
    )
    with app_server(dynamodb_local, var_dir) as url:
        yield url, run_key.raw, env, var_dir


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
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        "10",
        "--seed",
        "20261127",
        "--generation-deterministic",
        "--workers",
        "2",
        "--max-time",
        "120",
        "--request-timeout",
        "20",
    ]
    result = subprocess.run(
        command,
        env={**os.environ, **env, "PYTHONPATH": str(settings.BASE_DIR)},
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-3000:]
