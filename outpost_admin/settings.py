"""Settings, read from the environment through the helpers below (see README.md)."""

import os
import secrets
from pathlib import Path

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
    "outpost_admin",
    "tenants",
    "dispatches",
    "fleet",
]

MIDDLEWARE = [
    "outpost_admin.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "outpost_admin.middleware.StoreUnavailableMiddleware",
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

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}", conn_max_age=60
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

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

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
        "outpost_admin.api.authentication.ApiKeyAuthentication",
        "outpost_admin.api.authentication.StaffSessionAuthentication",
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
    "ENUM_NAME_OVERRIDES": {
        "DispatchStatusEnum": "dispatches.domain.API_STATUSES",
        "TenantStatusEnum": "tenants.domain.TenantStatus",
        "KeyStatusEnum": "tenants.apis.KEY_STATUSES",
        "TenantStatusChangeEnum": "tenants.apis.STATUS_CHANGES",
    },
}

# DynamoDB: unset endpoint means AWS through boto3's default credential chain.
DYNAMODB_ENDPOINT_URL = env("DYNAMODB_ENDPOINT_URL") or None
DYNAMODB_REGION = env("AWS_REGION", env("AWS_DEFAULT_REGION", "us-east-1"))
DYNAMODB_CONNECT_TIMEOUT = float(env("DYNAMODB_CONNECT_TIMEOUT", "2"))
DYNAMODB_READ_TIMEOUT = float(env("DYNAMODB_READ_TIMEOUT", "5"))
DYNAMODB_MAX_ATTEMPTS = env_int("DYNAMODB_MAX_ATTEMPTS", 3)
DYNAMODB_LOCAL_PORT = env_int("DYNAMODB_LOCAL_PORT", 8001)
DYNAMODB_TENANTS_TABLE = env("DYNAMODB_TENANTS_TABLE", "outpost-tenants-dev")
DYNAMODB_API_KEYS_TABLE = env("DYNAMODB_API_KEYS_TABLE", "outpost-api-keys-dev")
DYNAMODB_AUDIT_TABLE = env("DYNAMODB_AUDIT_TABLE", "outpost-audit-dev")
DYNAMODB_TABLE_PREFIX = env("DYNAMODB_TABLE_PREFIX", "outpost")

# API keys: verified keys are cached this long per process; usage is flushed this often.
# A revocation reaches every process's reads within this; creates re-check the key at once.
API_KEY_CACHE_SECONDS = env_int("OUTPOST_API_KEY_CACHE_SECONDS", 5)
API_KEY_USAGE_FLUSH_SECONDS = env_int("OUTPOST_API_KEY_USAGE_FLUSH_SECONDS", 60)
AUDIT_RETENTION_DAYS = env_int("OUTPOST_AUDIT_RETENTION_DAYS", 365)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"botocore": {"level": "WARNING"}, "urllib3": {"level": "WARNING"}},
}

# Dispatch execution. OUTPOST_AGENT_COMMANDS: JSON object, agent name -> argv list whose
# items may contain {task}, {repo}, {branch}, {model}. Agents without one are refused.
OUTPOST_EXECUTOR = env("OUTPOST_EXECUTOR", "local")
OUTPOST_AGENT_COMMANDS = env("OUTPOST_AGENT_COMMANDS", "{}")
OUTPOST_LOG_MAX_BYTES = env_int("OUTPOST_LOG_MAX_BYTES", 1_000_000)
OUTPOST_WORKER_HEARTBEAT_SECONDS = env_int("OUTPOST_WORKER_HEARTBEAT_SECONDS", 5)
OUTPOST_WORKER_DEAD_AFTER_SECONDS = env_int("OUTPOST_WORKER_DEAD_AFTER_SECONDS", 60)
OUTPOST_WORKER_CONCURRENCY = env_int("OUTPOST_WORKER_CONCURRENCY", 1)
OUTPOST_WORKER_DRAIN_SECONDS = float(env("OUTPOST_WORKER_DRAIN_SECONDS", "30"))
# Recovery (dispatches.reconcile) runs inside the workers: how often, one worker at a time
# under a lease, and how long past claim + timeout a RUNNING dispatch may stay RUNNING.
OUTPOST_RECOVERY_SECONDS = env_int("OUTPOST_RECOVERY_SECONDS", 15)
OUTPOST_RECOVERY_LEASE_SECONDS = env_int("OUTPOST_RECOVERY_LEASE_SECONDS", 60)
OUTPOST_RECOVERY_GRACE_SECONDS = env_int("OUTPOST_RECOVERY_GRACE_SECONDS", 120)
