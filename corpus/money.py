"""Money corpus: generated documents sent to every accounting system's fake, totals compared to the grosz.

Each fake computes the document's totals on its own (never with our money code), the way its
provider documents or is known to; the adapter reads them back after the create. For every
provider this counts the documents that came out exact, those exported with the provider's other
net/VAT split of the same gross (VAT per rate instead of per line or the reverse: a lawful split,
recorded as the vat_split_differs warning), those refused before sending (with the reason, e.g. a
provider whose VAT arithmetic would change the amount due), drift found after sending (must be 0; it
includes VAT in PLN where the provider returns it), and currencies lost (must be 0).

    make money                      # 10,000 documents (about 20 minutes on 2 cores), prints the table
    python -m corpus.money --documents 500 --seed 7
    make money-sample               # stores the corpus test's 40 documents (tests/corpus/money_sample.json)

The generator draws Polish documents (PLN, EUR, USD; 23/8/5/0 %, zw, np...). The Romanian providers
(Oblio, SmartBill) get each one as a Romanian shop would issue it (`_as_romanian`): RON instead of
PLN (EUR and USD keep their rate, now to RON), 23 % as 21 %, 8 and 5 % as 11 %, np (no Romanian rate)
as np-EU (0 % either way), a Romanian buyer with a valid CUI and a county, and a correction as the full
reversal (storno) of its original, the only correction they take; the totals are recomputed.

The bounded version runs in `make test` (tests/corpus/test_money_corpus.py) on a stored sample of it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.documents import Document, DocumentKind, ExportMessage, compute_totals
from invoice_export.domain.errors import ConfigurationError, ExportError
from invoice_export.domain.planning import plan_export
from invoice_export.domain.readback import compare, settle_vat_split
from invoice_export.platform.observability import logger
from invoice_export.providers import build_adapter
from invoice_export.providers.base import ProviderAdapter
from local import run as demo
from local.fakes.fakturownia import FakturowniaFake
from local.fakes.firmao import FirmaoFake
from local.fakes.ifirma import IfirmaFake
from local.fakes.infakt import InfaktFake
from local.fakes.oblio import OblioFake
from local.fakes.smartbill import SmartBillFake
from local.fakes.wfirma import WfirmaFake
from tests.property.strategies import EXEMPTION_BASES, ROMANIAN_CUI, as_romanian, documents, to_body

ROOT = Path(__file__).resolve().parents[1]

# Every document is dated inside the accounting month the fakes are set to (iFirma enforces it);
# dates do not change money.
ISSUE_DATE = date(2026, 11, 20)


@dataclass
class Figures:
    documents: int = 0
    exact: int = 0
    split_warning: int = 0  # exported, the provider's net/VAT split of our gross differs (vat_split_differs)
    refused_before_sending: Counter = field(default_factory=Counter)  # reason code -> count
    rejected_by_provider: Counter = field(default_factory=Counter)
    drift_after_sending: int = 0
    currency_lost: int = 0
    provider_rate_differs: int = 0  # the provider chose its own exchange rate (flagged, both recorded)
    drift_examples: list[str] = field(default_factory=list)


# The fakes without their request limits and quotas: the corpus measures money, not rate limits.
UNLIMITED_FAKES = {
    "fakturownia": (lambda: FakturowniaFake(rate_limit=None), demo.fakturownia_shop),
    "infakt": (lambda: InfaktFake(read_limit=None, write_limit=None, processing_polls=0, processing_seconds=0),
               demo.infakt_shop),
    "wfirma": (lambda: WfirmaFake(app_key=demo.WFIRMA_APP_KEY, rate_limit=None), demo.wfirma_shop),
    "ifirma": (lambda: IfirmaFake(rate_limit=None, daily_limit=None), demo.ifirma_shop),
    "firmao": (lambda: FirmaoFake(rate_limit=None), demo.firmao_shop),
    "oblio": (lambda: OblioFake(burst_block=False, windowed_limits=False), demo.oblio_shop),
    "smartbill": (lambda: SmartBillFake(rate_limit=None), demo.smartbill_shop),
}
ROMANIAN = {"oblio", "smartbill"}  # their documents: `_as_romanian`


def _adapter(make_fake: Any, make_shop: Any, running: ExitStack) -> tuple[ProviderAdapter, Any]:
    fake = running.enter_context(make_fake())
    shop = make_shop(fake)
    if shop.settings["provider"] == "ifirma":
        fake.account(shop.credentials["login"]).quota = 10**9  # documents per month
    if shop.settings["provider"] == "infakt":
        # inFakt's own list of exemption bases holds every basis the corpus issues: the adapter finds each
        # document's basis there (no id set by hand), as for a merchant whose inFakt lists its bases.
        for basis in EXEMPTION_BASES:
            fake.add_vat_exemption(shop.credentials["api_key"], basis)
    # Provider defaults; Oblio needs a series named, its standard invoice series.
    default_series = "FCT" if shop.settings["provider"] in ROMANIAN else None
    settings = {**shop.settings, "series_links": dict.fromkeys(("FV", "PAR", "KOR"), default_series)}
    credentials = {**shop.credentials}
    if shop.settings["provider"] == "wfirma":
        credentials["app_key"] = demo.WFIRMA_APP_KEY  # the deployment's, merged by the runtime in AWS
    adapter = build_adapter(AccountSettings.model_validate(settings), credentials)
    if hasattr(adapter, "poll_delays"):
        # inFakt creates asynchronously; its fake here finishes every task at once, so the adapter's
        # waits before polling (needed by the real API) would only slow the corpus down.
        adapter.sleep = lambda _seconds: None
    return adapter, fake


def _same_nbp_rate(fake: Any, document: Document) -> None:
    """inFakt picks the NBP rate itself, of the last working day before the sale date: the day our
    document's rate is from, so the same rate. Seeding it lets the PLN VAT check measure arithmetic
    (the rounding rule), not the fake's stand-in rate."""
    if isinstance(fake, InfaktFake) and document.exchange_rate is not None:
        fake.set_exchange_rate(document.currency, f"{document.exchange_rate.rate:f}", document.exchange_rate.table_id)


def _as_document(drawn: dict[str, Any], document_id: str, *, address: dict[str, str] | None = None,
                 tax_id: str = "5260250274") -> Document:
    """The drawn document with what does not change money made valid for every provider: dates in
    the accounting month, the due date after them, and a real Polish NIP (the generator's tax ids
    are random, and providers rightly refuse a bad checksum), or the `address` and `tax_id` given."""
    payment = {**drawn["payment"]}
    if payment.get("due_date"):
        payment["due_date"] = (ISSUE_DATE + timedelta(days=14)).isoformat()
    if payment.get("paid_date"):
        payment["paid_date"] = ISSUE_DATE.isoformat()
    buyer = {**drawn["buyer"], "address": {**drawn["buyer"]["address"], **(address or {"country": "PL"})}}
    if buyer.get("tax_id"):
        buyer["tax_id"] = tax_id
    drawn = {**drawn, "document_id": document_id, "issue_date": ISSUE_DATE.isoformat(),
             "sale_date": ISSUE_DATE.isoformat(), "payment": payment, "buyer": buyer}
    if drawn.get("exchange_rate"):
        drawn["exchange_rate"] = {**drawn["exchange_rate"], "date": "2026-11-19"}
    body = to_body({"schema_version": "1", "account_id": "corpus", "document": drawn})
    return ExportMessage.model_validate_json(body).document


ROMANIAN_PAYMENTS = {"Przelew": "Transfer bancar", "Karta": "Card"}  # as demo.oblio_shop links them


def _as_romanian(drawn: dict[str, Any], document_id: str) -> Document:
    """The drawn document as a Romanian shop issues it (see the module docstring)."""
    romanian = as_romanian(drawn)
    romanian["payment"] = {**romanian["payment"], "method": ROMANIAN_PAYMENTS[romanian["payment"]["method"]]}
    return _as_document(romanian, document_id, tax_id=ROMANIAN_CUI, address=romanian["buyer"]["address"])


def _original_of(correction: Document) -> Document:
    """The invoice a generated correction corrects: its lines before, as an invoice of its own."""
    assert correction.correction is not None
    lines = correction.correction.lines_before
    totals = compute_totals(lines, correction.price_basis, correction.vat_calculation)
    data = correction.model_dump(mode="json", exclude={"correction"})
    data.update(kind="invoice", document_id=f"{correction.document_id}-ORIG", lines=[
        line.model_dump(mode="json") for line in lines], totals=totals.model_dump(mode="json"))
    return Document.model_validate(data)


def export_one(adapter: ProviderAdapter, document: Document, figures: Figures) -> None:
    figures.documents += 1
    corrected = None
    try:
        if document.kind == DocumentKind.CORRECTION:
            original = adapter.create_document(plan_export(_original_of(document), adapter.settings, type(adapter)))
            corrected = original.reference
        plan = plan_export(document, adapter.settings, type(adapter), corrected=corrected)
        created = adapter.create_document(plan)
    except ConfigurationError as refused:
        figures.refused_before_sending[refused.code] += 1
        return
    except ExportError as rejected:
        figures.rejected_by_provider[f"{rejected.code}: {rejected.message[:90]}"] += 1
        return
    readback = created.readback
    assert readback is not None, f"{adapter.display_name} reports no totals to check"
    split = settle_vat_split(document, plan.vat_split, readback)
    drift = compare(document, readback, corrected.provider_document_id if corrected else None, split)
    if any(d.field == "currency" for d in drift):
        figures.currency_lost += 1
    if drift:
        figures.drift_after_sending += 1
        if len(figures.drift_examples) < 5:
            figures.drift_examples.append(f"{document.document_id}: " + "; ".join(
                d.describe(adapter.display_name) for d in drift))
    elif split is not None:
        figures.split_warning += 1
    else:
        figures.exact += 1
    if any("exchange rate" in warning for warning in created.warnings):
        figures.provider_rate_differs += 1


def draw_documents(count: int, seed_value: int) -> list[dict[str, Any]]:
    """`count` generated documents, the same ones for a seed as long as the loaded code is the same:
    Hypothesis mixes constants of the loaded modules into what it draws, so a change to the layer's
    code may change them (hence the stored sample of the corpus test, `--write-sample`)."""
    drawn_documents: list[dict[str, Any]] = []

    @seed(seed_value)
    @settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(drawn=documents())
    def keep(drawn: dict[str, Any]) -> None:
        drawn_documents.append(drawn)

    keep()
    return drawn_documents


def run_documents(drawn_documents: list[dict[str, Any]]) -> dict[str, Figures]:
    """Send each drawn document to every provider's fake that takes its kind (as a Romanian shop
    issues it for the Romanian ones) and count how each came out."""
    results: dict[str, Figures] = {}
    with ExitStack() as running:
        adapters = {name: _adapter(make_fake, make_shop, running)
                    for name, (make_fake, make_shop) in UNLIMITED_FAKES.items()}
        for number, drawn in enumerate(drawn_documents):
            for name, (adapter, fake) in adapters.items():
                figures = results.setdefault(name, Figures())
                if not adapter.capabilities.supports_kind(DocumentKind(drawn["kind"])):
                    continue
                document = (_as_romanian if name in ROMANIAN else _as_document)(drawn, f"C{number}")
                _same_nbp_rate(fake, document)
                try:
                    export_one(adapter, document, figures)
                except Exception as error:  # what Hypothesis printed as the falsifying example
                    error.add_note(f"{name}, document C{number}: {drawn}")
                    raise
    return results


def run_corpus(count: int, seed_value: int = 2026) -> dict[str, Figures]:
    """Send `count` generated documents (see draw_documents) to each provider's fake."""
    return run_documents(draw_documents(count, seed_value))


# ---------------------------------------------------------------------------------------- stored sample

# What a stored sample must hold (`sample_features` names them), or it proves less than the corpus test
# claims: both prices and VAT methods, several lines under each method (where the providers' per-rate and
# per-line arithmetic part even at one rate: wFirma's and inFakt's split warnings), every kind, currency and
# rate (zw with its basis and np: Firmao's declared limit), shipping, discounts, and quantities or prices
# finer than a grosz.
SAMPLE_MUST_COVER = frozenset({
    "kind invoice", "kind receipt", "kind correction",
    "net prices", "gross prices", "VAT per_rate", "VAT per_line",
    "several lines, VAT per_rate", "several lines, VAT per_line", "net prices, several lines, VAT per_rate",
    "currency PLN", "currency EUR", "currency USD",
    "rate 23", "rate 8", "rate 5", "rate 0", "rate zw", "rate np",
    "shipping line", "discount", "fractional quantity", "unit price to 4 places", "buyer without a tax id",
})


def sample_features(drawn_documents: list[dict[str, Any]]) -> Counter:
    """How many of the documents show each feature of SAMPLE_MUST_COVER (a correction counts its lines
    before and after)."""
    features: Counter = Counter()
    for drawn in drawn_documents:
        lines_before = (drawn.get("correction") or {}).get("lines_before", [])
        lines = drawn["lines"] + lines_before
        rates = {str(line["vat"]) for line in lines}
        method = drawn["vat_calculation"]
        shown = {f"kind {drawn['kind']}", f"{drawn['price_basis']} prices", f"VAT {method}",
                 f"currency {drawn['currency']}", *(f"rate {rate}" for rate in rates)}
        if len(drawn["lines"]) > 1 or len(lines_before) > 1:
            shown.add(f"several lines, VAT {method}")
            shown.add(f"{drawn['price_basis']} prices, several lines, VAT {method}")
        if any(line.get("is_shipping") for line in lines):
            shown.add("shipping line")
        if any("discount_percent" in line for line in lines):
            shown.add("discount")
        if any(Decimal(line["quantity"]) != Decimal(line["quantity"]).to_integral_value() for line in lines):
            shown.add("fractional quantity")
        if any(Decimal(line["unit_price"]) != Decimal(line["unit_price"]).quantize(Decimal("0.01")) for line in lines):
            shown.add("unit price to 4 places")
        if not drawn["buyer"].get("tax_id"):
            shown.add("buyer without a tax id")
        features.update(shown)
    return features


def _decimal_as_text(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)  # exact, as a producer writes money (tests.property.strategies.to_body)
    raise TypeError(f"cannot store {type(value).__name__}")


def write_sample(path: Path, count: int, seed_value: int) -> list[str]:
    """Draw a sample and store it at `path` (one document a line), unless it lacks a feature of
    SAMPLE_MUST_COVER: then nothing is written and the missing features are returned."""
    drawn_documents = draw_documents(count, seed_value)
    missing = sorted(SAMPLE_MUST_COVER - set(sample_features(drawn_documents)))
    if missing:
        return missing
    # ASCII escapes: the generated names hold any unicode (bidi controls too), kept out of the raw file.
    lines = ",\n".join(json.dumps(drawn, default=_decimal_as_text) for drawn in drawn_documents)
    written_by = f"python -m corpus.money --write-sample {path} --documents {count} --seed {seed_value}"
    path.write_text(f'{{"written_by": {json.dumps(written_by)},\n"documents": [\n{lines}\n]}}\n')
    return []


def load_sample(path: Path) -> list[dict[str, Any]]:
    """A stored sample's documents (money as text, which every path here reads as Decimal)."""
    return json.loads(path.read_text())["documents"]


def render(results: dict[str, Figures], seconds: float) -> str:
    lines = ["| provider | documents | exact | exported with a VAT split warning | refused before sending (reason) | "
             "rejected by provider | drift after sending | currency lost | provider's own FX rate flagged |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, f in results.items():
        refused = sum(f.refused_before_sending.values())
        share = f"{refused} ({100 * refused / max(f.documents, 1):.1f}%: " + ", ".join(
            f"{code} {n}" for code, n in f.refused_before_sending.most_common()) + ")" if refused else "0"
        rejected = sum(f.rejected_by_provider.values())
        lines.append(f"| {name} | {f.documents} | {f.exact} | {f.split_warning} | {share} | {rejected} | "
                     f"{f.drift_after_sending} | {f.currency_lost} | {f.provider_rate_differs} |")
    lines.append(f"\n{seconds:.0f} s; drift examples: " + (
        "; ".join(e for f in results.values() for e in f.drift_examples) or "none"))
    for name, f in results.items():
        for reason, n in f.rejected_by_provider.most_common(3):
            lines.append(f"- {name} rejected {n}: {reason}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", action="store_true", help="the figures per provider as JSON, not the table")
    parser.add_argument("--write-sample", type=Path, metavar="PATH",
                        help="store the drawn documents at PATH (the corpus test's sample), send none")
    args = parser.parse_args()
    if args.write_sample:
        missing = write_sample(args.write_sample, args.documents, args.seed)
        if missing:
            print(f"not written: the sample lacks {', '.join(missing)}; try another --seed or more --documents",
                  file=sys.stderr)
        return 1 if missing else 0
    # A table, not one log line per provider call. Set here, not at import: the corpus test imports
    # this module and the level would leak into every later test of that worker.
    logger.setLevel("WARNING")
    started = time.perf_counter()
    results = run_corpus(args.documents, args.seed)
    if args.json:
        # vars(), not dataclasses.asdict: asdict rebuilds a Counter from (key, count) pairs, counting the pairs.
        print(json.dumps({name: vars(figures) for name, figures in results.items()}))
    else:
        print(render(results, time.perf_counter() - started))
    bad = sum(f.drift_after_sending + f.currency_lost for f in results.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
