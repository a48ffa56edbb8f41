"""The shared sliding-window rate limiter, against DynamoDB (moto in-process)."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import boto3
import pytest

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.rate_limits import (
    LimitScope,
    RateLimit,
    RateLimited,
    YieldedToForeground,
    yielding_to_foreground,
)
from invoice_export.domain.settlement import InterruptedAttempt, SettlementOutcome
from invoice_export.platform.rate_limiter import (
    ARRIVAL_MARGIN_SECONDS,
    FOREGROUND_HOLD_SECONDS,
    SlidingWindowLimiter,
    Window,
    pace_window,
)
from invoice_export.providers import build_adapter
from invoice_export.providers.fakturownia.adapter import FakturowniaAdapter, FakturowniaCredentials
from invoice_export.providers.infakt.adapter import InfaktAdapter
from local.fakes.infakt import InfaktFake
from testsupport import plan_for


@pytest.fixture
def table(aws_in_process):
    dynamodb = boto3.resource("dynamodb")
    return dynamodb.create_table(
        TableName="RateLimits", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "scope", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "scope", "KeyType": "HASH"}])


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


THREE_PER_SECOND = RateLimit(limit=3, window_seconds=1, scope=LimitScope.ACCOUNT, source="test")


def test_requests_within_the_limit_pass_and_the_next_waits_for_room(table) -> None:
    fake = FakeTime()
    limiter = SlidingWindowLimiter(table, clock=fake.clock, sleep=fake.sleep)
    for _ in range(3):
        limiter.acquire("p:account:a", THREE_PER_SECOND)
    assert fake.slept == []
    limiter.acquire("p:account:a", THREE_PER_SECOND)
    assert fake.slept == [pytest.approx(1 + ARRIVAL_MARGIN_SECONDS)]  # until the first one left the window
    limiter.acquire("p:account:b", THREE_PER_SECOND)  # another scope is counted apart
    assert len(fake.slept) == 1


def test_a_long_wait_goes_back_to_the_queue_instead(table) -> None:
    fake = FakeTime()
    limiter = SlidingWindowLimiter(table, max_wait_seconds=5, clock=fake.clock, sleep=fake.sleep)
    per_minute = RateLimit(limit=2, window_seconds=60, scope=LimitScope.ACCOUNT, source="test")
    limiter.acquire("s", per_minute)
    limiter.acquire("s", per_minute)
    with pytest.raises(RateLimited) as caught:
        limiter.acquire("s", per_minute)
    assert caught.value.retry_after == pytest.approx(60 + ARRIVAL_MARGIN_SECONDS)
    assert fake.slept == []


def test_the_wait_in_place_is_bounded_in_all_when_others_keep_taking_the_room_first(table) -> None:
    fake = FakeTime()
    one_per_3s = RateLimit(limit=1, window_seconds=3, scope=LimitScope.CREDENTIAL, source="test")
    other = SlidingWindowLimiter(table, clock=fake.clock, sleep=fake.sleep)  # another function, same scope
    our_waits: list[float] = []

    def wait_while_the_other_takes_the_room(seconds: float) -> None:
        our_waits.append(seconds)
        assert len(our_waits) < 5, "waited again and again: the wait in place had no bound"
        fake.sleep(seconds)
        other.acquire("p:credential:x", one_per_3s)  # it gets in first each time

    ours = SlidingWindowLimiter(table, max_wait_seconds=5, clock=fake.clock, sleep=wait_while_the_other_takes_the_room)
    ours.acquire("p:credential:x", one_per_3s)
    with pytest.raises(RateLimited):
        ours.acquire("p:credential:x", one_per_3s)
    assert our_waits == [pytest.approx(3 + ARRIVAL_MARGIN_SECONDS)]  # a second full wait would pass 5 s in all


class AtomicWrites:
    """DynamoDB applies a conditional write atomically; moto in-process checks the condition and
    writes without a lock, so two threads can both pass the same version check (seen under load:
    16 stored versions for 18 successful acquires). This restores DynamoDB's guarantee, nothing more."""

    def __init__(self, table) -> None:
        self._table = table
        self._lock = threading.Lock()

    def get_item(self, **kwargs):
        return self._table.get_item(**kwargs)

    def put_item(self, **kwargs):
        with self._lock:
            return self._table.put_item(**kwargs)


def test_concurrent_workers_together_stay_under_the_limit(table) -> None:
    table = AtomicWrites(table)
    limit = RateLimit(limit=5, window_seconds=0.5, scope=LimitScope.DEPLOYMENT, source="test")
    stamps: list[float] = []
    lock = threading.Lock()
    seen = threading.local()

    def clock() -> float:
        # The limiter stamps each request with the last time it read: record it per thread, so the
        # check below uses the same clock and is not skewed by a busy machine.
        seen.now = time.time()
        return seen.now

    def worker() -> None:
        limiter = SlidingWindowLimiter(table, clock=clock)  # one per "Lambda instance": only the table is shared
        for _ in range(6):
            limiter.acquire("p:deployment", limit)
            with lock:
                stamps.append(seen.now)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stamps.sort()
    assert len(stamps) == 18
    window = limit.window_seconds + ARRIVAL_MARGIN_SECONDS
    busiest = max(sum(1 for t in stamps if start <= t < start + window) for start in stamps)
    assert busiest <= limit.limit
    assert table.get_item(Key={"scope": "p:deployment"})["Item"]["version"] == 18  # every acquire stored once


def test_credential_scope_key_reveals_no_secret() -> None:
    settings = AccountSettings(account_id="shop-1", provider="fakturownia", provider_subdomain="shop")
    key = FakturowniaAdapter.rate_limit_key(settings, FakturowniaCredentials(api_token="very-secret-token"))
    other = FakturowniaAdapter.rate_limit_key(settings, FakturowniaCredentials(api_token="another-token"))
    assert key.startswith("fakturownia:credential:") and "very-secret-token" not in key and key != other


def test_an_answered_request_counts_until_its_answer_not_the_arrival_margin(table) -> None:
    fake = FakeTime()
    limiter = SlidingWindowLimiter(table, clock=fake.clock, sleep=fake.sleep)
    for _ in range(3):
        done = limiter.acquire("p:account:a", THREE_PER_SECOND)
        fake.now += 0.05  # the provider answered 50 ms later: it had the request by then
        done()
    limiter.acquire("p:account:a", THREE_PER_SECOND)
    # The first answer came at 1000.05: the window frees up at 1001.05, not at 1000 + 1 + margin.
    assert fake.slept == [pytest.approx(1.05 - 0.15)]
    unanswered = SlidingWindowLimiter(table, clock=fake.clock, sleep=fake.sleep)  # another instance
    fake.slept.clear()
    unanswered.acquire("p:account:a", THREE_PER_SECOND)  # sees the 4th (unanswered) one with the margin
    assert fake.slept and fake.slept[0] == pytest.approx(0.05)  # the 2nd answer (1000.10) leaves at 1001.10


def test_an_instance_that_stored_last_writes_without_reading_first(table) -> None:
    reads = []

    class Counting:
        def get_item(self, **kwargs):
            reads.append(kwargs)
            return table.get_item(**kwargs)

        def put_item(self, **kwargs):
            return table.put_item(**kwargs)

    fake = FakeTime()
    limiter = SlidingWindowLimiter(Counting(), clock=fake.clock, sleep=fake.sleep)
    other = SlidingWindowLimiter(table, clock=fake.clock, sleep=fake.sleep)
    limiter.acquire("s", THREE_PER_SECOND)()
    fake.now += 1
    limiter.acquire("s", THREE_PER_SECOND)()
    assert len(reads) == 1  # the first only: then it knows the item it stored
    other.acquire("s", THREE_PER_SECOND)  # someone else stores: the cached item is stale
    fake.now += 1
    limiter.acquire("s", THREE_PER_SECOND)  # the refused write returns the current item: still no read
    assert len(reads) == 1
    item = table.get_item(Key={"scope": "s"})["Item"]
    # Ours of 1000 and 1001 left the window (answered); the other one of 1001 is unanswered: margin.
    assert item["version"] == 4 and item["sent_at"] == [Decimal("1001.000001"), Decimal("1002")]


# ---------------------------------------------------------------- a provider that counts reads apart


def test_infakt_reads_and_writes_count_in_their_own_windows_and_overrides_keep_their_meaning() -> None:
    reads, writes = InfaktAdapter.rate_windows()
    assert reads == (":reads", RateLimit(300, 60, LimitScope.DEPLOYMENT, InfaktAdapter.read_rate_limit.source,
                                         methods=frozenset({"GET"})))
    assert writes == ("", InfaktAdapter.rate_limit)
    assert [suffix for suffix, _ in FakturowniaAdapter.rate_windows()] == [""]  # one window for everything
    ours = RateLimit(limit=100, window_seconds=60, scope=LimitScope.DEPLOYMENT, source="our contract")
    assert InfaktAdapter.rate_windows({"infakt": ours}) == [("", ours)]  # as before: one window for all
    read_override = RateLimit(limit=200, window_seconds=60, scope=LimitScope.DEPLOYMENT, source="our contract")
    assert InfaktAdapter.rate_windows({"infakt": ours, "infakt:reads": read_override}) == [
        (":reads", RateLimit(200, 60, LimitScope.DEPLOYMENT, "our contract", methods=frozenset({"GET"}))),
        ("", ours)]


def test_infakt_gets_are_held_to_their_window_and_posts_to_theirs_at_the_fake_that_enforces_both(table) -> None:
    with InfaktFake(read_limit=(6, 3.0), write_limit=(2, 3.0), processing_polls=0) as fake:
        fake.add_account("key-shop-a")
        settings = AccountSettings.model_validate({
            "account_id": "shop-a", "provider": "infakt", "api_url": f"{fake.base_url}/api/v3",
            "series_links": {"FV": None}, "payment_links": {"Przelew": "transfer"}})
        windows = {"infakt": RateLimit(2, 3.0, LimitScope.DEPLOYMENT, "test"),
                   "infakt:reads": RateLimit(6, 3.0, LimitScope.DEPLOYMENT, "test")}
        limiter = SlidingWindowLimiter(table, max_wait_seconds=10)
        adapter = build_adapter(settings, {"api_key": "key-shop-a"}, limiter=limiter, rate_limit_overrides=windows)
        for _ in range(3):  # 3 creates: a POST and its task and document reads each
            adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
        for _ in range(4):
            adapter.check_credentials()  # GETs only
        assert {entry.status for entry in fake.requests.entries()} <= {200, 201}  # never a 429
        assert fake.limiter.peak(("write", "127.0.0.1")) <= 2 and fake.limiter.peak(("read", "127.0.0.1")) <= 6
        assert fake.limiter.peak(("read", "127.0.0.1")) > 2  # reads were not held to the write window
        scopes = {item["scope"] for item in table.scan()["Items"]}
        assert scopes == {"infakt:deployment", "infakt:deployment:reads"}


# ---------------------------------------------------------------- pacing and background work (issue 20)


IFIRMA_PER_MINUTE = RateLimit(limit=100, window_seconds=60, scope=LimitScope.CREDENTIAL, source="test")


def test_a_per_minute_limit_is_paced_so_a_long_run_waits_in_place_at_the_full_rate(table) -> None:
    """A bulk run against 100 requests a minute: a burst of 100 would leave the 101st waiting most of a
    minute (sent back to the queue); paced, every wait is short and the limit's rate is still used."""
    fake = FakeTime()
    limiter = SlidingWindowLimiter(table, max_wait_seconds=5, clock=fake.clock, sleep=fake.sleep)
    sent = []
    for _ in range(300):
        limiter.acquire("ifirma:credential:x", IFIRMA_PER_MINUTE)()  # answered at once
        sent.append(fake.now)
    assert max(fake.slept) <= 2.5  # the pace window: 4 requests per 2.4 s
    assert max(sum(1 for t in sent if start <= t < start + 60) for start in sent) <= 100
    assert sent[-1] - sent[0] == pytest.approx(296 * 0.6, abs=1)  # 300 requests at 100 a minute, 4 at once


def test_the_pace_counts_from_sending_so_a_slow_answer_does_not_slow_the_pace(table) -> None:
    fake = FakeTime()
    limiter = SlidingWindowLimiter(table, max_wait_seconds=5, clock=fake.clock, sleep=fake.sleep)
    sent = []
    for _ in range(12):
        done = limiter.acquire("ifirma:credential:x", IFIRMA_PER_MINUTE)
        sent.append(fake.now)
        fake.now += 0.3  # each answered 300 ms later, one request at a time
        done()
    # 4 per 2.4 s from the first sending, not from each answer (which would make it 4 per 2.7 s).
    assert sent[4] - sent[0] == pytest.approx(2.4) and sent[8] - sent[0] == pytest.approx(4.8)


def test_pace_windows_are_left_out_where_a_limit_is_short_or_slow_already() -> None:
    assert pace_window(IFIRMA_PER_MINUTE, 2.5) == Window(4, 2.4)
    assert pace_window(THREE_PER_SECOND, 2.5) is None  # its own window is shorter than the pace
    hourly = RateLimit(limit=10, window_seconds=3600, scope=LimitScope.ACCOUNT, source="test")
    assert pace_window(hourly, 2.5) is None  # one per 6 minutes: nothing to pace


def test_background_requests_yield_while_foreground_ones_wait_for_room(table) -> None:
    fake = FakeTime()
    limiter = SlidingWindowLimiter(table, max_wait_seconds=5, clock=fake.clock, sleep=fake.sleep)
    scope = "ifirma:credential:x"
    with yielding_to_foreground():
        for _ in range(2):
            limiter.acquire(scope, IFIRMA_PER_MINUTE)()  # nobody else wants the window: background goes at once
    for _ in range(3):
        limiter.acquire(scope, IFIRMA_PER_MINUTE)()  # the 3rd foreground request waits for the pace window
    assert len(fake.slept) == 1
    other_instance = SlidingWindowLimiter(table, max_wait_seconds=5, clock=fake.clock, sleep=fake.sleep)
    with yielding_to_foreground(), pytest.raises(YieldedToForeground) as caught:
        other_instance.acquire(scope, IFIRMA_PER_MINUTE)  # refused at once, not after a wait
    assert caught.value.retry_after == FOREGROUND_HOLD_SECONDS and len(fake.slept) == 1  # the exports just began
    assert isinstance(caught.value, RateLimited)  # a PDF fetch postpones itself like any rate-limit wait
    fake.now += FOREGROUND_HOLD_SECONDS
    with yielding_to_foreground():
        other_instance.acquire(scope, IFIRMA_PER_MINUTE)()  # the exports stopped waiting: its turn


def test_background_work_stays_away_longer_the_longer_the_exports_have_been_waiting(table) -> None:
    fake = FakeTime()
    limiter = SlidingWindowLimiter(table, max_wait_seconds=5, clock=fake.clock, sleep=fake.sleep)
    scope = "ifirma:credential:x"
    started = fake.now
    refusals = {}
    while fake.now - started < 300:  # a bulk run bound by the limit: its requests wait for their places
        limiter.acquire(scope, IFIRMA_PER_MINUTE)()
        for busy in (30, 100, 290):
            if fake.now - started >= busy and busy not in refusals:
                with yielding_to_foreground(), pytest.raises(YieldedToForeground) as caught:
                    limiter.acquire(scope, IFIRMA_PER_MINUTE)
                refusals[busy] = caught.value.retry_after
    # Half the time the exports have been busy, up to two windows: a few rounds per PDF in a long run,
    # and never away much longer than the PDFs' own share of the limit once the creates are done.
    assert refusals[30] == pytest.approx(15, abs=1.5) and refusals[100] == pytest.approx(50, abs=1.5)
    assert refusals[290] == 120


# ---------------------------------------------------------------- settlement's reads (issue 19)


class RecordingLimiter:
    """Which window each request asked the shared limiter for, letting every one through."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    def acquire(self, scope: str, window: RateLimit) -> None:
        self.scopes.append(scope)


def test_asking_infakt_about_an_interrupted_create_uses_its_read_window_only() -> None:
    with InfaktFake(read_limit=None, write_limit=None, processing_polls=0) as fake:
        fake.add_account("key-shop-b")
        settings = AccountSettings.model_validate({
            "account_id": "shop-b", "provider": "infakt", "api_url": f"{fake.base_url}/api/v3",
            "series_links": {"FV": None}, "payment_links": {"Przelew": "transfer"}})
        limiter = RecordingLimiter()
        adapter = build_adapter(settings, {"api_key": "key-shop-b"}, limiter=limiter)
        plan = plan_for(adapter, "01-invoice-company.json")
        adapter.create_document(plan)
        assert "infakt:deployment" in limiter.scopes  # the create's POST: the write window
        limiter.scopes.clear()
        settlement = adapter.settle_interrupted(plan, InterruptedAttempt())  # the day's list, read
        assert settlement.outcome == SettlementOutcome.FOUND
        assert limiter.scopes and set(limiter.scopes) == {"infakt:deployment:reads"}
