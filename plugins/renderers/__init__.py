"""Renderers: claims and statements into documents (X12 837P, statement PDFs)."""
