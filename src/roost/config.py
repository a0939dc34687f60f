"""Every setting of Roost, read from `ROOST_*` environment variables (or a `.env` file)."""

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROOST_", env_file=".env", extra="ignore")

    database_url: str = Field(
        "sqlite:///roost.db",
        description="sqlite:///relative.db, sqlite:////absolute/path.db or postgresql://user@host:port/db",
    )
    public_url: str | None = Field(
        None, description="Base URL of session links; default http://127.0.0.1:<port>"
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Comma-separated 32-byte URL-safe base64 keys; the first encrypts, all decrypt. "
        "Required with PostgreSQL; with SQLite a key file is generated beside the database.",
    )
    session_ttl_seconds: int = Field(900, ge=1, le=86_400)
    session_grace_seconds: int = Field(2700, ge=0, le=86_400)
    rate_limit_per_minute: int = Field(600, ge=0, description="Requests per minute per admin key; 0 turns it off")
    migrate_on_start: bool = True
    allow_insecure_redirects: bool = Field(
        False, description="Accept plain http:// redirect URIs to any host (development only)"
    )
    simulator: bool = Field(True, description="Serve the built-in Meta simulator used by test mode")
    simulator_url: str | None = None
    meta_app_id: str | None = Field(None, description="Live mode: your Meta app id")
    meta_app_secret: SecretStr | None = Field(None, description="Live mode: your Meta app secret")
    meta_config_id: str | None = Field(None, description="Live mode: the Embedded Signup login configuration id")
    meta_system_user_token: SecretStr | None = Field(
        None, description="Live mode: a system user token of your business (recovery, doctor)"
    )
    meta_verify_token: SecretStr | None = Field(None, description="Live mode: the webhook verify token")
    meta_forward_url: str | None = Field(
        None, description="Live mode: relay every webhook of the server-wide Meta app, unchanged, to this URL"
    )
    meta_partner_type: str = Field("tech_provider", pattern="^(tech_provider|solution_partner)$")
    meta_credit_line_id: str | None = Field(None, description="Solution Partners: the credit line to share")
    meta_graph_url: str = "https://graph.facebook.com"
    meta_graph_version: str = Field("v25.0", pattern=r"^v[0-9]+\.[0-9]+$")
    meta_sdk_url: str = Field(
        "https://connect.facebook.net/{locale}/sdk.js", description="Meta's JavaScript SDK; {locale} is replaced"
    )
    meta_dialog_origins: str = Field(
        "https://www.facebook.com,https://web.facebook.com",
        description="Origins whose WA_EMBEDDED_SIGNUP messages the hosted page accepts",
    )
    meta_timeout_seconds: float = Field(10.0, gt=0)
    worker_interval_seconds: float = Field(2.0, gt=0)
    webhook_allow_private: bool = Field(
        False,
        description="Let outbound webhooks reach private, loopback and link-local addresses, and plain http:// "
        "to them (local development and tests only)",
    )
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=60, description="Time limit of one webhook delivery attempt")
    webhook_concurrency: int = Field(64, ge=1, le=1000, description="Webhook deliveries in flight at once per process")
    webhook_retry_schedule: str | None = Field(
        None,
        pattern=r"^\s*[0-9]+(\.[0-9]+)?(\s*,\s*[0-9]+(\.[0-9]+)?)*\s*$",
        description="Testing aid: comma-separated seconds to wait after each failed attempt, replacing the "
        "production schedule (5 s, 5 min, 30 min, 2 h, 5 h, then 10 h up to about 3 days)",
    )
    retention_days: int = Field(90, ge=1, le=3650, description="Session events, webhook events and delivery logs older than this many days are purged")
    log_level: str = "info"
    trusted_proxies: str = Field(
        "", description="Comma-separated IPs or networks (CIDR) whose X-Forwarded-For and X-Forwarded-Proto are believed"
    )
    http_max_head_bytes: int = Field(
        32_768, ge=1024, le=1_048_576, description="Request line and headers together; a larger head gets 431"
    )
    http_head_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="A connection whose request head is not complete this long after it began is dropped (408)"
    )
    http_body_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="A request body that sends nothing for this long drops its connection"
    )
    http_keep_alive_seconds: float = Field(
        5.0, gt=0, le=3600, description="An idle keep-alive connection is closed after this long"
    )
    shutdown_grace_seconds: float = Field(
        25.0, ge=0, le=3600,
        description="On SIGTERM: how long requests in flight and provisioning started here may take to finish",
    )

    def live_meta_configured(self) -> bool:
        return bool(self.meta_app_id and self.meta_app_secret and self.meta_config_id)
