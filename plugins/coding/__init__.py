"""Mapping and coding: charge master, code maps, payer directory, ICD-10-CM, CPT/HCPCS checks."""
