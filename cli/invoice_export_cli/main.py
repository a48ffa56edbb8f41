"""invoice-export: connect accounts, change settings, follow documents, run bulk exports, replay the DLQ.

Account and document commands go through the configuration API (IAM auth: your AWS credentials
sign each request); operator commands (tenants, tenant-data, numbers, dlq) use your AWS credentials
directly.

  invoice-export --stack invoice-export connect shop-1 --provider fakturownia --credentials-file key.json
  invoice-export --stack invoice-export bulk shop-1 --from 2026-11-01 --to 2026-11-30 --dry-run
  invoice-export --json list shop-1 --status failed

Against the local stack: --api-url http://127.0.0.1:<port>/v1 --local-caller <principal ARN>
(the local gateway takes the caller from a header instead of a signature).
Exit codes: 0 done, 1 refused or failed (the message says why and what to do), 2 bad usage.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, TextIO

import boto3

from invoice_export_cli import operator
from invoice_export_cli.api import ApiClient, ApiFailure

STATUSES = ("pending", "sending", "exported", "failed", "in_doubt")


class Output:
    """Human lines on stdout (progress on stderr), or one JSON document with --json."""

    def __init__(self, as_json: bool, out: TextIO, err: TextIO) -> None:
        self.as_json, self.out, self.err = as_json, out, err

    def line(self, text: str = "") -> None:
        if not self.as_json:
            print(text, file=self.out)

    def data(self, value: Any) -> None:
        if self.as_json:
            json.dump(value, self.out, indent=2, ensure_ascii=False)
            print(file=self.out)

    def progress(self, label: str, done: int, total: int | None) -> None:
        if self.as_json:
            return
        if total:
            width = 30
            filled = min(width, width * done // total)
            print(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", file=self.err)
        else:
            print(f"\r{label} {done}", end="", file=self.err)
        self.err.flush()

    def end_progress(self) -> None:
        if not self.as_json:
            print(file=self.err)


# ---------------------------------------------------------------- account and document commands


def cmd_me(api: ApiClient, args: argparse.Namespace, out: Output) -> None:
    me = api.call("GET", "/me")
    out.data(me)
    out.line(f"{me['principal']} acts for tenant {me['tenant_id']}")
    out.line(f"accounts: {', '.join(me['accounts']) or '(none yet: connect one)'}")


def cmd_connect(api: ApiClient, args: argparse.Namespace, out: Output) -> None:
    credentials = read_credentials(args, api)
    body = {"provider": args.provider, "credentials": credentials}
    if args.subdomain:
        body["provider_subdomain"] = args.subdomain
    if args.provider_api_url:
        body["api_url"] = args.provider_api_url
    account = api.call("PUT", f"/accounts/{args.account}/connection", body)
    out.data(account)
    out.line(f"connected {args.account} to {args.provider}: the provider accepted the credentials, which are "
             f"stored in Secrets Manager (settings version {account['settings']['settings_version']})")
    if run := account.get("resumed_run"):
        out.line(f"the account was paused: {run['queued']} held document(s) queued again (bulk run {run['run_id']}"
                 + (", not finished: `invoice-export bulk-status` follows it; it goes on tonight)"
                    if run["status"] == "running" else ")"))


def read_credentials(args: argparse.Namespace, api: ApiClient) -> dict[str, str]:
    """From a JSON file, or asked for field by field (never from the command line: shell history)."""
    if args.credentials_file:
        data = json.loads(Path(args.credentials_file).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ApiFailure(0, "bad_credentials_file", f"{args.credentials_file} must hold a JSON object",
                             'e.g. {"api_token": "..."}')
        return {str(k): str(v) for k, v in data.items()}
    providers = {p["provider"]: p for p in api.call("GET", "/providers")}
    if args.provider not in providers:
        raise ApiFailure(0, "unsupported_provider", f"{args.provider} is not supported by this deployment",
                         f"choose one of: {', '.join(providers)}")
    fields = providers[args.provider]["credential_fields"]
    return {name: getpass.getpass(f"{args.provider} {name}: ") for name in fields}


def cmd_settings(api: ApiClient, args: argparse.Namespace, out: Output) -> None:
    change = settings_change(args)
    path = f"/accounts/{args.account}"
    account = api.call("PATCH", f"{path}/settings", change) if change else api.call("GET", path)
    out.data(account)
    for line in describe_settings(account["settings"]):
        out.line(line)
    for warning in account.get("warnings", []):
        out.line(f"  warning: {warning}")


def settings_change(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the command line changes (only those given: the rest stay as they are)."""
    change: dict[str, Any] = {}
    for name in ("numbering", "export_mode", "missing_sku", "ksef", "totals_policy"):
        if getattr(args, name):
            change[name] = getattr(args, name)
    for name in ("send_skus", "show_provider_document"):
        if getattr(args, name) is not None:
            change[name] = getattr(args, name) == "yes"
    if args.series_link:
        change["series_links"] = pairs(args.series_link, none_value="-")
    if args.series_kinds:
        change["series_link_kinds"] = {ours: [kind for kind in kinds.split(",") if kind]
                                       for ours, kinds in pairs(args.series_kinds).items()}
    if args.payment_link:
        change["payment_links"] = pairs(args.payment_link)
    return change


def describe_settings(settings: dict[str, Any]) -> list[str]:
    lines = [f"account {settings['account_id']} ({settings['provider']}), status {settings['status']}, "
             f"settings version {settings['settings_version']}"]
    for name in ("numbering", "export_mode", "show_provider_document", "send_skus", "missing_sku", "ksef",
                 "totals_policy"):
        if name in settings:
            lines.append(f"  {name:<24} {settings[name]}")
    lines.append(f"  {'series_links':<24} " + (", ".join(f"{k} -> {v if v is not None else 'provider default'}"
                                                         for k, v in settings["series_links"].items()) or "-"))
    lines.append(f"  {'payment_links':<24} " + (", ".join(f"{k} -> {v}" for k, v in settings["payment_links"].items())
                                               or "-"))
    if settings.get("series_link_kinds"):
        lines.append(f"  {'series_link_kinds':<24} " + ", ".join(f"{k}: {'/'.join(v)}"
                                                             for k, v in settings["series_link_kinds"].items()))
    return lines


def pairs(items: list[str], none_value: str | None = None) -> dict[str, str | None]:
    result: dict[str, str | None] = {}
    for item in items:
        ours, sep, theirs = item.partition("=")
        if not sep or not ours:
            raise ApiFailure(0, "bad_link", f"{item!r} is not OURS=THEIRS", "e.g. --series-link FV=1001")
        result[ours] = None if none_value is not None and theirs == none_value else theirs
    return result


def cmd_provider_list(api: ApiClient, args: argparse.Namespace, out: Output) -> None:
    what = "series" if args.command == "series" else "payment-types"
    options = api.call("GET", f"/accounts/{args.account}/provider/{what}")
    out.data(options)
    every_kind = {"invoice", "receipt", "correction"}
    for option in options:
        kinds = option.get("kinds")
        narrower = kinds is not None and set(kinds) != every_kind
        takes = f"  (takes: {', '.join(kinds) or 'none of our kinds'})" if narrower else ""
        out.line(f"{option['id']:<12} {option['name']}{takes}")


def cmd_status(api: ApiClient, args: argparse.Namespace, out: Output) -> None:
    document = api.call("GET", f"/accounts/{args.account}/documents/{args.document}")
    out.data(document)
    out.line(describe_document(document))


def describe_document(d: dict[str, Any]) -> str:
    text = f"{d['document_id']} (v{d['document_version']}, {d.get('kind') or '?'}): {d['status']}"
    if d["status"] == "exported":
        text += f" as {d.get('provider_number')} at {d.get('provider')}"
        if d.get("ksef_number"):
            system = "e-Factura index" if d.get("clearance_system") == "efactura" else "KSeF"
            text += f", {system} {d['ksef_number']}"
    if d.get("error") and d["status"] != "exported":
        text += f"\n    {d['error']['code']}: {d['error']['message']}\n    fix: {d['error']['fix']}"
    settlement = d.get("settlement")
    if settlement and d["status"] != "exported":
        text += (f"\n    provider asked ({settlement['by']}, {settlement['at']}): {settlement['outcome']}: "
                 f"{settlement['reason']}")
        for candidate in settlement.get("candidates") or []:
            text += (f"\n      candidate {candidate['provider_document_id']} {candidate['number']}: "
                     f"{candidate['reference']}")
    for warning in d.get("warnings") or []:
        text += f"\n    warning: {warning}"
    return text


def cmd_list(api: ApiClient, args: argparse.Namespace, out: Output) -> None:
    documents: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = api.call("GET", f"/accounts/{args.account}/documents", status=args.status, cursor=cursor,
                        date_from=args.date_from, date_to=args.date_to, limit=100)
        documents += page["documents"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    out.data(documents)
    out.line(f"{len(documents)} {args.status} document(s) of {args.account}")
    for document in documents:
        out.line("  " + describe_document(document))


def cmd_retry(api: ApiClient, args: argparse.Namespace, out: Output) -> None:
    if args.all_failed:
        run = api.call("POST", f"/accounts/{args.account}/failed/retry")
        run = finish_queueing(api, args.account, run, out)
        out.data(run)
        out.line(f"queued {run['queued']} failed document(s) again (bulk run {run['run_id']})")
        return
    if not args.document:
        raise ApiFailure(0, "usage", "name the document to retry", "or pass --all-failed")
    answer = api.call("POST", f"/accounts/{args.account}/documents/{args.document}/retry")
    out.data(answer)
    out.line(f"{args.document} is queued again")


def cmd_resolve(api: ApiClient, args: argparse.Namespace, out: Output) -> None:
    if args.auto:  # the provider is asked again, by the settlement function (the API answers 202 at once)
        answer = api.call("POST", f"/accounts/{args.account}/documents/{args.document}/settle")
        out.data(answer)
        out.line(f"{args.document}: its provider is asked again (queued); see the answer with "
                 f"`invoice-export status {args.account} {args.document}`")
        return
    if args.attach:
        body = {"action": "attach", "provider_document_id": args.attach, "provider_number": args.number}
    else:
        body = {"action": "release"}
    document = api.call("POST", f"/accounts/{args.account}/documents/{args.document}/resolve", body)
    out.data(document)
    out.line(describe_document(document))


def cmd_audit(api: ApiClient, args: argparse.Namespace, out: Output) -> None:
    entries = api.call("GET", f"/accounts/{args.account}/documents/{args.document}/audit")
    out.data(entries)
    out.line(f"{len(entries)} audit entr{'y' if len(entries) == 1 else 'ies'} of {args.document}")
    for e in entries:
        version = f", settings v{e['settings_version']}" if e.get("settings_version") else ""
        out.line(f"  {e['at']}  {e['action']:<16} by {e['actor']}{version}"
                 + (f"  [{e['error_code']}]" if e.get("error_code") else ""))
        if args.show_requests and e.get("request"):
            out.line("      request: " + json.dumps(e["request"], ensure_ascii=False))


def cmd_link(api: ApiClient, args: argparse.Namespace, out: Output) -> None:
    link = api.call("GET", f"/accounts/{args.account}/documents/{args.document}/link")
    out.data(link)
    out.line(f"{link['url']}  (valid {link['valid_days']} days)")


# ---------------------------------------------------------------- bulk export


def cmd_bulk(api: ApiClient, args: argparse.Namespace, out: Output) -> None:
    filters = {key: value for key, value in {
        "date_from": args.date_from, "date_to": args.date_to, "series": args.series or None,
        "only_failed": args.only_failed, "include_failed": args.include_failed}.items() if value}
    path = f"/accounts/{args.account}/bulk-exports"
    if args.dry_run:
        dry_run(api, path, filters, args, out)
        return
    run = api.call("POST", path, {"filters": filters})["run"]
    run = finish_queueing(api, args.account, run, out)
    if not args.wait:
        out.data(run)
        out.line(f"bulk run {run['run_id']}: {run['queued']} queued, {run['skipped']} skipped, "
                 f"{run.get('held', 0)} held; follow it with "
                 f"`invoice-export bulk-status {args.account} {run['run_id']}`")
        for note in run.get("notes", []):
            out.line(f"  note: {note}")
        return
    summary = wait_until_settled(api, args.account, run["run_id"], args.timeout, out)
    out.data(summary)
    print_summary(summary, out)


def dry_run(api: ApiClient, path: str, filters: dict[str, Any], args: argparse.Namespace, out: Output) -> None:
    documents: list[dict[str, Any]] = []
    notes: list[str] = []
    cursor = None
    while True:
        report = api.call("POST", path, {"filters": filters, "dry_run": True, "cursor": cursor})["dry_run"]
        documents += report["documents"]
        notes = report["notes"]
        out.progress("checked", len(documents), None)
        cursor = report.get("next_cursor")
        if not cursor:
            break
    out.end_progress()
    ready = [d for d in documents if not d["problems"]]
    out.data({"checked": len(documents), "ready": len(ready), "with_problems": len(documents) - len(ready),
              "notes": notes, "documents": documents})
    out.line(f"dry run of {args.account}: {len(documents)} document(s), {len(ready)} ready, "
             f"{len(documents) - len(ready)} with problems; nothing was sent")
    for note in notes:
        out.line(f"  note: {note}")
    for d in documents:
        mark = "ok " if not d["problems"] else "ERR"
        out.line(f"  {mark} {d['document_id']} ({d.get('series')}, {d.get('issue_date')})")
        for problem in d["problems"]:
            out.line(f"      {problem['code']}: {problem['message']}\n      fix: {problem['fix']}")
        for note in d["notes"]:
            out.line(f"      note: {note}")
        if args.show_requests and d.get("request"):
            out.line("      request: " + json.dumps(d["request"], ensure_ascii=False))


def finish_queueing(api: ApiClient, account: str, run: dict[str, Any], out: Output) -> dict[str, Any]:
    """A run queues until the API's time is up; resume it until every document is on the queue."""
    while run["status"] == "running":
        out.progress("queued", run["queued"], None)
        run = api.call("POST", f"/accounts/{account}/bulk-exports/{run['run_id']}/resume")
    out.progress("queued", run["queued"], None)
    out.end_progress()
    return run


def wait_until_settled(api: ApiClient, account: str, run_id: str, timeout: float, out: Output,
                       sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        summary = api.call("GET", f"/accounts/{account}/bulk-exports/{run_id}")
        queued = summary["run"]["queued"]
        done = len(summary["exported"]) + len(summary["failed"]) + len(summary["in_doubt"])
        out.progress("exported", done, queued)
        if summary["settled"] or time.monotonic() > deadline:
            out.end_progress()
            return summary
        sleep(2)


def cmd_bulk_status(api: ApiClient, args: argparse.Namespace, out: Output) -> None:
    summary = api.call("GET", f"/accounts/{args.account}/bulk-exports/{args.run}")
    out.data(summary)
    print_summary(summary, out)


def print_summary(summary: dict[str, Any], out: Output) -> None:
    run = summary["run"]
    out.line(f"bulk run {run['run_id']} of {run['account_id']} ({run['status']}, by {run['requested_by']}): "
             f"{len(summary['exported'])} exported, {len(summary['failed'])} failed, "
             f"{len(summary['in_doubt'])} in doubt, {len(summary['waiting'])} waiting, "
             f"{len(summary['skipped'])} skipped, {len(summary.get('held', []))} held"
             + ("" if summary["settled"] else " - not settled yet"))
    for note in run.get("notes", []):
        out.line(f"  note: {note}")
    for d in summary["failed"] + summary["in_doubt"]:
        error = d.get("error") or {}
        out.line(f"  {d['status']:<9} {d['document_id']}: {error.get('message')}\n            fix: {error.get('fix')}")
    for d in summary["skipped"]:
        out.line(f"  skipped   {d['document_id']}: {d.get('reason')}")
    for d in summary.get("held", []):
        out.line(f"  held      {d['document_id']}: {d.get('reason')}")


def cmd_reconcile(api: ApiClient, args: argparse.Namespace, out: Output) -> None:
    report = api.call("GET", f"/accounts/{args.account}/reconciliation", date_from=args.date_from,
                      date_to=args.date_to)
    out.data(report)
    out.line(f"{args.account} against {report['provider']}, issued {report['date_from']}..{report['date_to']}: "
             f"{report['ours_exported']} exported here, {report['provider_listed']} listed there, "
             f"{report['matching']} matching")
    for d in report["missing"]:
        out.line(f"  MISSING at the provider: {d['document_id']} ({d['provider_number']})\n      fix: {d['fix']}")
    for d in report["extra"]:
        out.line(f"  EXTRA at the provider: {d['number']} (id {d['provider_document_id']}, {d['gross']} "
                 f"{d['currency']}): {d['reason']}")
    for d in report["different"]:
        changes = "; ".join(f"{c['field']} ours {c['ours']}, provider {c['provider']}" for c in d["differences"])
        out.line(f"  DIFFERENT: {d['document_id']}: {changes}")
    if not (report["missing"] or report["extra"] or report["different"]):
        out.line("  everything matches")


# ---------------------------------------------------------------- operator commands


def cmd_tenants(session: boto3.session.Session, resources: operator.StackResources, args: argparse.Namespace,
                out: Output) -> None:
    table = resources.get("TENANTS_TABLE")
    if args.tenants_command == "map":
        item = operator.map_principal(session, table, args.principal, args.tenant)
        out.data(item)
        out.line(f"{args.principal} now acts for tenant {args.tenant}")
    elif args.tenants_command == "unmap":
        removed = operator.unmap_principal(session, table, args.principal)
        out.data({"principal_arn": args.principal, "removed": removed})
        out.line(f"{args.principal} {'no longer acts for any tenant' if removed else 'was not mapped'}")
    else:
        mappings = operator.list_mappings(session, table, args.tenant)
        out.data(mappings)
        for m in mappings:
            out.line(f"{m['tenant_id']:<24} {m['principal_arn']}")
        if not mappings:
            out.line("no principal is mapped" + (f" to {args.tenant}" if args.tenant else ""))


def cmd_account_tenant(session: boto3.session.Session, resources: operator.StackResources,
                       args: argparse.Namespace, out: Output) -> None:
    settings = operator.assign_tenant(session, resources, args.account, args.tenant)
    out.data(settings.model_dump(mode="json"))
    out.line(f"account {args.account} now belongs to tenant {args.tenant}")


def cmd_tenant_data(session: boto3.session.Session, resources: operator.StackResources, args: argparse.Namespace,
                    out: Output) -> None:
    if not (args.dry_run or args.yes):
        raise ApiFailure(0, "confirm", f"this deletes every record of tenant {args.tenant} for good",
                         "look first with --dry-run, then confirm with --yes")
    report = operator.delete_tenant_data(session, resources, args.tenant, dry_run=args.dry_run)
    out.data(report.model_dump())
    verb = "would delete" if args.dry_run else "deleted"
    out.line(f"tenant {args.tenant}: {verb} {len(report.accounts)} account(s) ({', '.join(report.accounts) or '-'}), "
             f"{report.documents} document record(s), {report.audit_entries} audit entries, "
             f"{report.pdf_versions} PDF version(s), {len(report.principals)} principal mapping(s)"
             + ("" if args.dry_run else f", {report.bulk_run_items} bulk-run item(s), {report.secrets} secret(s), "
                                        f"{report.numbers} number(s) in use"))


def cmd_numbers(session: boto3.session.Session, resources: operator.StackResources, args: argparse.Namespace,
                out: Output) -> None:
    report = operator.backfill_numbers(session, resources, args.account, dry_run=args.dry_run)
    out.data(report.model_dump())
    verb = "would register" if args.dry_run else "registered"
    out.line(f"{verb} {report.registered} number(s), {report.already_registered} already registered, "
             f"in {len(report.accounts)} account(s) whose provider takes our numbers")
    for twice in report.held_twice:
        out.line(f"  {twice.account_id}: number {twice.number} is held by both {twice.holder_document_id} and "
                 f"{twice.document_id} - check them in the accounting system")


def cmd_dlq(session: boto3.session.Session, resources: operator.StackResources, args: argparse.Namespace,
            out: Output) -> None:
    result = operator.replay_dlq(session.client("sqs"), resources.get("EXPORT_DLQ_URL"),
                                 resources.get("EXPORT_QUEUE_URL"), limit=args.max, dry_run=args.dry_run)
    entries = result.kept if args.dry_run else result.replayed
    out.data({"dry_run": args.dry_run, "messages": entries})
    verb = "would replay" if args.dry_run else "replayed"
    out.line(f"{verb} {len(entries)} message(s) from the export DLQ")
    for entry in entries:
        out.line(f"  {entry['account_id']}/{entry['document_id']} (received {entry['receive_count']} times)")


# ---------------------------------------------------------------- wiring


API_COMMANDS = {
    "me": cmd_me, "connect": cmd_connect, "settings": cmd_settings, "series": cmd_provider_list,
    "payment-types": cmd_provider_list, "status": cmd_status, "list": cmd_list, "retry": cmd_retry,
    "resolve": cmd_resolve, "link": cmd_link, "bulk": cmd_bulk, "bulk-status": cmd_bulk_status,
    "reconcile": cmd_reconcile, "audit": cmd_audit,
}
OPERATOR_COMMANDS = {"tenants": cmd_tenants, "dlq": cmd_dlq, "tenant-data": cmd_tenant_data,
                     "account-tenant": cmd_account_tenant, "numbers": cmd_numbers}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="invoice-export", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--json", action="store_true", help="print JSON (for scripts) instead of sentences")
    p.add_argument("--stack", default=os.environ.get("INVOICE_EXPORT_STACK"),
                   help="CloudFormation stack name: its outputs give the API URL, tables and queues")
    p.add_argument("--api-url", default=os.environ.get("INVOICE_EXPORT_API_URL"),
                   help="configuration API base URL (…/v1); default: the stack's ConfigApiUrl output")
    p.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    p.add_argument("--profile", default=os.environ.get("AWS_PROFILE"))
    p.add_argument("--local-caller", default=os.environ.get("INVOICE_EXPORT_LOCAL_CALLER"),
                   help="LOCAL STACK ONLY: the principal ARN the local gateway puts in the request")
    sub = p.add_subparsers(dest="command", required=True, metavar="command")

    sub.add_parser("me", help="who you are for the API: your tenant and its accounts")

    c = sub.add_parser("connect", help="connect (or reconnect) an account; the provider checks the credentials")
    c.add_argument("account")
    c.add_argument("--provider", required=True)
    c.add_argument("--credentials-file", help='JSON file, e.g. {"api_token": "..."}; otherwise you are asked')
    c.add_argument("--subdomain", help="the provider's account prefix where it has one (Fakturownia)")
    c.add_argument("--provider-api-url", help="a sandbox's API URL, where the deployment allows it")

    s = sub.add_parser("settings", help="show an account's settings, or change them")
    s.add_argument("account")
    s.add_argument("--numbering", choices=["provider", "ours"])
    s.add_argument("--export-mode", choices=["automatic", "bulk"])
    s.add_argument("--show-provider-document", choices=["yes", "no"])
    s.add_argument("--send-skus", choices=["yes", "no"])
    s.add_argument("--missing-sku", choices=["fail", "warn"])
    s.add_argument("--ksef", choices=["off", "send_on_export", "provider_sends"])
    s.add_argument("--totals-policy", choices=["adapt", "strict"],
                   help="adapt: send a document whose net/VAT the provider splits another way, with both splits "
                        "as a warning; strict: refuse it before sending")
    s.add_argument("--series-link", action="append", metavar="OURS=PROVIDER",
                   help="link a series (PROVIDER '-' = the provider's default); repeat; replaces all links")
    s.add_argument("--series-kinds", action="append", metavar="OURS=KIND[,KIND]",
                   help="the kinds of documents our series serves (invoice, receipt, correction), so a link to a "
                   "provider series of another type is refused now; repeat; replaces all")
    s.add_argument("--payment-link", action="append", metavar="OURS=TYPE", help="repeat; replaces all links")

    for name, what in (("series", "series (departments)"), ("payment-types", "payment types")):
        sub.add_parser(name, help=f"the provider's {what} to link to").add_argument("account")

    st = sub.add_parser("status", help="one document's status, provider number, error and fix")
    st.add_argument("account")
    st.add_argument("document")

    ls = sub.add_parser("list", help="documents in one status (failed, in_doubt, ...), optionally by issue date")
    ls.add_argument("account")
    ls.add_argument("--status", choices=STATUSES, default="failed")
    ls.add_argument("--from", dest="date_from", type=date.fromisoformat)
    ls.add_argument("--to", dest="date_to", type=date.fromisoformat)

    r = sub.add_parser("retry", help="queue a failed document again after the fix (or all failed ones)")
    r.add_argument("account")
    r.add_argument("document", nargs="?")
    r.add_argument("--all-failed", action="store_true")

    rs = sub.add_parser("resolve", help="settle a document held in doubt")
    rs.add_argument("account")
    rs.add_argument("document")
    how = rs.add_mutually_exclusive_group(required=True)
    how.add_argument("--attach", metavar="PROVIDER_DOCUMENT_ID", help="the provider has it: this is its id")
    how.add_argument("--release", action="store_true", help="the provider does not have it: send it again")
    how.add_argument("--auto", action="store_true",
                     help="ask the provider again (its documents of the day, our reference read back): found -> "
                          "exported, surely absent -> sent again, else still in doubt with the candidates")
    rs.add_argument("--number", help="with --attach (required there): the provider's number of the document")

    au = sub.add_parser("audit", help="a document's audit trail (who did what, when, with which settings)")
    au.add_argument("account")
    au.add_argument("document")
    au.add_argument("--show-requests", action="store_true", help="the requests sent (personal data removed)")

    ln = sub.add_parser("link", help="the customer link of an exported document")
    ln.add_argument("account")
    ln.add_argument("document")

    b = sub.add_parser("bulk", help="export an account's pending documents now (or check them with --dry-run)")
    b.add_argument("account")
    b.add_argument("--from", dest="date_from", type=date.fromisoformat, help="issue date from")
    b.add_argument("--to", dest="date_to", type=date.fromisoformat, help="issue date to")
    b.add_argument("--series", action="append", help="only this series of ours; repeat")
    failed = b.add_mutually_exclusive_group()
    failed.add_argument("--only-failed", action="store_true")
    failed.add_argument("--include-failed", action="store_true")
    b.add_argument("--dry-run", action="store_true", help="check each document and show problems; send nothing")
    b.add_argument("--show-requests", action="store_true", help="with --dry-run: the exact provider requests")
    b.add_argument("--no-wait", dest="wait", action="store_false", help="do not wait for the exports to settle")
    b.add_argument("--timeout", type=float, default=600, help="seconds to wait for the exports (default 600)")

    bs = sub.add_parser("bulk-status", help="a bulk run's progress and summary")
    bs.add_argument("account")
    bs.add_argument("run")

    rc = sub.add_parser("reconcile", help="our documents against the provider's list for a period")
    rc.add_argument("account")
    rc.add_argument("--from", dest="date_from", type=date.fromisoformat, required=True, help="issue date from")
    rc.add_argument("--to", dest="date_to", type=date.fromisoformat, required=True, help="issue date to")

    t = sub.add_parser("tenants", help="(operator) which IAM principal acts for which tenant")
    tsub = t.add_subparsers(dest="tenants_command", required=True)
    tm = tsub.add_parser("map", help="let a principal (user or role ARN) act for a tenant")
    tm.add_argument("principal")
    tm.add_argument("tenant")
    tsub.add_parser("unmap", help="remove a principal's mapping").add_argument("principal")
    tsub.add_parser("list", help="the mappings").add_argument("--tenant")

    at = sub.add_parser("account-tenant", help="(operator) give an existing account its tenant")
    at.add_argument("account")
    at.add_argument("tenant")

    td = sub.add_parser("tenant-data", help="(operator) delete a tenant's data on request")
    tdsub = td.add_subparsers(dest="tenant_data_command", required=True)
    delete = tdsub.add_parser("delete", help="accounts, documents, audit, PDFs, credentials and mappings")
    delete.add_argument("tenant")
    delete.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    delete.add_argument("--yes", action="store_true", help="confirm the deletion")

    n = sub.add_parser("numbers", help="(operator) our numbers in use, guarding against a number sent twice")
    nsub = n.add_subparsers(dest="numbers_command", required=True)
    backfill = nsub.add_parser("backfill", help="register the numbers of documents sent before the guard "
                               "(once after deploying it; safe to repeat)")
    backfill.add_argument("--account", help="only this account (default: every account)")
    backfill.add_argument("--dry-run", action="store_true", help="only count what would be registered")

    d = sub.add_parser("dlq", help="(operator) the export dead-letter queue")
    dsub = d.add_subparsers(dest="dlq_command", required=True)
    replay = dsub.add_parser("replay", help="move messages back to the export queue")
    replay.add_argument("--max", type=int, default=100)
    replay.add_argument("--dry-run", action="store_true", help="only list them")
    return p


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    args = parser().parse_args(argv)
    output = Output(args.json, out, err)
    try:
        session = boto3.session.Session(profile_name=args.profile, region_name=args.region)
        resources = operator.StackResources.find(session, args.stack)
        if args.command in OPERATOR_COMMANDS:
            OPERATOR_COMMANDS[args.command](session, resources, args, output)
            return 0
        api_url = args.api_url or resources.get("INVOICE_EXPORT_API_URL")
        api = ApiClient(api_url, local_caller=args.local_caller, region=args.region, profile=args.profile)
        API_COMMANDS[args.command](api, args, output)
        return 0
    except ApiFailure as failure:
        report_failure(output, failure.code, failure.message, failure.fix)
    except operator.MissingResource as missing:
        report_failure(output, "missing_resource", str(missing), "")
    return 1


def report_failure(output: Output, code: str, message: str, fix: str) -> None:
    if output.as_json:
        json.dump({"error": {"code": code, "message": message, "fix": fix}}, output.out)
        print(file=output.out)
    else:
        print(f"error: {message}" + (f"\n  fix: {fix}" if fix else ""), file=output.err)


if __name__ == "__main__":
    sys.exit(main())
