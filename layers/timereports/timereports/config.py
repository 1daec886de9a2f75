"""Settings: one pydantic model of the environment, read once and lazily.

Nothing reads `os.environ` at import time; `get_settings()` builds the model on first use, and
tests build `Settings` directly or call `get_settings.cache_clear()`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from timereports.errors import ConfigurationError

DEFAULT_API_URL = "https://api.myintervals.com"
# The Intervals API allows this many requests a minute per IP (its documented limit; the pacer never exceeds it).
API_REQUESTS_PER_MINUTE_LIMIT = 100


class AccountSettings(BaseModel):
    """One Intervals account: where its token lives and how much of its daily allowance we may spend."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "default"
    api_url: str = DEFAULT_API_URL
    # Locally the token comes from the environment; deployed, `token_secret` names a Secrets Manager secret.
    api_token: SecretStr | None = None
    token_secret: str | None = None
    daily_quota: int = Field(6000, ge=1)
    # Requests the ledger never spends, kept for the account's other API users (people's own scripts, apps).
    quota_reserve: int = Field(600, ge=0)
    # Runs read the account's entry mirror (synced incrementally); False pulls every run's period whole, as before.
    mirror: bool = True


class Settings(BaseModel):
    """Everything the handlers, the CLI and the adapters take from the environment."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    intervals_api_url: str = DEFAULT_API_URL
    intervals_api_token: SecretStr | None = None
    intervals_token_secret: str | None = None
    # The API's default page is 10 rows; a page of 1,000 cuts requests a hundredfold and stays a few hundred KB.
    # At least 2: pages overlap by one row (the client detects entries deleted during a pull that way).
    intervals_page_size: int = Field(1000, ge=2, le=100_000)
    # Below the API's 100 a minute per IP, so that a person's own script on the same IP still gets through.
    intervals_requests_per_minute: int = Field(90, ge=1, le=API_REQUESTS_PER_MINUTE_LIMIT)
    intervals_max_in_flight: int = Field(4, ge=1, le=16)
    # Upstream faults are retried with backoff for at most this long per request before the run fails clearly.
    intervals_max_retry_seconds: float = Field(120, gt=0, le=900)
    intervals_daily_quota: int = Field(6000, ge=1)
    intervals_quota_reserve: int = Field(600, ge=0)
    # Extra accounts as JSON: {"acme": {"token_secret": "...", "daily_quota": 12000, "quota_reserve": 500}}
    intervals_accounts: dict[str, dict[str, object]] = Field(default_factory=dict)

    # Deployed, the template names these; a function without one refuses to start instead of writing to (or sending
    # from) a guessed name. The command line supplies local defaults (timereports_dev.local_aws.LOCAL_DEFAULTS).
    state_table: str
    reports_bucket: str
    sender_email: str
    owner_email: str | None = None
    report_queue_url: str | None = None
    # The SES configuration set every email is sent with (deployed: the stack's, which publishes bounces and
    # complaints); None sends without one.
    ses_configuration_set: str | None = None
    catalogue_dir: str = "reports"
    attachment_limit_bytes: int = Field(7_000_000, ge=1)
    link_expiry_seconds: int = Field(6 * 3600, ge=60, le=7 * 24 * 3600)
    failures_before_pause: int = Field(3, ge=1)
    # The entry mirror of the default account (other accounts say `mirror` in INTERVALS_ACCOUNTS).
    mirror_enabled: bool = True
    # A mirrored month a run reads is pulled whole again after this many days, so that an amount whose rate changed
    # (which touches no entry's datemodified) is right again within that time.
    mirror_full_repull_days: int = Field(7, ge=1, le=366)
    # Reference data (names) kept in the bucket across runs is fetched again after this many hours.
    mirror_reference_hours: float = Field(24, gt=0, le=24 * 31)
    # X-Ray tracing of the handlers (the template's Tracing parameter); off, it costs nothing at cold start.
    tracing: bool = False

    @field_validator(
        "intervals_api_token",
        "intervals_token_secret",
        "owner_email",
        "report_queue_url",
        "ses_configuration_set",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # CloudFormation cannot leave a variable out, so an empty optional parameter arrives as "".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("intervals_accounts", mode="before")
    @classmethod
    def _parse_accounts(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    def account(self, name: str = "default", *, api_url: str | None = None) -> AccountSettings:
        """The settings of one Intervals account; `default` comes from the INTERVALS_* variables. `api_url`, when
        given, replaces the account's (a command's `--api-url`, the local simulator)."""
        account = self._configured_account(name)
        return account.model_copy(update={"api_url": api_url}) if api_url else account

    def _configured_account(self, name: str) -> AccountSettings:
        if name == "default" and name not in self.intervals_accounts:
            return AccountSettings(
                name="default",
                api_url=self.intervals_api_url,
                api_token=self.intervals_api_token,
                token_secret=self.intervals_token_secret,
                daily_quota=self.intervals_daily_quota,
                quota_reserve=self.intervals_quota_reserve,
                mirror=self.mirror_enabled,
            )
        if name not in self.intervals_accounts:
            known = ", ".join(sorted({"default", *self.intervals_accounts}))
            raise ConfigurationError(f"account: unknown Intervals account {name!r}; configured accounts: {known}")
        values = {"api_url": self.intervals_api_url, **self.intervals_accounts[name], "name": name}
        try:
            return AccountSettings.model_validate(values)
        except ValidationError as exc:
            raise ConfigurationError(setting_problem(f"INTERVALS_ACCOUNTS[{name!r}]", exc, AccountSettings)) from None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], defaults: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables (upper-case field names), over `defaults` (same names).

        A missing required variable, or one with a bad value, is one ConfigurationError naming the variable.
        """
        merged = {**(defaults or {}), **environ}
        values = {name: merged[name.upper()] for name in cls.model_fields if name.upper() in merged}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            if first["type"] == "missing":
                raise ConfigurationError(
                    f"{str(first['loc'][0]).upper()}: not set; the deployment must name it"
                ) from None
            raise ConfigurationError(setting_problem("", exc, cls)) from None


def setting_problem(prefix: str, error: ValidationError, model: type[BaseModel]) -> str:
    """The first problem of `error` as one line naming the setting: `INTERVALS_ACCOUNTS['acme'].dialy_quota: unknown
    field; allowed: ...` (pydantic's own message names no field, and says "Value error, " first)."""
    first = error.errors()[0]
    location = [str(part) for part in first["loc"]]
    if not prefix and location:  # an environment variable, named as it is written
        prefix, location = location[0].upper(), location[1:]
    field = prefix + "".join(
        f"[{part!r}]" if prefix.endswith("ACCOUNTS") and index == 0 else f".{part}"
        for index, part in enumerate(location)
    )
    if first["type"] == "extra_forbidden":
        return f"{field}: unknown field; allowed: {', '.join(name for name in model.model_fields if name != 'name')}"
    return f"{field or 'settings'}: {str(first['msg']).removeprefix('Value error, ')}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings.from_environ(os.environ)
