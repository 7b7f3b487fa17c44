"""Running a store's operations again after a lost connection.

:class:`RetryingStore` wraps another store and retries *every* operation of
the :class:`~gateway.store.Store` interface — each abstract method, of the
interface and of the interfaces mixed into it — so no operation can be
forgotten: a method added to the interface is covered the moment it is
declared. Every interface method is one transaction, safe to run again (a
result is written only while the worker holds the message, journaling and
outbox adds deduplicate, a cut aborts when its items moved on); the worst a
retry after a commit whose reply was lost can do is leave a gap in the control
numbers or write an audit row twice.

The backend says what is worth retrying (PostgreSQL: a dropped connection, a
failover, a serialisation failure or a deadlock) and what to raise when the
time is up. Anything else — the backend's helpers such as ``read()`` — is
passed through unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gateway.store.base import Store

#: interface methods that are not retried
_NOT_RETRIED = frozenset({"close"})


class RetryingStore(Store):
    """``inner`` with every interface method retried with backoff (50 ms
    doubling to 1 s) while ``retryable(exc)`` holds, for up to ``timeout``
    seconds; then ``unavailable(exc)`` is raised from the last error."""

    def __init__(
        self,
        inner: Store,
        *,
        retryable: Callable[[BaseException], bool],
        unavailable: Callable[[BaseException], Exception],
        timeout: float,
        closed: Callable[[], bool] = lambda: False,
    ) -> None:
        self.inner = inner
        self._retryable = retryable
        self._unavailable = unavailable
        self._timeout = timeout
        self._closed = closed

    def __getattr__(self, name: str) -> Any:  # backend helpers (read, write, url, migrate…)
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"RetryingStore({self.inner!r})"

    def close(self) -> None:
        self.inner.close()

    def _call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        deadline = time.monotonic() + self._timeout
        delay = 0.05
        while True:
            try:
                return getattr(self.inner, name)(*args, **kwargs)
            except Exception as exc:
                if not self._retryable(exc):
                    raise
                if self._closed() or time.monotonic() + delay > deadline:
                    raise self._unavailable(exc) from exc
                time.sleep(delay)
                delay = min(delay * 2, 1.0)


def _retried(name: str) -> Callable[..., Any]:
    def method(self: RetryingStore, *args: Any, **kwargs: Any) -> Any:
        return self._call(name, args, kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = getattr(Store, name).__doc__
    method.retried = True  # type: ignore[attr-defined]
    return method


#: every operation of the interface, computed from it (never a hand-kept list)
RETRIED = frozenset(Store.__abstractmethods__) - _NOT_RETRIED
for _name in sorted(RETRIED):
    setattr(RetryingStore, _name, _retried(_name))
RetryingStore.__abstractmethods__ = frozenset()
