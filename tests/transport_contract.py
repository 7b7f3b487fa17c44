"""The transport contract suite lives in the plugin test kit now
(:mod:`gateway.testing.transports`), so third-party transports use it too."""

from gateway.testing.transports import TransportContract

__all__ = ["TransportContract"]
