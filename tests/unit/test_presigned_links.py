"""Presigned links name the bucket's regional host, where every region accepts them; local AWS keeps path style.

Signing is local computation (no request), so these build the real S3 client of bootstrap.aws_client with fake
credentials and read the URL it signs.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from timereports.bootstrap.aws import aws_client
from timereports.dal.archive import S3Archive

KEY = "reports/weekly/2026-11-16_2026-11-22/weekly_2026-11-16_2026-11-22.csv"


@pytest.fixture
def real_aws(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment bound to real AWS (no local endpoint), with fake credentials: nothing is sent."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    return monkeypatch


@pytest.mark.parametrize("region", ["eu-west-1", "ap-southeast-3", "il-central-1"])
def test_a_link_for_a_real_region_names_the_regional_virtual_host(real_aws: pytest.MonkeyPatch, region: str) -> None:
    # Given the archive's S3 client in a region (newer ones refuse links signed for the global endpoint)
    real_aws.setenv("AWS_DEFAULT_REGION", region)
    real_aws.setenv("AWS_REGION", region)
    # When a link to a report is signed
    link = urlsplit(S3Archive("acme-reports", aws_client("s3")).link(KEY, 3600))
    # Then it is on the bucket's host in that region, signed SigV4 for that region
    assert link.netloc == f"acme-reports.s3.{region}.amazonaws.com"
    assert link.path == f"/{KEY}"
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in link.query
    assert f"%2F{region}%2Fs3%2Faws4_request" in link.query


def test_a_link_on_local_aws_keeps_path_style(real_aws: pytest.MonkeyPatch) -> None:
    # Given local AWS (moto has no per-bucket host names)
    real_aws.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    real_aws.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5999")
    # When a link is signed / Then it names the bucket in the path of the local endpoint
    link = urlsplit(S3Archive("acme-reports", aws_client("s3")).link(KEY, 60))
    assert (link.netloc, link.path) == ("127.0.0.1:5999", f"/acme-reports/{KEY}")
