"""FHIR ``OperationOutcome`` bodies for the HTTP intake's answers."""

from __future__ import annotations

import json


def operation_outcome(severity: str, code: str, text: str, location: str | None = None) -> bytes:
    """One issue: ``severity`` (information/warning/error), an IssueType
    ``code`` (informational, invalid, security, too-costly, …) and ``text``
    (never patient data)."""
    issue: dict[str, object] = {"severity": severity, "code": code, "diagnostics": text}
    if location:
        issue["expression"] = [location]
    return json.dumps({"resourceType": "OperationOutcome", "issue": [issue]}).encode()
