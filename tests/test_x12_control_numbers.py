"""Control numbers come from the store: never reused across instances,
processes and ways of running; the legacy control-numbers.sqlite of older
SQLite deployments is carried over once."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

from gateway_plugins.renderers.x12.reader import read_837

from gateway.control_numbers import StoreControlNumbers
from gateway.store import open_store
from gateway.store.legacy import LEGACY_FILE, import_control_numbers
from tests.pg import store_url  # noqa: F401  (fixture: one URL per backend)
from tests.x12check import assert_valid_837, fixture_claims, render


def test_counters_start_at_one_are_per_scope_and_survive_a_new_instance(store_url: str) -> None:  # noqa: F811
    with open_store(store_url) as store:
        n = store.control_numbers()
        assert [n.next("a", "ISA13") for _ in range(3)] == [1, 2, 3]
        assert n.next("a", "GS06") == 1 and n.next("b", "ISA13") == 1
        assert n.current("a", "ISA13") == 3 and n.current("c", "x") == 0  # type: ignore[attr-defined]
    with open_store(store_url) as store:
        assert store.control_numbers().next("a", "ISA13") == 4


def _allocate(path: str, count: int, queue: multiprocessing.Queue) -> None:
    with StoreControlNumbers(open_store(path), owned=True) as n:
        queue.put([n.next("x12:ZZ:A:ZZ:B", "ISA13") for _ in range(count)])


def test_several_processes_never_get_the_same_number(tmp_path: Path) -> None:
    path = str(tmp_path / "gateway.sqlite")
    open_store(path).close()  # migrate once
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
    with open_store(tmp_path / "gateway.sqlite") as store:
        first = render(claims, store.control_numbers())
        second = render(claims, store.control_numbers())
    assert_valid_837(second.content)
    assert first.name != second.name
    assert read_837(first.content).interchanges == ["000000001"]
    assert read_837(second.content).interchanges == ["000000002"]
    assert read_837(second.content).transactions == ["0003", "0004"]


def test_legacy_control_numbers_file_is_carried_over_once_and_never_lowers_a_counter(
    store_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    legacy = sqlite3.connect(state / LEGACY_FILE)
    legacy.execute(
        "CREATE TABLE control_numbers (scope TEXT, counter TEXT, value INTEGER, PRIMARY KEY (scope, counter))"
    )
    legacy.executemany(
        "INSERT INTO control_numbers VALUES (?, ?, ?)", [("x12:ZZ:A:ZZ:B", "ISA13", 41), ("x12:ZZ:A:ZZ:B", "GS06", 3)]
    )
    legacy.commit()
    legacy.close()
    with open_store(store_url) as store:
        store.control_numbers().next("x12:ZZ:A:ZZ:B", "GS06")
        for _ in range(5):
            store.control_numbers().next("x12:ZZ:A:ZZ:B", "GS06")  # the store is ahead for this one: 6
    with open_store(store_url, state_dir=state) as store:
        n = store.control_numbers()
        assert n.next("x12:ZZ:A:ZZ:B", "ISA13") == 42  # no ISA13 the old file handed out is reused
        assert n.next("x12:ZZ:A:ZZ:B", "GS06") == 7  # adopting never lowers a counter
    assert not (state / LEGACY_FILE).exists() and (state / (LEGACY_FILE + ".imported")).exists()
    with open_store(store_url) as store:
        assert import_control_numbers(store, state) == 0  # read once
        assert store.control_numbers().next("x12:ZZ:A:ZZ:B", "ISA13") == 43
