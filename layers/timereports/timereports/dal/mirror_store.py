"""The entry mirror's storage: month objects in the reports bucket (private `mirror/` prefix), the manifest in the
state table, and reference data kept across runs.

Objects are never overwritten: each write goes to a new key, and only a manifest published with a conditional
write on its version makes it visible. A sync that dies between the two leaves an unreferenced object (removed
by the prefix's lifecycle rule) and the previous manifest intact. Superseded objects are deleted after a publish;
a reader that finds one gone reads the newer manifest.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable
from typing import Any

from timereports.dal.aws_errors import AWS_ERRORS, ConditionFailed, aws_error, aws_error_code, conditional_write
from timereports.models.mirror import MirrorManifest

MIRROR_PREFIX = "mirror/"
MANIFEST_SORT_KEY = "manifest"
OBJECT_CONTENT_TYPE = "application/json"
OBJECT_ENCODING = "deflate"
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def manifest_partition(account: str) -> str:
    return f"mirror#{account}"


def month_object_key(account: str, month: str) -> str:
    """A new, never reused key for a month's object."""
    return f"{MIRROR_PREFIX}{account}/time/{month}/{uuid.uuid4().hex}.json.z"


class S3MirrorStore:
    """Month objects in S3 and the manifest in DynamoDB (pk `mirror#<account>`, sk `manifest`)."""

    def __init__(self, account: str, *, bucket: str, table_name: str, s3: Any, dynamodb: Any) -> None:
        self.account = account
        self.bucket = bucket
        self.table_name = table_name
        self._s3 = s3
        self._dynamodb = dynamodb

    # -- manifest --------------------------------------------------------------------------------------------------

    def load_manifest(self) -> MirrorManifest:
        """The published manifest (strongly consistent), or an empty one at version 0."""
        try:
            reply = self._dynamodb.get_item(
                TableName=self.table_name,
                Key={"pk": {"S": manifest_partition(self.account)}, "sk": {"S": MANIFEST_SORT_KEY}},
                ConsistentRead=True,
            )
        except AWS_ERRORS as exc:
            raise aws_error(f"mirror: reading the manifest of {self.account!r}", exc) from exc
        item = reply.get("Item")
        if not item:
            return MirrorManifest(account=self.account)
        manifest = MirrorManifest.model_validate_json(item["doc"]["S"])
        return manifest.model_copy(update={"version": int(item["version"]["N"])})

    def publish(self, manifest: MirrorManifest, expected_version: int) -> bool:
        """Write `manifest` as version `expected_version + 1` if the published one is still `expected_version`.

        False when another sync published first: the caller reloads and redoes its work over the newer manifest,
        so neither sync's update is lost.
        """
        version = expected_version + 1
        document = manifest.model_copy(update={"version": version}).model_dump_json()
        # The condition is the whole concurrency story: a publish over a version someone else has replaced fails.
        condition = "attribute_not_exists(pk)" if expected_version == 0 else "version = :expected"
        values = {":expected": {"N": str(expected_version)}} if expected_version else {}
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Item": {
                "pk": {"S": manifest_partition(self.account)},
                "sk": {"S": MANIFEST_SORT_KEY},
                "version": {"N": str(version)},
                "doc": {"S": document},
            },
            "ConditionExpression": condition,
        }
        if values:
            request["ExpressionAttributeValues"] = values
        reply = conditional_write(
            f"mirror: publishing the manifest of {self.account!r}", lambda: self._dynamodb.put_item(**request)
        )
        return not isinstance(reply, ConditionFailed)

    # -- objects ---------------------------------------------------------------------------------------------------

    def write_month(self, month: str, body: bytes) -> str:
        """Store a month's object under a new key (invisible until a manifest names it); returns the key."""
        key = month_object_key(self.account, month)
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=OBJECT_CONTENT_TYPE,
                ContentEncoding=OBJECT_ENCODING,
                ServerSideEncryption="AES256",
                IfNoneMatch="*",
            )
        except AWS_ERRORS as exc:
            raise aws_error(f"mirror: writing month {month} of {self.account!r}", exc) from exc
        return key

    def read_object(self, key: str) -> bytes | None:
        """An object's bytes, or None when it is gone (expired by the lifecycle rule, or superseded)."""
        try:
            reply = self._s3.get_object(Bucket=self.bucket, Key=key)
            return bytes(reply["Body"].read())
        except AWS_ERRORS as exc:
            if aws_error_code(exc) in MISSING_CODES:
                return None
            raise aws_error(f"mirror: reading {key}", exc) from exc

    def delete_objects(self, keys: Iterable[str]) -> None:
        """Remove superseded or orphaned objects (best effort: the lifecycle rule removes what is left)."""
        for key in keys:
            try:
                self._s3.delete_object(Bucket=self.bucket, Key=key)
            except AWS_ERRORS:
                continue


class S3ReferenceCache:
    """The reference records kept across runs in the bucket (`mirror/<account>/reference/<user>/<resource>`),
    refreshed after `ttl_seconds` (a day by default: they change rarely, as the API's docs say), and in the process
    for the life of a warm Lambda. The user part is a hash of the token, never the token."""

    def __init__(
        self,
        account: str,
        *,
        bucket: str,
        s3: Any,
        ttl_seconds: float,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.account = account
        self.bucket = bucket
        self.ttl_seconds = ttl_seconds
        self._s3 = s3
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[tuple[str, str], str], tuple[float, list[dict[str, Any]]]] = {}

    def _key(self, key: tuple[str, str], resource: str) -> str:
        return f"{MIRROR_PREFIX}{self.account}/reference/{key[1]}/{resource}.json.z"

    def _fresh(self, stored_at: float) -> bool:
        return self._wall_clock() - stored_at < self.ttl_seconds

    def get(self, key: tuple[str, str], resource: str) -> list[dict[str, Any]] | None:
        """The records, from the process or the bucket, or None when missing or older than the TTL."""
        with self._lock:
            held = self._entries.get((key, resource))
        if held is not None and self._fresh(held[0]):
            return held[1]
        try:
            reply = self._s3.get_object(Bucket=self.bucket, Key=self._key(key, resource))
            document = json.loads(zlib.decompress(reply["Body"].read()))
        except AWS_ERRORS as exc:
            if aws_error_code(exc) in MISSING_CODES:
                return None
            raise aws_error(f"mirror: reading reference data {resource}", exc) from exc
        except (ValueError, zlib.error):
            return None  # unreadable: fetched again
        stored_at = float(document.get("stored_at", 0))
        if not self._fresh(stored_at):
            return None
        records = list(document.get("records", []))
        with self._lock:
            self._entries[(key, resource)] = (stored_at, records)
        return records

    def put(self, key: tuple[str, str], resource: str, records: list[dict[str, Any]]) -> None:
        """Keep `records` in the process and in the bucket for the TTL."""
        stored_at = self._wall_clock()
        with self._lock:
            self._entries[(key, resource)] = (stored_at, records)
        body = json.dumps({"stored_at": stored_at, "records": records}, separators=(",", ":"))
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=self._key(key, resource),
                Body=zlib.compress(body.encode("utf-8")),
                ContentType=OBJECT_CONTENT_TYPE,
                ContentEncoding=OBJECT_ENCODING,
                ServerSideEncryption="AES256",
            )
        except AWS_ERRORS as exc:
            raise aws_error(f"mirror: storing reference data {resource}", exc) from exc
