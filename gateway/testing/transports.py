"""The contract every transport keeps, as a test base class (needs pytest).

A transport's tests (built-in or third-party) subclass
:class:`TransportContract` in a class named ``Test…`` and provide
``make_transport`` (a working destination), ``make_broken_transport`` (a
destination that is down: the error must be retryable) and ``copies`` (how
many copies of a document the destination holds). The suite checks:
deliver → receipt; the same document twice → one copy and an
``already_present`` receipt; a broken destination → ``TransportError`` with
the right ``retryable``; a closed transport refuses (not retryable); the
context manager closes.
"""

from __future__ import annotations

import pytest

from gateway.documents import Document
from gateway.transport import Receipt, Transport, TransportError


class TransportContract:
    """Subclass as ``class TestMyTransport(TransportContract)``; pytest collects the tests."""

    #: what a broken destination's error must say about retrying
    broken_is_retryable = True

    def make_transport(self) -> Transport:
        raise NotImplementedError

    def make_broken_transport(self) -> Transport:
        raise NotImplementedError

    def copies(self, doc: Document) -> int:
        raise NotImplementedError

    def document(self, n: int = 1) -> Document:
        """A small statement-like document with the e-mail hints transports use."""
        return Document(
            name=f"contract-{n:03d}.pdf",
            content=b"%PDF-1.4 contract test document " + str(n).encode(),
            media_type="application/pdf",
            kind="statements",
            clinic_id="riverside",
            refs=(f"S{n}",),
            headers={"to": f"contract{n}@example.com", "subject": "Test", "message-key": f"contract-{n}"},
        )

    def test_deliver_returns_a_receipt(self) -> None:
        doc = self.document()
        with self.make_transport() as transport:
            receipt = transport.deliver(doc)
        assert isinstance(receipt, Receipt) and receipt.location and not receipt.already_present
        assert self.copies(doc) == 1

    def test_same_document_twice_leaves_one_copy(self) -> None:
        doc = self.document()
        with self.make_transport() as transport:
            first = transport.deliver(doc)
            second = transport.deliver(doc)
        assert not first.already_present and second.already_present
        assert second.location == first.location
        assert self.copies(doc) == 1

    def test_different_documents_are_all_delivered(self) -> None:
        docs = [self.document(n) for n in (1, 2, 3)]
        with self.make_transport() as transport:
            locations = {transport.deliver(d).location for d in docs}
        assert len(locations) == 3
        assert [self.copies(d) for d in docs] == [1, 1, 1]

    def test_broken_destination_raises_transport_error(self) -> None:
        with self.make_broken_transport() as transport, pytest.raises(TransportError) as exc:
            transport.deliver(self.document())
        assert exc.value.retryable is self.broken_is_retryable

    def test_closed_transport_refuses_and_is_not_retryable(self) -> None:
        transport = self.make_transport()
        transport.close()
        with pytest.raises(TransportError) as exc:
            transport.deliver(self.document())
        assert exc.value.retryable is False

    def test_context_manager_closes(self) -> None:
        with self.make_transport() as transport:
            pass
        with pytest.raises(TransportError):
            transport.deliver(self.document())
