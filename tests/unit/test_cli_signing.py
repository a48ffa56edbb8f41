"""The CLI signs configuration-API requests with SigV4 for API Gateway's IAM auth (service execute-api)."""

from __future__ import annotations

import boto3
import requests

from invoice_export_cli.api import SigV4


def test_requests_are_signed_for_execute_api_with_the_callers_credentials() -> None:
    session = boto3.session.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
                                    aws_session_token="session-token", region_name="eu-central-1")
    prepared = requests.Request("POST", "https://abc123.execute-api.eu-central-1.amazonaws.com/v1/accounts/a/retry",
                                json={"x": 1}).prepare()
    signed = SigV4(session, "eu-central-1")(prepared)
    authorization = signed.headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-central-1/execute-api/aws4_request" in authorization
    assert signed.headers["X-Amz-Security-Token"] == "session-token" and signed.headers["X-Amz-Date"]
    other = SigV4(session, "eu-central-1")(requests.Request(
        "POST", prepared.url, json={"x": 2}).prepare())
    assert other.headers["Authorization"] != authorization  # the body is part of the signature
