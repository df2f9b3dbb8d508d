"""Settings, read from the environment through the helpers below (see README.md)."""

import json
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("OUTPOST_VAR_DIR", BASE_DIR / "var"))


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    return env(name, str(default)).lower() in ("1", "true", "yes", "on")


def env_int(name: str, default: int) -> int:
    return int(env(name, str(default)))


def _secret_key() -> str:
    if key := env("DJANGO_SECRET_KEY"):
        return key
    # Local runs keep a generated key in var/ so sessions and cursors survive restarts.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DJANGO_DEBUG")
ALLOWED_HOSTS = env("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in env("DJANGO_CSRF_TRUSTED_ORIGINS").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.forms",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "csp",
    "axes",
    "outpost_admin",
    "tenants",
    "dispatches",
    "webhooks",
    "usage",
    "billing",
    "fleet",
]

MIDDLEWARE = [
    "outpost_admin.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "outpost_admin.api.limits.UriTooLongMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "outpost_admin.middleware.SessionIdleTimeoutMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Sees a key's requests once answered (503s included), for the key page; no I/O.
    "tenants.middleware.KeyRequestLog",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "outpost_admin.middleware.StoreUnavailableMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "outpost_admin.urls"
WSGI_APPLICATION = "outpost_admin.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

# SQLite under gunicorn's threads: WAL lets reads go on beside a write; IMMEDIATE takes the
# write lock when a transaction starts (a deferred one that reads, then writes, fails at once
# with "database is locked" when another got there first, whatever the timeout); a writer
# waits up to SQLITE_BUSY_SECONDS for the lock instead of failing. Other databases need none.
SQLITE_BUSY_SECONDS = 5


def with_sqlite_options(database: dict[str, Any]) -> dict[str, Any]:
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("OPTIONS", {}).update(
            {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
                "transaction_mode": "IMMEDIATE",
                "timeout": SQLITE_BUSY_SECONDS,
            }
        )
    return database


DATABASES = {
    "default": with_sqlite_options(
        dict(dj_database_url.config(default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}", conn_max_age=60))
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Forms render through templates/forms/ (field.html, form.html): see outpost_admin/forms.py.
FORM_RENDERER = "outpost_admin.forms.FormRenderer"

# Invited tenant users choose their own password: hold it to Django's usual rules.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]

# Password guessing (django-axes): OUTPOST_LOGIN_FAILURE_LIMIT failures in a row for one
# username from one address lock that username out at that address, and
# OUTPOST_LOGIN_ADDRESS_FAILURE_LIMIT failures from one address, whatever the usernames, lock
# the address, for OUTPOST_LOGIN_LOCKOUT_MINUTES; each failure during the lockout starts the
# wait again. So a stranger cannot lock a user out, nor five typos everyone behind one NAT.
# Staff unlock with `manage.py axes_reset_username` or `axes_reset_ip` (README).
AUTHENTICATION_BACKENDS = [
    "outpost_admin.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("OUTPOST_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("OUTPOST_LOGIN_LOCKOUT_MINUTES", 15))
OUTPOST_LOGIN_ADDRESS_FAILURE_LIMIT = env_int("OUTPOST_LOGIN_ADDRESS_FAILURE_LIMIT", 50)
# In this order: LockoutHandler gives the second its own limit, the one above.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "outpost_admin.lockout.login_locked_out"
# The database handler, made safe: a refused try adds no row, and a database error in the
# bookkeeping is a logged warning, never a 500 (outpost_admin/lockout.py, README).
AXES_HANDLER = "outpost_admin.lockout.LockoutHandler"
AXES_CLIENT_IP_CALLABLE = "outpost_admin.actors.client_ip_of"
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False
# Proxies in front of the app that append the caller's address to X-Forwarded-For; 0 means
# the caller connects directly (REMOTE_ADDR). Login lockout, API throttling and audit use it.
OUTPOST_TRUSTED_PROXIES = env_int("OUTPOST_TRUSTED_PROXIES", 0)

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
SESSION_COOKIE_HTTPONLY = True
# A signed-in session ends after this long without a request (SessionIdleTimeoutMiddleware).
SESSION_COOKIE_AGE = env_int("DJANGO_SESSION_IDLE_HOURS", 4) * 3600
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# HTTPS (DJANGO_SECURE_COOKIES=true): secure cookies, redirect to HTTPS, HSTS, and trust the
# proxy's X-Forwarded-Proto. Health checks stay on plain HTTP for load balancers.
HTTPS = env_bool("DJANGO_SECURE_COOKIES")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^health(/|$)"]
SECURE_HSTS_SECONDS = 365 * 24 * 3600 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None

# Content-Security-Policy (django-csp): scripts and styles only from our own static files, no
# inline script anywhere (htmx is told not to inject its indicator styles: base.html).
# Style attributes are allowed; <style> elements are not.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# WhiteNoise serves static files straight from the app folders: no collectstatic step.
WHITENOISE_USE_FINDERS = True

EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", "outpost@localhost")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.api_authentication.ApiKeyAuthentication",
        "tenants.api_authentication.StaffSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["outpost_admin.api.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "outpost_admin.api.envelope.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Outpost API",
    "DESCRIPTION": "Dispatch coding agents and administer tenants of the Outpost control plane.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI served from the sidecar package: the docs page needs no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # 3.1: its JSON Schema states what 3.0's cannot, such as a tag name's length (propertyNames).
    "OAS_VERSION": "3.1.0",
    # Realistic examples of every request and error answer (outpost_admin/api/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "outpost_admin.api.schema.add_examples",
    ],
    "ENUM_NAME_OVERRIDES": {
        "DispatchStatusEnum": "dispatches.domain.API_STATUSES",
        "TenantStatusEnum": "tenants.domain.TenantStatus",
        "KeyStatusEnum": "tenants.apis.KEY_STATUSES",
        "TenantStatusChangeEnum": "tenants.apis.STATUS_CHANGES",
        "WebhookDeliveryStatusEnum": "webhooks.domain.DELIVERY_STATUSES",
    },
}

# DynamoDB: unset endpoint means AWS through boto3's default credential chain.
DYNAMODB_ENDPOINT_URL = env("DYNAMODB_ENDPOINT_URL") or None
DYNAMODB_REGION = env("AWS_REGION", env("AWS_DEFAULT_REGION", "us-east-1"))
# The time budget of one call in the web server (README, "Time budget"): two attempts of at
# most connect + read timeout each, at most 25 ms apart: 2.6 s at worst, about 2 s for a
# stalled store; then the breaker answers for the store at once until a probe finds it back.
# Commands and workers (not wsgi.py) answer nobody waiting: they give a busy store longer.
WEB_REQUEST_BUDGET = {"connect": "0.3", "read": "1", "attempts": "2"}
_budget = (
    WEB_REQUEST_BUDGET
    if env_bool("OUTPOST_WEB")
    else {"connect": "2", "read": "5", "attempts": "3"}
)
DYNAMODB_CONNECT_TIMEOUT = float(env("DYNAMODB_CONNECT_TIMEOUT", _budget["connect"]))
DYNAMODB_READ_TIMEOUT = float(env("DYNAMODB_READ_TIMEOUT", _budget["read"]))
DYNAMODB_MAX_ATTEMPTS = env_int("DYNAMODB_MAX_ATTEMPTS", int(_budget["attempts"]))
DYNAMODB_BREAKER_FAILURES = env_int("DYNAMODB_BREAKER_FAILURES", 2)
DYNAMODB_BREAKER_OPEN_SECONDS = float(env("DYNAMODB_BREAKER_OPEN_SECONDS", "5"))
DYNAMODB_LOCAL_PORT = env_int("DYNAMODB_LOCAL_PORT", 8001)
DYNAMODB_TENANTS_TABLE = env("DYNAMODB_TENANTS_TABLE", "outpost-tenants-dev")
DYNAMODB_API_KEYS_TABLE = env("DYNAMODB_API_KEYS_TABLE", "outpost-api-keys-dev")
DYNAMODB_AUDIT_TABLE = env("DYNAMODB_AUDIT_TABLE", "outpost-audit-dev")
DYNAMODB_TABLE_PREFIX = env("DYNAMODB_TABLE_PREFIX", "outpost")

# API keys: verified keys are cached this long per process; usage is flushed this often.
# A revocation reaches every process's reads within this; creates re-check the key at once.
API_KEY_CACHE_SECONDS = env_int("OUTPOST_API_KEY_CACHE_SECONDS", 5)
API_KEY_USAGE_FLUSH_SECONDS = env_int("OUTPOST_API_KEY_USAGE_FLUSH_SECONDS", 60)
# Guessing keys: a hash that matches no key is remembered this long (no read when it comes
# again); an address with this many failed authentications in the window gets 429s until it ends.
API_KEY_UNKNOWN_CACHE_SECONDS = env_int("OUTPOST_API_KEY_UNKNOWN_CACHE_SECONDS", 30)
API_AUTH_FAILURE_LIMIT = env_int("OUTPOST_API_AUTH_FAILURE_LIMIT", 20)
API_AUTH_FAILURE_WINDOW_SECONDS = env_int("OUTPOST_API_AUTH_FAILURE_WINDOW_SECONDS", 60)
AUDIT_RETENTION_DAYS = env_int("OUTPOST_AUDIT_RETENTION_DAYS", 365)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "botocore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "axes": {"level": "WARNING"},  # every sign-in at INFO; lockouts are WARNING
    },
}

# Dispatch execution. OUTPOST_AGENT_COMMANDS: JSON object, agent name -> argv list whose
# items may contain {task}, {repo}, {branch}, {model}. Agents without one are refused.
OUTPOST_EXECUTOR = env("OUTPOST_EXECUTOR", "local")
OUTPOST_AGENT_COMMANDS = env("OUTPOST_AGENT_COMMANDS", "{}")
OUTPOST_LOG_MAX_BYTES = env_int("OUTPOST_LOG_MAX_BYTES", 1_000_000)
# The resources a dispatch is priced on (dispatches/costs.py), as the control plane's ledger
# takes them: vCPU units (1024 = 1 vCPU) and memory in MB; its defaults are 1024 and 2048.
OUTPOST_COST_VCPU_UNITS = env_int("OUTPOST_COST_VCPU_UNITS", 1024)
OUTPOST_COST_MEMORY_MB = env_int("OUTPOST_COST_MEMORY_MB", 2048)
OUTPOST_WORKER_HEARTBEAT_SECONDS = env_int("OUTPOST_WORKER_HEARTBEAT_SECONDS", 5)
OUTPOST_WORKER_DEAD_AFTER_SECONDS = env_int("OUTPOST_WORKER_DEAD_AFTER_SECONDS", 60)
# /health/fleet is unauthenticated: each process computes it at most once per this window.
OUTPOST_HEALTH_CACHE_SECONDS = float(env("OUTPOST_HEALTH_CACHE_SECONDS", "5"))
OUTPOST_WORKER_CONCURRENCY = env_int("OUTPOST_WORKER_CONCURRENCY", 1)
OUTPOST_WORKER_DRAIN_SECONDS = float(env("OUTPOST_WORKER_DRAIN_SECONDS", "30"))
# Recovery (fleet.recovery) runs inside the workers: how often, one worker at a time
# under a lease, and how long past claim + timeout a RUNNING dispatch may stay RUNNING.
OUTPOST_RECOVERY_SECONDS = env_int("OUTPOST_RECOVERY_SECONDS", 15)
OUTPOST_RECOVERY_LEASE_SECONDS = env_int("OUTPOST_RECOVERY_LEASE_SECONDS", 60)
OUTPOST_RECOVERY_GRACE_SECONDS = env_int("OUTPOST_RECOVERY_GRACE_SECONDS", 120)
# The in-process stream follower (every worker, a lease per shard); "off" where AWS Lambda
# runs usage.stream_handler.handler on the streams instead.
OUTPOST_STREAM_FOLLOWER = env_bool("OUTPOST_STREAM_FOLLOWER", True)
# How often each worker follows the streams (the usage roll-ups trail dispatches by this).
OUTPOST_STREAM_FOLLOW_SECONDS = float(env("OUTPOST_STREAM_FOLLOW_SECONDS", "2"))

# Webhooks (issue 15). Private, loopback and link-local receivers (and plain http) are
# refused unless this is true: development and tests (`make run` sets it).
OUTPOST_WEBHOOK_ALLOW_PRIVATE = env_bool("OUTPOST_WEBHOOK_ALLOW_PRIVATE", False)
# Seconds between attempts: Svix's schedule (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
# 10 h), each with up to 10% jitter. Tests shorten it.
OUTPOST_WEBHOOK_RETRY_DELAYS = [
    float(s)
    for s in env("OUTPOST_WEBHOOK_RETRY_DELAYS", "0,5,300,1800,7200,18000,36000,36000").split(",")
]
OUTPOST_WEBHOOK_DISABLE_AFTER_SECONDS = env_int("OUTPOST_WEBHOOK_DISABLE_AFTER_SECONDS", 5 * 86400)
OUTPOST_WEBHOOK_TIMEOUT_SECONDS = float(env("OUTPOST_WEBHOOK_TIMEOUT_SECONDS", "15"))
# Delivery threads per worker; per endpoint at most this many at once and this many a second.
OUTPOST_WEBHOOK_THREADS = env_int("OUTPOST_WEBHOOK_THREADS", 8)
OUTPOST_WEBHOOK_ENDPOINT_CONCURRENCY = env_int("OUTPOST_WEBHOOK_ENDPOINT_CONCURRENCY", 2)
OUTPOST_WEBHOOK_ENDPOINT_RATE = float(env("OUTPOST_WEBHOOK_ENDPOINT_RATE", "10"))
# How often an idle delivery loop looks for due work; a rotated secret keeps signing this long.
OUTPOST_WEBHOOK_POLL_SECONDS = float(env("OUTPOST_WEBHOOK_POLL_SECONDS", "1"))
OUTPOST_WEBHOOK_ROTATION_GRACE_SECONDS = env_int("OUTPOST_WEBHOOK_ROTATION_GRACE_SECONDS", 86400)
# A claimed delivery is another worker's to retry when its worker shows no outcome after this.
OUTPOST_WEBHOOK_LEASE_SECONDS = float(env("OUTPOST_WEBHOOK_LEASE_SECONDS", "60"))

# Stripe billing (billing/, README "Billing"): off unless OUTPOST_STRIPE_API_KEY is set. The
# workers call Stripe, never a request: customers and subscriptions, meter events, and the
# suspension of a tenant whose payment failed once OUTPOST_BILLING_GRACE_HOURS have passed.
OUTPOST_STRIPE_API_KEY = env("OUTPOST_STRIPE_API_KEY")
OUTPOST_STRIPE_API_BASE = env("OUTPOST_STRIPE_API_BASE")  # empty: Stripe's own
OUTPOST_STRIPE_WEBHOOK_SECRET = env("OUTPOST_STRIPE_WEBHOOK_SECRET")
OUTPOST_STRIPE_WEBHOOK_TOLERANCE_SECONDS = env_int("OUTPOST_STRIPE_WEBHOOK_TOLERANCE_SECONDS", 300)
# JSON: tier -> Stripe price id; a tier without one gets a customer and no subscription.
OUTPOST_STRIPE_TIER_PRICES: dict[str, str] = json.loads(env("OUTPOST_STRIPE_TIER_PRICES", "{}"))
# JSON: meter event name -> what its value is (billing.meter.MEASURES).
OUTPOST_STRIPE_METER_EVENTS: dict[str, str] = json.loads(
    env("OUTPOST_STRIPE_METER_EVENTS", '{"outpost_dispatch_cost": "cost_microdollars"}')
)
OUTPOST_STRIPE_TIMEOUT_SECONDS = float(env("OUTPOST_STRIPE_TIMEOUT_SECONDS", "10"))
OUTPOST_STRIPE_MAX_RETRIES = env_int("OUTPOST_STRIPE_MAX_RETRIES", 2)
OUTPOST_BILLING_GRACE_HOURS = float(env("OUTPOST_BILLING_GRACE_HOURS", "72"))
OUTPOST_BILLING_SECONDS = float(env("OUTPOST_BILLING_SECONDS", "10"))

# The ECS executor (OUTPOST_EXECUTOR=ecs), configured with the control plane's own names.
ECS_CLUSTER_ARN = env("ECS_CLUSTER_ARN")
ECS_WORKER_SUBNET_IDS = [s.strip() for s in env("ECS_WORKER_SUBNET_IDS").split(",") if s.strip()]
ECS_WORKER_SECURITY_GROUP = env("ECS_WORKER_SECURITY_GROUP")
ECS_CAPACITY_PROVIDER = env("ECS_CAPACITY_PROVIDER")  # empty: launchType FARGATE
ENVIRONMENT = env("ENVIRONMENT", "dev")
AWS_ACCOUNT_ID = env("AWS_ACCOUNT_ID")
S3_OUTPUT_BUCKET = env("S3_OUTPUT_BUCKET", "outpost-outputs")
OUTPOST_ECS_POLL_SECONDS = float(env("OUTPOST_ECS_POLL_SECONDS", "5"))
AWS_CONNECT_TIMEOUT = float(env("AWS_CONNECT_TIMEOUT", "3"))
AWS_READ_TIMEOUT = float(env("AWS_READ_TIMEOUT", "10"))
