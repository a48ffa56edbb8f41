"""A client of the configuration API: SigV4-signed (IAM auth) against a deployed stack, or naming
the caller in a header against the local gateway (see local/rest_api.py)."""

from __future__ import annotations

from typing import Any

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

LOCAL_CALLER_HEADER = "X-Local-Caller-Arn"


class ApiFailure(Exception):
    """The API refused the request; `message` and `fix` are its own words."""

    def __init__(self, status: int, code: str, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fix = status, code, message, fix


class SigV4(requests.auth.AuthBase):
    """Signs each request for API Gateway (service execute-api) with the caller's AWS credentials."""

    def __init__(self, session: boto3.session.Session, region: str) -> None:
        credentials = session.get_credentials()
        if credentials is None:
            raise ApiFailure(0, "no_credentials", "no AWS credentials found",
                             "set AWS_PROFILE (or the usual AWS_* variables), or use --local-caller locally")
        self.signer = SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        aws_request = AWSRequest(method=request.method, url=request.url, data=request.body,
                                 headers={"Content-Type": request.headers.get("Content-Type", "")})
        self.signer.add_auth(aws_request)
        request.headers.update(dict(aws_request.headers))
        return request


class ApiClient:
    def __init__(self, base_url: str, *, local_caller: str | None = None, region: str | None = None,
                 profile: str | None = None, timeout: float = 40.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        if local_caller:
            self.session.headers[LOCAL_CALLER_HEADER] = local_caller
        else:
            aws = boto3.session.Session(profile_name=profile, region_name=region)
            self.session.auth = SigV4(aws, region or aws.region_name or "eu-central-1")

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        try:
            response = self.session.request(method, f"{self.base_url}{path}", json=body, params=query or None,
                                            timeout=self.timeout)
        except requests.RequestException as exc:
            raise ApiFailure(0, "unreachable", f"the configuration API at {self.base_url} did not answer "
                             f"({type(exc).__name__})", "check --api-url and your network") from None
        if response.ok:
            return response.json()
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code == 422 and "detail" in answer:  # the API's own validation
            problems = "; ".join(f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}"
                                 for d in answer["detail"])
            raise ApiFailure(422, "invalid_request", problems, "correct the options named")
        raise ApiFailure(response.status_code, answer.get("code", f"http_{response.status_code}"),
                         answer.get("message") or response.reason or "request refused", answer.get("fix", ""))
