"""Print the reliability figures: N documents through the local stack under seeded random faults.

    python -m reliability.figures --documents 1000 --seed 20261124

Exits non-zero when a document was duplicated at the provider, lost, or left without its outcome,
or when the provider saw more requests than its limit.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

from reliability.driver import PROVIDERS, Scenario, run

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    defaults = Scenario()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=defaults.documents)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--accounts", type=int, default=defaults.accounts)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--fault-rate", type=float, default=defaults.fault_rate,
                        help="share of provider requests that fail (default %(default)s)")
    parser.add_argument("--providers", nargs="+", choices=sorted(PROVIDERS), default=list(defaults.providers))
    args = parser.parse_args(argv)
    scenario = Scenario(documents=args.documents, seed=args.seed, accounts=args.accounts, workers=args.workers,
                        fault_rate=args.fault_rate, providers=tuple(args.providers))
    # The handlers log every call (and every injected outage) and print their metrics (EMF) on stdout;
    # the figures, counted from what the stack and the providers hold afterwards, are what this prints.
    logging.disable(logging.CRITICAL)
    with contextlib.redirect_stdout(sys.stderr):
        figures = run(scenario, on_progress=lambda text: print(f"... {text}", file=sys.stderr, flush=True))
    print(f"Reliability run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
          f"({', '.join(f'{f.name}={getattr(scenario, f.name)}' for f in fields(scenario))})\n")
    print(figures.table())
    print(f"\nInterrupted creates, per provider (the settlement's schedule ran {figures.settlement_runs} time(s) "
          "after the traffic):\n")
    print(figures.settlement_table())
    for label, ids in (("lost", figures.lost), ("unexplained in the DLQ", figures.dlq_unexplained),
                       ("without an outcome event", figures.without_outcome_event),
                       ("exported without the provider's number", figures.exported_without_number),
                       ("not exported", figures.not_exported)):
        if ids:
            print(f"\n{label}:\n  " + "\n  ".join(ids[:20]) + ("\n  ..." if len(ids) > 20 else ""))
    return 0 if figures.ok else 1


if __name__ == "__main__":
    sys.exit(main())
