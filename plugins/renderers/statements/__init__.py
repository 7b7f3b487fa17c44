"""Patient statements: layout, PDF renderers and per-clinic branding settings."""
