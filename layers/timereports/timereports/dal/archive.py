"""The report archive in S3: one object per report and period, so a retried run overwrites, never duplicates."""

from __future__ import annotations

from typing import Any

from timereports.dal.aws_errors import AWS_ERRORS
from timereports.errors import DeliveryError

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"


class S3Archive:
    """Stores report CSVs encrypted at rest and hands out short-lived links to them."""

    def __init__(self, bucket: str, client: Any) -> None:
        self.bucket = bucket
        self._client = client

    def put(self, key: str, body: bytes, metadata: dict[str, str], *, content_type: str = CSV_CONTENT_TYPE) -> str:
        """Write a report file (server-side encrypted) and return its key."""
        try:
            self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                ServerSideEncryption="AES256",
                Metadata=metadata,
            )
        except AWS_ERRORS as exc:
            raise DeliveryError(f"could not archive the report to s3://{self.bucket}/{key}: {exc}") from exc
        return key

    def get(self, key: str) -> bytes:
        """The archived object's bytes (a revision compares the corrected report with what was sent)."""
        try:
            body: bytes = self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except AWS_ERRORS as exc:
            raise DeliveryError(f"could not read s3://{self.bucket}/{key}: {exc}") from exc
        return body

    def link(self, key: str, expires_in: int) -> str:
        """A presigned GET URL valid for `expires_in` seconds: SigV4 (which S3 requires for encrypted objects) on the
        bucket's regional virtual host, as the client is configured by bootstrap.aws_client."""
        try:
            return str(
                self._client.generate_presigned_url(
                    "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
                )
            )
        except AWS_ERRORS as exc:
            raise DeliveryError(f"could not sign a link to s3://{self.bucket}/{key}: {exc}") from exc
