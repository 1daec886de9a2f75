"""The quota ledger in DynamoDB: every request to Intervals first reserves a unit of the account's daily allowance.

One item per account and UTC day; a reservation is one atomic conditional `UpdateItem` that adds the units only if
the count stays under `limit - reserve`, so that concurrent Lambda invocations and CLI runs together never pass the
ceiling. The rules (days, resets, the ceiling) are in `engine/quota_rules.py`; the port is `logic.ports.QuotaLedger`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from timereports.clock import as_utc, utc_now
from timereports.dal.aws_errors import AWS_ERRORS, ConditionFailed, aws_error, conditional_write
from timereports.engine.quota_rules import (
    DEFAULT_DAILY_LIMIT,
    QuotaStatus,
    check_allowance,
    check_requests,
    exhausted_error,
    next_reset,
    quota_day,
)
from timereports.errors import TimereportsError
from timereports.models.intervals import ApiQuota

# How long a day's item outlives its day before DynamoDB's TTL may delete it (readers never look at old days anyway).
ITEM_RETENTION = timedelta(days=2)
# A reservation is retried only when its condition failed for a reason that has gone by the time we look (the
# learned limit changed, or a refund landed); a small bound keeps a pathological race from spinning.
MAX_RESERVE_ATTEMPTS = 5


def _number(item: dict[str, Any], name: str, default: int) -> int:
    value = item.get(name)
    return int(value["N"]) if value and "N" in value else default


def _flag(item: dict[str, Any], name: str) -> bool:
    value = item.get(name)
    return bool(value and value.get("BOOL"))


def _epoch(moment: datetime) -> int:
    return int(as_utc(moment).timestamp())


# The item's attribute names go through ExpressionAttributeNames: `limit` is a DynamoDB reserved word.
_NAMES = {"#used": "used", "#limit": "limit", "#exhausted": "exhausted", "#expires_at": "expires_at"}


class DynamoDBQuotaLedger:
    """The ledger shared by every invocation and run: one item per account and UTC day in the app's state table.

    Key `pk = "quota#<account>"`, `sk = "<YYYY-MM-DD>"`; attributes `used`, `limit` (the configured daily limit until
    GET /quota/ tells the real one), `exhausted`, `resets_at` (when the API gave one) and `expires_at` (the table's
    TTL, a couple of days after the day). Every change is a single UpdateItem whose condition makes it atomic, so
    concurrent Lambdas and CLI runs never read-modify-write and together never pass `limit - reserve`.
    Items of other days are never read, so TTL deletions (which moto never does, and AWS does late) do not matter.
    """

    def __init__(
        self,
        table_name: str,
        account: str,
        *,
        daily_limit: int = DEFAULT_DAILY_LIMIT,
        reserve: int = 0,
        client: Any,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        check_allowance(daily_limit, reserve)
        self.table_name = table_name
        self.account = account
        self.daily_limit = daily_limit
        self.reserve_requests = reserve
        self.client = client
        self._clock = clock
        # The limit this process believes today's item holds, so that `reserve` can state its ceiling in the
        # condition (DynamoDB conditions cannot compute `limit - reserve - n`). Per day: a new day's item starts
        # from the configured limit until GET /quota/ says otherwise.
        self._assumed: tuple[date, int] | None = None

    # -- the port ---------------------------------------------------------------------------------------------

    def reserve(self, requests: int = 1) -> QuotaStatus:
        """Reserve `requests` units with one conditional ADD, or raise QuotaExhaustedError having reserved none."""
        check_requests(requests)
        now = as_utc(self._clock())
        day = quota_day(now)
        for _ in range(MAX_RESERVE_ATTEMPTS):
            assumed_limit = self._assumed_limit(day)
            most_used_before = max(0, assumed_limit - self.reserve_requests) - requests
            if most_used_before < 0:
                # More than the whole ceiling: no write can succeed unless the item knows a larger limit.
                item = self._get(day)
                if item is not None and _number(item, "limit", assumed_limit) != assumed_limit:
                    self._learn_limit(day, _number(item, "limit", assumed_limit))
                    continue
                raise exhausted_error(self._status(now, item or {}), requests)
            updated, old_item = self._update(
                day,
                # ADD is atomic on the server: concurrent reservations never lose each other's units.
                "ADD #used :n SET #limit = if_not_exists(#limit, :assumed_limit), "
                "#expires_at = if_not_exists(#expires_at, :expires_at)",
                # Why each clause:
                # - the item's limit is the one our ceiling was computed from; if GET /quota/ (in another run)
                #   changed it since we last looked, the ceiling is stale: fail and recompute;
                # - `used <= ceiling - n` is what keeps the sum of all runs' reservations within the ceiling: the
                #   check and the ADD happen as one step on the item, so two runs can never both take the last units;
                #   a missing `used` is a fresh day with nothing spent (n <= ceiling was checked above);
                # - once the API answered code 11 (or /quota/ said exceeded), any request would only be refused
                #   and count against the account, so nothing is reserved until the reset.
                "(attribute_not_exists(#limit) OR #limit = :assumed_limit) "
                "AND (attribute_not_exists(#used) OR #used <= :most_used_before) "
                "AND (attribute_not_exists(#exhausted) OR #exhausted = :false)",
                {
                    ":n": {"N": str(requests)},
                    ":assumed_limit": {"N": str(assumed_limit)},
                    ":most_used_before": {"N": str(most_used_before)},
                    ":false": {"BOOL": False},
                    ":expires_at": {"N": str(self._expires_at(day))},
                },
            )
            if updated is not None:
                return self._status(now, updated)
            # The condition failed: DynamoDB handed back the item as it was, so we can tell why without a race.
            old_item = old_item or {}
            item_limit = _number(old_item, "limit", assumed_limit)
            if item_limit != assumed_limit:
                self._learn_limit(day, item_limit)
                continue
            refused = self._status(now, old_item)
            if refused.exhausted or refused.used + requests > refused.ceiling:
                raise exhausted_error(refused, requests)
        # Only reachable if the limit kept changing under us; refusing is the side that keeps the account safe.
        raise exhausted_error(self.status(), requests)

    def refund(self, requests: int, *, day: date | None = None) -> None:
        """Give back units a run reserved and did not send, never below zero; a past day's refund is dropped."""
        check_requests(requests)
        today = quota_day(self._clock())
        if day is not None and day != today:
            return
        for _ in range(MAX_RESERVE_ATTEMPTS):
            # `used >= n` keeps the count from going negative, and `attribute_exists` keeps a refund from creating
            # an item (a day with nothing reserved has nothing to give back).
            updated, old_item = self._update(
                today,
                "ADD #used :minus_n",
                "attribute_exists(#used) AND #used >= :n",
                {":minus_n": {"N": str(-requests)}, ":n": {"N": str(requests)}},
            )
            if updated is not None or not old_item or _number(old_item, "used", 0) == 0:
                return
            # Fewer units are counted than the refund gives back (a concurrent refund, or a caller returning more than
            # it reserved): floor at zero, but only while that is still true, since a reservation may have landed.
            updated, _ = self._update(
                today,
                "SET #used = :zero",
                "attribute_exists(#used) AND #used < :n",
                {":zero": {"N": "0"}, ":n": {"N": str(requests)}},
            )
            if updated is not None:
                return

    def observe(self, quota: ApiQuota) -> QuotaStatus:
        """Take the API's limit and exceeded flag; raise `used` to the API's count, never lower it."""
        now = as_utc(self._clock())
        day = quota_day(now)
        set_limit = "SET #limit = :api_limit, #expires_at = if_not_exists(#expires_at, :expires_at)"
        if quota.exceeded:
            set_limit += ", #exhausted = :true"
        values: dict[str, Any] = {
            ":api_limit": {"N": str(quota.quota)},
            ":expires_at": {"N": str(self._expires_at(day))},
        }
        if quota.exceeded:
            values[":true"] = {"BOOL": True}
        # The API's count includes the account's other users, so ours is raised to it; but it is only raised:
        # our own reservations may not have reached the API yet, and lowering the count would hand them out twice.
        # A plain read-then-write would let a concurrent reservation slip between the two and be overwritten.
        updated, _ = self._update(
            day,
            f"{set_limit}, #used = :api_used",
            "attribute_not_exists(#used) OR #used < :api_used",
            {**values, ":api_used": {"N": str(quota.used)}},
        )
        if updated is None:
            # Our count is already at least the API's: record only the limit (and flag). The limit is the API's own
            # word, so the last writer wins and no condition is needed.
            updated, _ = self._update(day, set_limit, None, values)
        self._learn_limit(day, quota.quota)
        return self._status(now, updated or {})

    def mark_exhausted(self, resets_at: datetime | None = None) -> None:
        """Refuse every reservation for the rest of this UTC day (the API answered code 11)."""
        now = as_utc(self._clock())
        day = quota_day(now)
        expression = (
            "SET #exhausted = :true, #used = if_not_exists(#used, :zero), "
            "#limit = if_not_exists(#limit, :assumed_limit), #expires_at = if_not_exists(#expires_at, :expires_at)"
        )
        values: dict[str, Any] = {
            ":true": {"BOOL": True},
            ":zero": {"N": "0"},
            ":assumed_limit": {"N": str(self._assumed_limit(day))},
            ":expires_at": {"N": str(self._expires_at(day))},
        }
        names = dict(_NAMES)
        if resets_at is not None:
            expression += ", #resets_at = :resets_at"
            values[":resets_at"] = {"N": str(_epoch(resets_at))}
            names["#resets_at"] = "resets_at"
        # Unconditional: within a day the flag only ever goes on, so concurrent writers agree.
        self._update(day, expression, None, values, names=names)

    def status(self) -> QuotaStatus:
        """Today's count, limit and flag (a strongly consistent read)."""
        now = as_utc(self._clock())
        return self._status(now, self._get(quota_day(now)) or {})

    # -- DynamoDB ---------------------------------------------------------------------------------------------

    def key(self, day: date) -> dict[str, Any]:
        """The item's key: one item per account and UTC day."""
        return {"pk": {"S": f"quota#{self.account}"}, "sk": {"S": day.isoformat()}}

    def _assumed_limit(self, day: date) -> int:
        assumed = self._assumed
        return assumed[1] if assumed is not None and assumed[0] == day else self.daily_limit

    def _learn_limit(self, day: date, limit: int) -> None:
        self._assumed = (day, limit)

    def _expires_at(self, day: date) -> int:
        return _epoch(datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC) + ITEM_RETENTION)

    def _status(self, now: datetime, item: dict[str, Any]) -> QuotaStatus:
        day = quota_day(now)
        limit = _number(item, "limit", self._assumed_limit(day))
        if "limit" in item:
            self._learn_limit(day, limit)
        exhausted = _flag(item, "exhausted")
        resets_at = next_reset(now)
        stored_reset = _number(item, "resets_at", 0)
        if exhausted and stored_reset > now.timestamp():
            resets_at = datetime.fromtimestamp(stored_reset, tz=UTC)
        return QuotaStatus(
            account=self.account,
            day=day,
            used=_number(item, "used", 0),
            limit=limit,
            reserve=self.reserve_requests,
            exhausted=exhausted,
            resets_at=resets_at,
        )

    def _get(self, day: date) -> dict[str, Any] | None:
        try:
            # Strongly consistent: a status read right after a reservation must see it.
            reply = self.client.get_item(TableName=self.table_name, Key=self.key(day), ConsistentRead=True)
        except AWS_ERRORS as exc:
            raise self._store_error("GetItem", exc) from exc
        item: dict[str, Any] | None = reply.get("Item")
        return item

    def _update(
        self,
        day: date,
        expression: str,
        condition: str | None,
        values: dict[str, Any],
        *,
        names: dict[str, str] | None = None,
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """One UpdateItem: (the new item, None), or (None, the item as it was) when the condition failed."""
        used_names = names or _NAMES
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": self.key(day),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": {k: v for k, v in used_names.items() if k in f"{expression} {condition}"},
            "ExpressionAttributeValues": values,
            "ReturnValues": "ALL_NEW",
        }
        if condition is not None:
            request["ConditionExpression"] = condition
            # The refused item comes back with the error, so the caller learns why without a second, racy read.
            request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        reply = conditional_write(self._describe("UpdateItem"), lambda: self.client.update_item(**request))
        if isinstance(reply, ConditionFailed):
            return None, reply.item
        new_item: dict[str, Any] = reply.get("Attributes", {})
        return new_item, None

    def _describe(self, operation: str) -> str:
        return f"quota ledger: DynamoDB {operation} on table {self.table_name!r} for account {self.account!r}"

    def _store_error(self, operation: str, exc: Exception) -> TimereportsError:
        return aws_error(self._describe(operation), exc)
