"""The one list of fields that carry patient data (PHI), and redaction.

The console hides these from viewers, and the JSON log formatter blanks any
log field with one of these names, so one list decides both. Keys are the
canonical model's field names (gateway/model.py) plus the store's raw bytes.
"""

from __future__ import annotations

from typing import Any

#: field names whose values are (or contain) patient data
PHI_FIELDS: frozenset[str] = frozenset(
    {
        "patient", "subscriber", "guarantor", "patient_name", "name", "given", "family", "middle",
        "birth_date", "address", "lines", "phone", "email", "member_id", "group_number", "account_number",
        "ssn", "visit", "encounter_id", "raw", "encounter",
    }
)  # fmt: skip
REDACTED = "[redacted]"


def redact(value: Any) -> Any:
    """A copy of ``value`` (JSON-like) with every PHI field's value replaced."""
    if isinstance(value, dict):
        return {k: (REDACTED if k in PHI_FIELDS and v is not None else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value
