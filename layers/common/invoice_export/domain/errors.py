"""Typed export failures.

Every failure carries a stable machine-readable `code`, a human `message` that names what is wrong,
and `fix`: what the merchant or operator should do. The class says how the pipeline reacts:

- `PermanentError`: retrying the same input cannot help. The document is recorded as failed, an
  outcome event is published, the message is acknowledged (it never blocks the account's queue),
  and an operator retries it after the fix.
- `TransientError`: the same input may work later (5xx, 429, timeouts). The message becomes
  visible again after a back-off and, after the last attempt, lands in the DLQ.
- `RequestMayHaveSucceeded`: a transient error after the request reached the provider (read
  timeout, connection dropped mid-response). The retry must look the document up before creating it.
"""

from __future__ import annotations


class ExportError(Exception):
    code: str = "export_error"

    def __init__(self, message: str, *, fix: str = "", code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        if code:
            self.code = code

    def __str__(self) -> str:
        return f"{self.message} (fix: {self.fix})" if self.fix else self.message


class PermanentError(ExportError):
    code = "rejected"


class TransientError(ExportError):
    code = "temporarily_unavailable"

    def __init__(self, message: str, *, retry_after: float | None = None, fix: str = "", code: str | None = None):
        super().__init__(message, fix=fix, code=code)
        self.retry_after = retry_after


class RequestMayHaveSucceeded(TransientError):
    code = "provider_response_lost"

    def __init__(self, message: str, *, task_reference: str | None = None, retry_after: float | None = None,
                 fix: str = "", code: str | None = None):
        super().__init__(message, retry_after=retry_after, fix=fix, code=code)
        # The provider's creation task, where its create is asynchronous (inFakt) and its POST answered:
        # the task's status settles the attempt (ProviderAdapter.settle_interrupted).
        self.task_reference = task_reference


class ProviderRejected(PermanentError):
    """The provider refused the request; `field_errors` maps provider field names to its messages."""

    code = "provider_rejected"

    def __init__(self, message: str, *, field_errors: dict[str, list[str]] | None = None, fix: str = "",
                 code: str | None = None) -> None:
        super().__init__(message, fix=fix, code=code)
        self.field_errors = field_errors or {}


class AmbiguousAtProvider(PermanentError):
    """The provider holds several documents with our reference: only a person can tell which is ours."""

    code = "ambiguous_provider_documents"


class WaitingForOriginal(PermanentError):
    """A correction whose original is not exported yet but on its way: it is held pending with this
    reason (not failed), and sent by itself once the original is exported (services/export.py)."""

    code = "waiting_for_original"

    def __init__(self, message: str, *, original_id: str, fix: str = "") -> None:
        super().__init__(message, fix=fix)
        self.original_id = original_id


class CredentialsRejected(PermanentError):
    code = "provider_auth_failed"


class ConfigurationError(PermanentError):
    """The account's settings cannot express this document (missing link, unsupported option)."""

    code = "configuration"
