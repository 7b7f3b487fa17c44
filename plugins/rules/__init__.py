"""Rules: clean-claim scrubbing and payer-specific edits."""
