"""Documentation generated from the code (``python -m gateway.docs model``).

docs/model.md is written from the pydantic models in :mod:`gateway.model`
and the 837P placement data in :mod:`gateway.docs.x12_places`; a test fails
when the file is stale. docs/rules.md is written from the built-in plugins'
rule catalogues (``python -m gateway.docs rules``), checked the same way.
"""
