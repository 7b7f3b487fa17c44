"""Packed texts (gateway.store.submissions.Packer): a worker's results kept
compressed a block at a time until the store writes them."""

from __future__ import annotations

import random
import zlib

import pytest

import gateway.store.submissions as sub
from gateway.store.submissions import Packed, Packer


def _texts(n: int) -> list[str]:
    rng = random.Random(7)
    return [f'{{"id":"C{i}","note":"{"é" * rng.randint(0, 40)}{"x" * rng.randint(0, 3000)}"}}' for i in range(n)]


def test_every_text_reads_back_in_order_out_of_order_and_while_its_block_fills() -> None:
    texts = _texts(300)
    pack = Packer(block=8 * 1024)
    packed = [pack(t) for t in texts]
    assert str(packed[-1]) == texts[-1]  # the block still filling
    assert [str(p) for p in packed] == texts
    order = list(range(len(texts)))
    random.Random(3).shuffle(order)
    assert [str(packed[i]) for i in order] == [texts[i] for i in order]
    assert len({id(p.block) for p in packed}) > 10  # several blocks, each shared


def test_a_block_read_in_order_is_decompressed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = _texts(200)
    pack = Packer(block=16 * 1024)
    packed = [pack(t) for t in texts]
    calls: list[int] = []
    real = zlib.decompress

    class _Zlib:
        compress = staticmethod(zlib.compress)

        @staticmethod
        def decompress(data: bytes) -> bytes:
            calls.append(len(data))
            return real(data)

    monkeypatch.setattr(sub, "zlib", _Zlib)
    assert [str(p) for p in packed] == texts
    assert len(calls) == len({id(p.block) for p in packed if p.block.parts is None})


def test_packed_alone_and_packed_by_a_packer_are_the_same_text() -> None:
    text = '{"id":"C1","clinic_id":"riverside"}'
    alone, shared = Packed(text), Packer()(text)
    assert str(alone) == str(shared) == text
    assert alone == shared and hash(alone) == hash(shared)
    assert alone != Packed(text + " ")
