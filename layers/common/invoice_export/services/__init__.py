"""Services: what the service does with a document (export, KSeF, PDFs, bulk runs, reconciliation, operations).

They use the domain, the providers and storage; entry points and the runtime wiring sit above them.
"""
