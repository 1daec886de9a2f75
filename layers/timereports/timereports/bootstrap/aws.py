"""What every handler shares: boto3 clients (one per service and endpoint per process) and the token from Secrets
Manager.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import TYPE_CHECKING

from timereports.config import AccountSettings
from timereports.errors import ConfigurationError

if TYPE_CHECKING:
    from botocore.client import BaseClient


# Secrets Manager reads are cached this long in a warm Lambda: a rotated token is picked up within minutes
# while a busy schedule does not pay a Secrets Manager call per run.
TOKEN_CACHE_SECONDS = 300


def aws_client(service: str) -> BaseClient:
    """A boto3 client honouring AWS_ENDPOINT_URL (local AWS); S3's signs SigV4 links on the bucket's regional host.

    One client per service and endpoint for the life of the process: a warm Lambda reuses them across
    invocations instead of paying tens of milliseconds per client on every run (boto3 clients are thread-safe).
    """
    environment = tuple(os.environ.get(name) for name in _CLIENT_ENVIRONMENT)
    return _cached_client(service, environment)


# What a client is bound to when created: a change (tests pointing at another local AWS) gets a new client.
_CLIENT_ENVIRONMENT = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
)


@lru_cache(maxsize=32)
def _cached_client(service: str, environment: tuple[str | None, ...]) -> BaseClient:
    # Deferred to the first client: boto3 and botocore cost ~200 ms to import; a warm container pays it once.
    import boto3
    from botocore.config import Config
    from botocore.exceptions import NoRegionError

    config = Config(retries={"mode": "standard", "max_attempts": 5})
    if service == "s3":
        # Real S3 only accepts SigV4 for KMS-encrypted objects; moto would accept the old form and hide the bug.
        config = config.merge(Config(signature_version="s3v4"))
        bound_to = dict(zip(_CLIENT_ENVIRONMENT, environment, strict=True))
        if not (bound_to["AWS_ENDPOINT_URL"] or bound_to["AWS_ENDPOINT_URL_S3"]):
            # Links on the bucket's regional host (bucket.s3.<region>.amazonaws.com). Left to itself botocore signs
            # for the global endpoint, which new regions refuse (SignatureDoesNotMatch) and which answers a new
            # bucket with 307 redirects for up to a day. A local endpoint (moto) keeps path style: it has no
            # per-bucket host names.
            config = config.merge(Config(s3={"addressing_style": "virtual"}))
    try:
        return boto3.client(service, config=config)  # type: ignore[call-overload]
    except NoRegionError:
        raise ConfigurationError(
            "no AWS region: set AWS_DEFAULT_REGION (and credentials) for your account, or use --local for local AWS"
        ) from None


def resolve_token(account: AccountSettings) -> str:
    """The account's API token: from the environment locally, from Secrets Manager when deployed."""
    if account.api_token is not None:
        return account.api_token.get_secret_value()
    if account.token_secret:
        # Deferred: only deployed runs read a secret (locally the token comes from the environment).
        from aws_lambda_powertools.utilities import parameters

        try:
            secret = parameters.get_secret(account.token_secret, max_age=TOKEN_CACHE_SECONDS)
        except parameters.exceptions.GetParameterError as exc:
            raise ConfigurationError(
                f"could not read the Intervals token of account {account.name!r} from Secrets Manager "
                f"secret {account.token_secret!r}"
            ) from exc
        token = str(secret).strip()
        if token.startswith("{"):
            # A secret stored as JSON ({"token": "..."}) from the console's key/value editor.
            token = str(json.loads(token).get("token", "")).strip()
        if not token:
            raise ConfigurationError(f"Secrets Manager secret {account.token_secret!r} holds no token")
        return token
    raise ConfigurationError(
        f"no Intervals API token for account {account.name!r}: set INTERVALS_API_TOKEN locally "
        "(or INTERVALS_TOKEN_SECRET to a Secrets Manager secret name when deployed)"
    )
