"""Security regression tests (issue 17), one module per category; docs/security.md maps each defence to its test."""
