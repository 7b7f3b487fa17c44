"""Batch cutting is owned by one node at a time (the store lease
``delivery:batcher``); another node takes over when the lease expires."""

from __future__ import annotations

import time
from pathlib import Path

from gateway.app import Gateway
from gateway.delivery.service import BATCHER_LEASE, DeliveryService
from tests.delivery_helpers import deployment


def test_one_batcher_at_a_time_and_takeover_after_expiry(tmp_path: Path) -> None:
    gw = Gateway.from_config(deployment(tmp_path / "dep"))
    url = str(gw.loaded.state_dir / "gateway.sqlite")
    node_a = DeliveryService(gw, url, tick=0.05)
    node_b = DeliveryService(gw, url, tick=0.05)
    node_a.owner, node_b.owner = "host-a:1:batcher", "host-b:2:batcher"
    node_a.lease_ttl = node_b.lease_ttl = 0.5
    try:
        assert node_a.owns_batching()
        assert not node_b.owns_batching()  # node-a holds the role
        assert node_a.owns_batching()  # renewal by the holder
        (lease,) = [le for le in node_a._stores[0].leases() if le.name == BATCHER_LEASE]
        assert lease.owner == "host-a:1:batcher"
        time.sleep(0.6)  # node-a stops renewing, as a dead node would
        assert node_b.owns_batching()
        (lease,) = [le for le in node_b._stores[0].leases() if le.name == BATCHER_LEASE]
        assert lease.owner == "host-b:2:batcher" and lease.token == 2  # fencing token moved on
        node_a._lease_until = 0.0
        assert not node_a.owns_batching()
    finally:
        node_b.close()
        node_a.close()


def test_a_stopping_node_hands_the_role_over_at_once(tmp_path: Path) -> None:
    gw = Gateway.from_config(deployment(tmp_path / "dep"))
    url = str(gw.loaded.state_dir / "gateway.sqlite")
    node_a = DeliveryService(gw, url, tick=0.05)
    node_b = DeliveryService(gw, url, tick=0.05)
    node_a.owner, node_b.owner = "host-a:1:batcher", "host-b:2:batcher"
    try:
        assert node_a.owns_batching() and not node_b.owns_batching()
        node_a.close()  # graceful stop releases the lease
        assert node_b.owns_batching()
    finally:
        node_b.close()
