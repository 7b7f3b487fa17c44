"""Persisted control numbers: never reused, across instances and processes."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

from gateway_plugins.renderers.x12.reader import read_837

from gateway.control_numbers import FILE_NAME, SQLiteControlNumbers
from tests.x12check import assert_valid_837, fixture_claims, render


def test_counters_start_at_one_and_are_per_scope_and_counter(tmp_path: Path) -> None:
    with SQLiteControlNumbers.in_state_dir(tmp_path / "state") as n:
        assert [n.next("a", "ISA13") for _ in range(3)] == [1, 2, 3]
        assert n.next("a", "GS06") == 1 and n.next("b", "ISA13") == 1
        assert n.current("a", "ISA13") == 3 and n.current("c", "x") == 0
    path = tmp_path / "state" / FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_numbers_survive_a_new_instance(tmp_path: Path) -> None:
    with SQLiteControlNumbers(tmp_path / "cn.sqlite") as n:
        n.next("s", "c")
        n.next("s", "c")
    with SQLiteControlNumbers(tmp_path / "cn.sqlite") as n:
        assert n.next("s", "c") == 3


def _allocate(path: str, count: int, queue: multiprocessing.Queue) -> None:
    with SQLiteControlNumbers(Path(path)) as n:
        queue.put([n.next("x12:ZZ:A:ZZ:B", "ISA13") for _ in range(count)])


def test_several_processes_never_get_the_same_number(tmp_path: Path) -> None:
    path = str(tmp_path / "cn.sqlite")
    SQLiteControlNumbers(Path(path)).close()  # create the schema once
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_allocate, args=(path, 40, queue)) for _ in range(4)]
    for p in procs:
        p.start()
    got = [x for _ in procs for x in queue.get(timeout=60)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sorted(got) == list(range(1, 161))


def test_renderer_uses_the_persisted_numbers(tmp_path: Path) -> None:
    claims = list(fixture_claims().values())
    with SQLiteControlNumbers(tmp_path / "cn.sqlite") as n:
        first = render(claims, n)
        second = render(claims, n)
    assert_valid_837(second.content)
    assert first.name != second.name
    assert read_837(first.content).interchanges == ["000000001"]
    assert read_837(second.content).interchanges == ["000000002"]
    assert read_837(second.content).transactions == ["0003", "0004"]
