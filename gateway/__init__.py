"""Healthcare billing integration gateway: HL7 v2 / FHIR encounters in,
X12 837P claims and patient statements out."""

from gateway.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl"]
