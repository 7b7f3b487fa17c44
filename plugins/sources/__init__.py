"""Sources: where bytes come from (watched folders, MLLP listeners)."""
