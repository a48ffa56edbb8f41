"""Strict local fake of the iFirma API (https://www.ifirma.pl/iapi).

An independent model of the provider, written from its public documentation (api.ifirma.pl,
mirrored at pomoc.ifirma.pl; summarised with sources in /work/shared/providers/wfirma-ifirma.md
section 2). It never imports the production package: it must be able to prove that package wrong,
so the HMAC signature is verified here with its own code.

Public API (for tests and the local demo)::

    fake = IfirmaFake()                        # rate_limit=(100, 60.0), daily_limit=15_000
    base_url = fake.start()                    # the API lives under f"{base_url}/iapi"
    account = fake.add_account("jan@example.pl", invoice_key="EAB0D8ACF3308F3B",
                               subscriber_key="0A1B2C3D4E5F6071", accounting_month=(2026, 11),
                               series=("SKLEP",), quota=1000)
    fake.account("jan@example.pl").invoices    # {id: stored document (request fields + computed)}
    fake.edit_invoice("jan@example.pl", 1, Uwagi="...")   # the merchant edits it in iFirma
    fake.requests                              # RequestLog (logins only, never keys or signatures)
    fake.limiter.peak("jan@example.pl")        # most requests of the login in one minute
    fake.faults.status(503, method="POST")     # see common.FaultPlan; answers in iFirma's envelope
    fake.account("jan@example.pl").ksef_connected = False  # no KSeF connection set up in iFirma
    fake.account("jan@example.pl").ksef_submissions       # {invoice id: DataWysylki} handed to KSeF
    fake.account("jan@example.pl").reads_carry_kod = False  # successful reads answered without Kod

Endpoints (all signed, see `_authenticate`): POST fakturakraj.json, fakturawaluta.json,
fakturaeksportuslugue.json, fakturakraj/korekta/{id or number}.json; GET {type}/{id}.json and
{type}/{id}.pdf; GET faktury.json; GET/PUT abonent/miesiacksiegowy.json; GET abonent/limit.json;
POST {type}/ksef/send/{id}.json (community-documented, see `send_to_ksef`).

Every answer is the documented envelope ``{"response": {"Kod": 0, "Informacja": ...}}``; errors come
with HTTP 200 and ``Kod`` != 0 (api.ifirma.pl FAQ). A user's successful reads can come without ``Kod``
(``reads_carry_kod``, see `IfirmaAccount`). Behaviour the documentation does not define is marked
``ASSUMPTION:``.

The fake is split by concern: `vocabulary` (documented codes and values, the field specifications
and their checks, the envelope, the account record), `invoices` (issuing a document: positions,
date and numbering rules, contractor, quota, the fake's own totals, the PDF), `server` (the HTTP
endpoints: signed auth, limits, create/read/list, KSeF, the accounting month).
"""

from local.fakes.ifirma.server import IfirmaFake
from local.fakes.ifirma.vocabulary import IfirmaAccount

__all__ = ["IfirmaAccount", "IfirmaFake"]
