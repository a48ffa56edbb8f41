"""Connected accounts: settings in DynamoDB, credentials in Secrets Manager (never in the table)."""

from __future__ import annotations

import contextvars
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools.utilities import parameters
from botocore.exceptions import ClientError

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.storage.paging import all_items

CREDENTIALS_CACHE_SECONDS = 300


class AccountStore:
    def __init__(self, table: Any, secrets_client: Any, secret_prefix: str) -> None:
        self.table = table
        self.secrets = secrets_client
        self.secret_prefix = secret_prefix
        self._provider = parameters.SecretsProvider(boto3_client=secrets_client)
        # Settings read once per batch (see `read_once`). A context variable, not a plain attribute: the
        # local queue emulator runs several batches at once in one process (threads), where Lambda would
        # run one per instance, and records of one batch handled side by side share their batch's reads.
        self._batch: contextvars.ContextVar[dict[str, AccountSettings | None] | None] = contextvars.ContextVar(
            f"account-settings-read-{id(self)}", default=None)

    @contextmanager
    def read_once(self) -> Iterator[None]:
        """Within the block, each account's settings are read from the table once.

        A batch of export messages holds one or a few accounts' documents (FIFO groups): one read per
        account instead of one per document. A change saved meanwhile applies from the next batch.
        """
        token = self._batch.set({})
        try:
            yield
        finally:
            self._batch.reset(token)

    def get(self, account_id: str) -> AccountSettings | None:
        read = self._batch.get()
        if read is not None and account_id in read:
            return read[account_id]
        item = self.table.get_item(Key={"account_id": account_id}, ConsistentRead=True).get("Item")
        settings = AccountSettings.model_validate_json(item["settings"]) if item else None
        if read is not None:
            read[account_id] = settings
        return settings

    def put(self, settings: AccountSettings) -> None:
        self.table.put_item(Item={"account_id": settings.account_id, "settings": settings.model_dump_json()})

    def pause(self, account_id: str) -> bool:
        """Mark the account `needs_reconnect`; True when this call paused it (not already paused,
        not changed meanwhile - e.g. reconnected). An update, conditional on the settings read."""
        read = self._batch.get()
        if read is not None:
            read.pop(account_id, None)  # whatever happens here, the rest of the batch reads them afresh
        item = self.table.get_item(Key={"account_id": account_id}, ConsistentRead=True).get("Item")
        if not item:
            return False
        settings = AccountSettings.model_validate_json(item["settings"])
        if settings.status == "needs_reconnect":
            return False
        paused = settings.model_copy(update={"status": "needs_reconnect"})
        try:
            self.table.update_item(Key={"account_id": account_id}, UpdateExpression="SET #s = :paused",
                                   ConditionExpression="#s = :read", ExpressionAttributeNames={"#s": "settings"},
                                   ExpressionAttributeValues={":paused": paused.model_dump_json(),
                                                              ":read": item["settings"]})
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def list_accounts(self) -> list[AccountSettings]:
        """Every connected account (a scan: accounts are few, and this runs nightly or on an operator's request)."""
        items = all_items(self.table.scan, ConsistentRead=True)
        return [AccountSettings.model_validate_json(item["settings"]) for item in items]

    def secret_name(self, account_id: str) -> str:
        return f"{self.secret_prefix}{account_id}"

    def credentials(self, account_id: str, *, refresh: bool = False) -> dict[str, Any]:
        """Cached for a few minutes (powertools parameters); `refresh` after the provider refused them."""
        value = self._provider.get(self.secret_name(account_id), transform="json",
                                   max_age=CREDENTIALS_CACHE_SECONDS, force_fetch=refresh)
        assert isinstance(value, dict)
        return value

    def save_credentials(self, account_id: str, credentials: dict[str, Any]) -> None:
        name = self.secret_name(account_id)
        secret = json.dumps(credentials)
        try:
            self.secrets.put_secret_value(SecretId=name, SecretString=secret)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            self.secrets.create_secret(Name=name, SecretString=secret,
                                       Description="Accounting-system credentials of one connected account")
