"""Inbound formats: bytes in, canonical encounters out (HL7 v2, FHIR R4, canonical JSON)."""
