"""Delivery: batching claims and statements into documents, the durable outbox and its dispatcher."""
