"""Healthcare billing integration gateway: HL7 v2 / FHIR encounters in,
X12 837P claims and patient statements out.

``__version__`` is the package version; ``API_VERSION`` the version of the
plugin API (docs/api.md), which changes only when what plugins see changes.
"""

from gateway.api import API_VERSION
from gateway.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["API_VERSION", "__version__", "hookimpl"]
