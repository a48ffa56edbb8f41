"""Write the committed JSON Schemas of the producer message and the outcome event.

Run after changing invoice_export.documents or invoice_export.events: `make schemas`.
A test fails while the committed files differ from the models.
"""

from __future__ import annotations

import json
from pathlib import Path

from invoice_export.domain.documents import SCHEMA_VERSION, ExportMessage
from invoice_export.services.events import OutcomeEvent

ROOT = Path(__file__).resolve().parents[1]

SCHEMAS = {
    f"export-message.v{SCHEMA_VERSION}.json": (ExportMessage, "validation"),
    "outcome-event.v1.json": (OutcomeEvent, "serialization"),
}


def render(model: type, mode: str) -> str:
    schema = model.model_json_schema(mode=mode)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main() -> None:
    for name, (model, mode) in SCHEMAS.items():
        (ROOT / "schemas" / name).write_text(render(model, mode), encoding="utf-8")
        print(f"wrote schemas/{name}")


if __name__ == "__main__":
    main()
