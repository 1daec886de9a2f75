"""`timereports doctor`: is this deployment ready for its first report? One finding per part, each with its fix.

The parts are the ones a first report needs, in the order it needs them: the state table (every API request is
reserved in it first), the archive bucket, the SES sender identity and sending account, the configuration set that
records bounces, the Intervals token (from its secret when deployed) and the account's quota today, the run queues,
the schedules, and the catalogue `make build` ships (no sample left addressed to example.com). Each check reads
only (Describe/Get calls, one counted `GET /me/` and the free `GET /quota/`) and turns an AWS or Intervals answer
into a finding, never a traceback.

Against a stack the names come from its outputs (timereports_dev/stack.py); with AWS_ENDPOINT_URL set and no
`--stack`, the doctor checks that local AWS under the names the environment gives (as `--local` creates them).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from botocore.exceptions import ClientError

from timereports.bootstrap.aws import resolve_token
from timereports.bootstrap.sources import build_client, build_ledger
from timereports.config import Settings
from timereports.dal.aws_errors import AWS_ERRORS
from timereports.dal.dispatch_state import DynamoDBReportStates
from timereports.errors import IntervalsAuthError, IntervalsError, TimereportsError, one_line
from timereports.models.definition import ReportDefinition
from timereports_dev.checks import read_catalogue
from timereports_dev.local_aws import STATE_TABLE_TTL_ATTRIBUTE, run_queue_name
from timereports_dev.stack import Stack, stack_schedules

Mark = Literal["ok", "fail", "skip"]
MARKS: dict[Mark, str] = {"ok": "✓", "fail": "✗", "skip": "-"}
ADMINISTRATOR_GROUP = "Administrator"
# The schedule that must be on: without it nothing is ever dispatched (the example schedule is off by default).
DISPATCH_SCHEDULE = "DispatchFunctionTick"


@dataclass(frozen=True)
class Finding:
    """One part: how it is (`mark`), what was found, and what to do when it fails."""

    part: str
    mark: Mark
    detail: str
    fix: str = ""

    @property
    def failed(self) -> bool:
        return self.mark == "fail"

    def line(self) -> str:
        """The finding as the doctor prints it: mark, part, what was found and, for a failure, the fix."""
        fix = f" -> {self.fix}" if self.failed and self.fix else ""
        return f"{MARKS[self.mark]} {self.part:<21} {self.detail}{fix}"


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or "error"
    return type(exc).__name__


class Doctor:
    """The checks of one deployment (`stack`) or of local AWS (`stack` None), with clients from `client(service)`."""

    def __init__(
        self,
        settings: Settings,
        *,
        client: Callable[[str], Any],
        stack: Stack | None = None,
        region: str = "",
        intervals: Callable[[Settings, str], Any] | None = None,
    ) -> None:
        self.settings = settings
        self.stack = stack
        self._client = client
        self._region = region or (stack.region if stack else "")
        self._intervals = intervals or _intervals_client
        self._table_ok = False

    @property
    def _r(self) -> str:
        """`--region R` for the fixes' commands (every command names it: README, Deploying)."""
        return f" --region {self._region}" if self._region else ""

    def run(self) -> list[Finding]:
        """Every check, in the order a first report needs the parts."""
        return [
            self.state_table(),
            self.bucket(),
            self.sender_identity(),
            self.sending_account(),
            self.configuration_set(),
            *self.intervals(),
            self.queues(),
            self.schedules(),
            self.catalogue(),
            self.paused_reports(),
        ]

    # -- AWS --------------------------------------------------------------------------------------------------------

    def state_table(self) -> Finding:
        part, name = "state table", self.settings.state_table
        dynamodb = self._client("dynamodb")
        try:
            status = dynamodb.describe_table(TableName=name)["Table"]["TableStatus"]
            ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        except AWS_ERRORS as exc:
            if _code(exc) == "ResourceNotFoundException":
                return Finding(part, "fail", f"{name}: missing", self._deploy_fix())
            return Finding(part, "fail", f"{name}: not readable ({_code(exc)})", "check your credentials and region")
        if ttl.get("TimeToLiveStatus") != "ENABLED" or ttl.get("AttributeName") != STATE_TABLE_TTL_ATTRIBUTE:
            return Finding(
                part,
                "fail",
                f"{name}: TTL is off (old ledger days and run records are never removed)",
                f"aws dynamodb update-time-to-live --table-name {name} --time-to-live-specification "
                f"Enabled=true,AttributeName={STATE_TABLE_TTL_ATTRIBUTE}{self._r}",
            )
        self._table_ok = status == "ACTIVE"
        if not self._table_ok:
            return Finding(part, "fail", f"{name}: {status}", "wait for the deployment to finish")
        return Finding(part, "ok", f"{name}: exists, TTL on {STATE_TABLE_TTL_ATTRIBUTE}")

    def bucket(self) -> Finding:
        part, name = "reports bucket", self.settings.reports_bucket
        s3 = self._client("s3")
        try:
            s3.head_bucket(Bucket=name)
        except AWS_ERRORS as exc:
            if _code(exc) in {"404", "NoSuchBucket"}:
                return Finding(part, "fail", f"{name}: missing", self._deploy_fix())
            return Finding(
                part, "fail", f"{name}: not accessible ({_code(exc)})", "check the bucket's owner and region"
            )
        problems = []
        try:
            block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
            if not all(block.get(key) for key in _PUBLIC_ACCESS_KEYS):
                problems.append("public access not fully blocked")
        except AWS_ERRORS:
            problems.append("no public access block")
        try:
            rules = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
            algorithms = {rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for rule in rules}
        except AWS_ERRORS:
            problems.append("no default encryption")
            algorithms = set()
        if problems:
            return Finding(
                part,
                "fail",
                f"{name}: {', '.join(problems)}",
                "redeploy the stack (template.yaml blocks public access and encrypts); do not edit the bucket by hand",
            )
        return Finding(part, "ok", f"{name}: exists, private, encrypted ({', '.join(sorted(algorithms))})")

    def sender_identity(self) -> Finding:
        part, sender = "SES sender identity", self.settings.sender_email
        domain = sender.rpartition("@")[2]
        sesv2 = self._client("sesv2")
        address, domain_identity = self._identity(sesv2, sender), self._identity(sesv2, domain)
        identity = address if _verified(address) else domain_identity if _verified(domain_identity) else None
        if identity is None:
            pending = address or domain_identity
            found = "verification pending" if pending else "not an SES identity in this region"
            return Finding(
                part,
                "fail",
                f"{sender}: {found}",
                f"aws sesv2 create-email-identity --email-identity {domain}{self._r}, publish its DKIM records "
                "(README, Deploying)" + (", or click the link SES emailed" if pending else ""),
            )
        verified = f"{sender}: verified" + (" (through its domain)" if identity is domain_identity else "")
        dkim = (domain_identity or address or {}).get("DkimAttributes", {})
        if dkim.get("Status") != "SUCCESS" or not dkim.get("SigningEnabled", True):
            return Finding(
                part,
                "fail",
                f"{verified}, but no DKIM for {domain} (strict DMARC domains junk the reports)",
                f"aws sesv2 create-email-identity --email-identity {domain}{self._r} and publish the 3 CNAME records "
                f"it returns (aws sesv2 get-email-identity --email-identity {domain}{self._r})",
            )
        return Finding(part, "ok", f"{verified}, DKIM signing for {domain}")

    @staticmethod
    def _identity(sesv2: Any, name: str) -> dict[str, Any] | None:
        try:
            identity: dict[str, Any] = sesv2.get_email_identity(EmailIdentity=name)
        except AWS_ERRORS:
            return None
        return identity

    def sending_account(self) -> Finding:
        part = "SES sending"
        try:
            account = self._client("sesv2").get_account()
        except AWS_ERRORS:
            account = None  # moto answers no GetAccount: the quota still comes from SES v1
        quota = (account or {}).get("SendQuota")
        if not quota:
            try:
                quota = self._client("ses").get_send_quota()
            except AWS_ERRORS as exc:
                return Finding(part, "fail", f"sending quota not readable ({_code(exc)})", "check your credentials")
        sent, limit = int(quota["SentLast24Hours"]), int(quota["Max24HourSend"])
        today = f"{sent} of {limit} emails sent in the last 24 h"
        if account is not None and not account.get("SendingEnabled", True):
            return Finding(part, "fail", f"sending is paused for this account; {today}", "see the SES console")
        if sent >= limit:
            return Finding(part, "fail", f"quota spent: {today}", "wait for the 24 h window, or ask for a higher quota")
        if account is None:
            mode = "sandbox or production unknown (GetAccount not answered)"
        elif account.get("ProductionAccessEnabled"):
            mode = "production"
        else:
            mode = "sandbox: sends only to verified addresses (README: leaving the sandbox)"
        return Finding(part, "ok", f"{mode}; {today}")

    def configuration_set(self) -> Finding:
        part, name = "SES configuration set", self.settings.ses_configuration_set
        if not name:
            return Finding(part, "skip", "SES_CONFIGURATION_SET not set: bounces are not recorded")
        sesv2 = self._client("sesv2")
        try:
            sesv2.get_configuration_set(ConfigurationSetName=name)
        except AWS_ERRORS as exc:
            if _code(exc) == "NotFoundException":
                return Finding(part, "fail", f"{name}: missing", self._deploy_fix())
            return Finding(part, "fail", f"{name}: not readable ({_code(exc)})", "check your credentials")
        try:
            destinations = sesv2.get_configuration_set_event_destinations(ConfigurationSetName=name)
        except AWS_ERRORS:
            return Finding(part, "ok", f"{name}: exists (its event destinations are not readable here)")
        published = {
            kind.lower()
            for destination in destinations.get("EventDestinations", [])
            if destination.get("Enabled") and destination.get("SnsDestination")
            for kind in destination.get("MatchingEventTypes", [])
        }
        missing = sorted({"bounce", "complaint"} - published)
        if missing:
            return Finding(part, "fail", f"{name}: {' and '.join(missing)} not published to SNS", self._deploy_fix())
        return Finding(part, "ok", f"{name}: bounces and complaints go to the feedback topic")

    def queues(self) -> Finding:
        part = "run queues"
        sqs = self._client("sqs")
        try:
            url = (
                self.settings.report_queue_url or sqs.get_queue_url(QueueName=run_queue_name(self.settings))["QueueUrl"]
            )
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        except AWS_ERRORS as exc:
            if "NonExistentQueue" in _code(exc) or _code(exc) == "QueueDoesNotExist":
                return Finding(part, "fail", f"{run_queue_name(self.settings)}: missing", self._deploy_fix())
            return Finding(part, "fail", f"run queue not readable ({_code(exc)})", "check your credentials")
        name = url.rstrip("/").rsplit("/", 1)[-1]
        redrive = attributes.get("RedrivePolicy")
        if not redrive:
            return Finding(part, "fail", f"{name}: no dead-letter queue", self._deploy_fix())
        policy = json.loads(redrive)
        dead_letter = str(policy["deadLetterTargetArn"]).rsplit(":", 1)[-1]
        try:
            dead_url = sqs.get_queue_url(QueueName=dead_letter)["QueueUrl"]
            waiting = sqs.get_queue_attributes(QueueUrl=dead_url, AttributeNames=["ApproximateNumberOfMessages"])
        except AWS_ERRORS:
            return Finding(part, "fail", f"{name}: its dead-letter queue {dead_letter} is missing", self._deploy_fix())
        failed = int(waiting["Attributes"]["ApproximateNumberOfMessages"])
        queued = int(attributes.get("ApproximateNumberOfMessages", 0))
        note = f"; {failed} failed runs wait there (fix the cause, then redrive them)" if failed else ""
        return Finding(
            part,
            "ok",
            f"{name}: {queued} queued, dead-letter queue after {policy['maxReceiveCount']} receives{note}",
        )

    def schedules(self) -> Finding:
        part = "schedules"
        if self.stack is None:
            return Finding(part, "skip", "local AWS has none: tick by hand with `timereports dispatch --at ISO`")
        try:
            found = stack_schedules(self.stack, self._client("cloudformation"))
            states = {logical: self._client("scheduler").get_schedule(Name=name)["State"] for logical, name in found}
        except AWS_ERRORS as exc:
            return Finding(part, "fail", f"not readable ({_code(exc)})", "check your credentials")
        if states.get(DISPATCH_SCHEDULE) != "ENABLED":
            return Finding(
                part,
                "fail",
                f"the dispatcher's tick is {states.get(DISPATCH_SCHEDULE, 'missing').lower()}: nothing is sent",
                self._deploy_fix(),
            )
        listed = ", ".join(f"{logical} {state.lower()}" for logical, state in sorted(states.items()))
        return Finding(part, "ok", listed)

    def catalogue(self) -> Finding:
        """The definitions `make build` ships from this folder: none may send to a reserved example domain (the
        samples' example.com addresses bounce, or are refused in the SES sandbox, on every scheduled run)."""
        part, folder = "report catalogue", Path(self.settings.catalogue_dir)
        if self.stack is None:
            return Finding(part, "skip", f"{folder}: local AWS sends to nobody (the samples are for `make demo`)")
        try:
            definitions = read_catalogue(folder, empty_ok=True)
        except TimereportsError as exc:
            return Finding(part, "fail", one_line(exc), "fix the definition, then make build and sam deploy")
        placeholders = {
            definition.id: sorted(address for address in addresses_of(definition) if reserved_domain(address))
            for definition in definitions
        }
        named = {report: addresses for report, addresses in placeholders.items() if addresses}
        if named:
            listed = "; ".join(f"{report} to {', '.join(addresses)}" for report, addresses in sorted(named.items()))
            return Finding(
                part,
                "fail",
                f"{folder}: sends to example addresses (reserved domains: they never arrive): {listed}",
                f"replace the sample definitions in {folder}/ with your own (README, Deploying, step 6), "
                f"then make build and sam deploy{self._r}",
            )
        return Finding(part, "ok", f"{folder}: {len(definitions)} reports, no example addresses")

    def paused_reports(self) -> Finding:
        """The catalogue's reports paused after failed runs: their schedules send nothing until they are resumed."""
        part, folder = "paused reports", Path(self.settings.catalogue_dir)
        try:
            definitions = read_catalogue(folder, empty_ok=True)
        except TimereportsError:
            return Finding(part, "skip", "the catalogue cannot be read (above)")
        states = DynamoDBReportStates(self.settings.state_table, self._client("dynamodb"))
        try:
            state_of = {definition.id: states.get(definition.id) for definition in definitions}
        except TimereportsError as exc:
            return Finding(part, "fail", one_line(exc), "check your credentials and region")
        paused = {report: state for report, state in state_of.items() if state.paused}
        if paused:
            listed = "; ".join(f"{report} ({state.paused_reason})" for report, state in sorted(paused.items()))
            where = f" --stack {self.stack.name}" if self.stack is not None else " --local"
            resume = " and ".join(f"`timereports resume {report}{where}{self._r}`" for report in sorted(paused))
            return Finding(part, "fail", f"sending nothing: {listed}", f"fix the cause, then {resume}")
        return Finding(part, "ok", f"none of the {len(definitions)} reports is paused")

    # -- Intervals --------------------------------------------------------------------------------------------------

    def intervals(self) -> list[Finding]:
        """The token (readable, valid, an Administrator's) and the account's quota today: one `GET /me/`, reserved
        in the ledger first like every request, and the free `GET /quota/`."""
        token_part, quota_part = "Intervals token", "Intervals quota today"
        account = self.settings.account("default")
        try:
            token, where = self._token(account)
        except TimereportsError as exc:
            secret = account.token_secret or "timereports/intervals-token"
            fix = (
                f"aws secretsmanager create-secret --name {secret} --secret-string 'YOURTOKEN'{self._r}"
                if self.stack is not None
                else "export INTERVALS_API_TOKEN"
            )
            return [Finding(token_part, "fail", str(exc), fix), Finding(quota_part, "skip", "needs the token")]
        if not self._table_ok:
            reason = "not checked: every request is first reserved in the state table, which is not ready"
            return [Finding(token_part, "skip", f"{where}; {reason}"), Finding(quota_part, "skip", reason)]
        try:
            with self._intervals(self.settings, token) as client:
                me = client.reference_data({"me"}).me
                quota = client.sync_quota()
        except IntervalsAuthError as exc:
            return [
                Finding(
                    token_part,
                    "fail",
                    f"{where}: refused by {account.api_url} ({exc})",
                    "the token is revoked or mistyped: create one under My Account -> API Access and store it "
                    + (
                        f"(aws secretsmanager put-secret-value --secret-id {account.token_secret}{self._r})"
                        if self.stack
                        else "in INTERVALS_API_TOKEN"
                    ),
                ),
                Finding(quota_part, "skip", "needs a valid token"),
            ]
        except (IntervalsError, TimereportsError) as exc:
            return [
                Finding(token_part, "fail", f"{account.api_url}: {exc}", "check --api-url and the network"),
                Finding(quota_part, "skip", "needs the API"),
            ]
        person = f"{me.firstname} {me.lastname}".strip() if me else "?"
        group = me.group if me else ""
        if group != ADMINISTRATOR_GROUP:
            token_finding = Finding(
                token_part,
                "fail",
                f"{where}: valid, but {person} is a {group or 'user of unknown role'}",
                "use an Administrator's token: other roles do not see everyone's time or the hourly rates",
            )
        else:
            token_finding = Finding(token_part, "ok", f"{where}: valid, {person} ({group})")
        left = quota.quota - quota.used
        resets = f", resets {quota.next_reset.isoformat()}" if quota.next_reset else ""
        if quota.exceeded or left <= 0:
            quota_finding = Finding(
                quota_part, "fail", f"spent: {quota.used} of {quota.quota}{resets}", "wait for the reset"
            )
        else:
            quota_finding = Finding(quota_part, "ok", f"{quota.used} of {quota.quota} requests used{resets}")
        return [token_finding, quota_finding]

    def _token(self, account: Any) -> tuple[str, str]:
        """The token and where it came from: the secret when deployed, INTERVALS_API_TOKEN locally."""
        if self.stack is not None:
            account = account.model_copy(update={"api_token": None})  # the deployment's token, not a local one
            return resolve_token(account), f"secret {account.token_secret}"
        return resolve_token(account), "INTERVALS_API_TOKEN"

    def _deploy_fix(self) -> str:
        if self.stack is None:
            return "run a `--local` command once (it creates the local resources)"
        return f"deploy the stack: sam deploy --stack-name {self.stack.name}{self._r} (README, Deploying)"


_PUBLIC_ACCESS_KEYS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


# Domains that never receive mail (RFC 2606, RFC 6761): a definition addressed to one is a sample left in place.
RESERVED_DOMAINS = ("example.com", "example.net", "example.org")
RESERVED_TOP_LEVEL = ("example", "test", "invalid", "localhost")


def reserved_domain(address: str) -> bool:
    domain = address.rpartition("@")[2].lower().rstrip(".")
    return domain.rpartition(".")[2] in RESERVED_TOP_LEVEL or any(
        domain == reserved or domain.endswith(f".{reserved}") for reserved in RESERVED_DOMAINS
    )


def addresses_of(definition: ReportDefinition) -> set[str]:
    """Every address a definition sends to: to, cc, bcc, each slice's and the owner's (failure notices)."""
    delivery = definition.delivery
    if delivery is None:
        return set()
    addresses = set(delivery.recipients)
    if delivery.split is not None:
        addresses.update(address for slice_to in delivery.split.recipients.values() for address in slice_to)
    if delivery.owner is not None:
        addresses.add(delivery.owner)
    return addresses


def _verified(identity: dict[str, Any] | None) -> bool:
    # moto reports VerificationStatus only; AWS reports both, and they agree.
    return identity is not None and (
        bool(identity.get("VerifiedForSendingStatus")) or identity.get("VerificationStatus") == "SUCCESS"
    )


def _intervals_client(settings: Settings, token: str) -> Any:
    """The default account's client, reserving its requests in the state table's ledger like a run does."""
    account = settings.account("default")
    return build_client(settings, account, build_ledger(settings, account), token=token)
