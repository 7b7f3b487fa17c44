"""The console's store modules on both backends: the rule index kept by
triggers (message and encounter level, through the workers' set-wise
completes, reprocessing and duplicate marking), scoped keyset queries,
accounts, settings and audit retention."""

from __future__ import annotations

import hashlib
import time

import pytest

from gateway.store import EncounterOutcome, NewMessage, Outcome, Status, open_store
from gateway.store.submissions import NewClaim, content_digest
from gateway.store.users import Accounts
from gateway.store.views import EVERYTHING, MessageQuery, Scope, Views
from tests.pg import store_url  # noqa: F401  (fixture: one URL per backend)


def err(rule: str, severity: str = "error") -> dict:
    return {"severity": severity, "rule": rule, "message": "m", "plugin": "t"}


def journal(store, raw: bytes, clinic: str | None) -> int:
    msg = NewMessage(
        raw=raw, sha256=hashlib.sha256(raw).hexdigest(), scope=clinic or "", source="folder:x",
        received_at=time.time(), clinic_id=clinic, channel_clinic=clinic,
    )  # fmt: skip
    return store.journal([msg])[0].message_id


def enc(idx: int, status: Status, findings: list[dict], claims=()) -> EncounterOutcome:
    return EncounterOutcome(idx, "riverside", f"V{idx}", status, "{}", findings, list(claims))


@pytest.fixture
def store(store_url: str):  # noqa: F811
    s = open_store(store_url)
    yield s
    s.close()


def test_rule_index_follows_findings_at_message_and_encounter_level(store) -> None:
    a = journal(store, b"a", "riverside")
    b = journal(store, b"b", "riverside")
    c = journal(store, b"c", "lakeside")
    batch = store.claim("w", 10, 60)
    assert {m.id for m in batch} == {a, b, c}
    store.complete(
        "w",
        [
            Outcome(a, Status.QUARANTINED, [err("GW-ROUTE"), err("W-1", "warning")], "riverside"),
            Outcome(
                b,
                Status.CLAIMED,
                [],
                "riverside",
                encounters=[
                    enc(0, Status.QUARANTINED, [err("CM-UNKNOWN"), err("GW-LINE-CODE")]),
                    enc(
                        1,
                        Status.CLAIMED,
                        [err("W-2", "warning")],
                        [NewClaim("CLM1", "P", "1.00", "{}", 1, content_digest("claims", "{}"))],
                    ),
                ],
            ),
            Outcome(
                c, Status.QUARANTINED, [], "lakeside", encounters=[enc(0, Status.QUARANTINED, [err("CM-UNKNOWN")])]
            ),
        ],
    )
    v = Views(store)
    assert v.rules([a, b, c]) == {a: ["GW-ROUTE"], b: ["CM-UNKNOWN", "GW-LINE-CODE"], c: ["CM-UNKNOWN"]}
    riverside = Scope(frozenset({"riverside"}))
    assert [m.id for m in v.messages(riverside, MessageQuery(rule="CM-UNKNOWN"))] == [b]
    assert [m.id for m in v.messages(EVERYTHING, MessageQuery(rule="CM-UNKNOWN"))] == [c, b]
    assert v.messages(EVERYTHING, MessageQuery(rule="W-1")) == []  # warnings quarantine nothing
    assert v.quarantine_groups(EVERYTHING) == [
        ("lakeside", "CM-UNKNOWN", 1, pytest.approx(time.time(), abs=60)),
        ("riverside", "GW-ROUTE", 1, pytest.approx(time.time(), abs=60)),
    ]
    assert v.quarantined_with_rule(EVERYTHING, "lakeside", "CM-UNKNOWN") == [c]
    assert v.quarantined_with_rule(riverside, "lakeside", "CM-UNKNOWN") == []  # out of scope
    # reprocessing drops the encounters and their rules; the message's own stay until it is processed again
    assert v.reprocess_rule(EVERYTHING, "lakeside", "CM-UNKNOWN", "op") == [c]
    assert v.rules([c]) == {c: []}
    assert v.quarantined_with_rule(EVERYTHING, "lakeside", "CM-UNKNOWN") == []
    assert [m.id for m in store.claim("w", 10, 60)] == [c]
    store.complete("w", [Outcome(c, Status.QUARANTINED, [err("GW-PARSE")], "lakeside")])
    assert v.rules([c]) == {c: ["GW-PARSE"]}


def test_keyset_pages_and_scopes(store) -> None:
    ids = [journal(store, f"m{i}".encode(), "riverside" if i % 2 else "lakeside") for i in range(7)]
    none = journal(store, b"unrouted", None)
    v = Views(store)
    page1 = v.messages(EVERYTHING, MessageQuery(limit=3))
    page2 = v.messages(EVERYTHING, MessageQuery(limit=3, before_id=page1[-1].id))
    page3 = v.messages(EVERYTHING, MessageQuery(limit=3, before_id=page2[-1].id))
    assert [m.id for m in page1 + page2 + page3] == sorted([*ids, none], reverse=True)
    assert none not in [m.id for m in v.messages(Scope(None, False), MessageQuery(limit=20))]
    assert {m.clinic_id for m in v.messages(Scope(frozenset({"riverside"})), MessageQuery(limit=20))} == {"riverside"}
    assert v.messages(Scope(frozenset()), MessageQuery(limit=20)) == []
    assert v.message(Scope(frozenset({"lakeside"})), ids[1]) is None and v.message(EVERYTHING, ids[1]) is not None
    counts = {o.clinic_id: o.messages for o in v.overview(Scope(frozenset({"riverside"})))}
    assert counts == {"riverside": {"received": 3}}
    series = v.series(EVERYTHING, "riverside", time.time() - 3600, 600, 6)
    assert sum(series["received"]) == 3 and sum(series["quarantined"]) == 0


def test_accounts_sessions_tokens_settings_and_audit_retention(store) -> None:
    acc = Accounts(store)
    uid = acc.add_user("ria", "$argon2id$x", "operator", ["riverside", "riverside"])
    with pytest.raises(ValueError, match="exists"):
        acc.add_user("ria", "h", "viewer", [])
    with pytest.raises(ValueError, match="unknown role"):
        acc.add_user("x", "h", "root", [])
    assert acc.user("ria").clinics == ("riverside",)
    assert not acc.login_failed(uid, 2, 60) and acc.login_failed(uid, 2, 60)
    assert acc.user("ria").locked_until > time.time()
    acc.create_session("h1", uid, "csrf", "127.0.0.1")
    assert acc.session("h1").csrf == "csrf"
    assert acc.set_disabled("ria", True) and acc.session("h1") is None  # disabling ends sessions
    assert acc.bump("config_generation", "op", {}) == 1 and acc.bump("config_generation", "op", {}) == 2
    assert acc.setting("config_generation") == "2"
    tid = acc.add_token("abc", "hash", "sender", "intake", "riverside", "op", None)
    assert acc.token("abc").clinic_id == "riverside" and acc.revoke_token(tid) and not acc.revoke_token(tid)
    acc.audit("op", "viewed-raw", {"x": 1}, 5, "riverside", "10.0.0.1")
    with store.write() as cur:
        cur.execute("UPDATE audit SET at = 1 WHERE action = 'viewed-raw'")
    first = [r.id for r in acc.iter_audit(chunk=2)]
    assert first == sorted(first) and len(first) == 3  # bump, bump, viewed-raw (read in chunks of 2)
    assert acc.prune_audit(time.time() - 86400, "admin") == 1
    assert [r.action for r in acc.audit_rows(limit=1)] == ["audit-pruned"]


def test_housekeeping_ends_expired_sessions_and_applies_the_audit_retention(store) -> None:
    acc = Accounts(store)
    uid = acc.add_user("ria", "h", "viewer", [])
    acc.create_session("old", uid, "c", None)
    acc.create_session("new", uid, "c", None)
    acc.audit("x", "viewed-raw")
    with store.write() as cur:
        cur.execute("UPDATE console_sessions SET last_seen = 1 WHERE id_hash = 'old'")
        cur.execute("UPDATE audit SET at = ? WHERE action = 'viewed-raw'", (time.time() - 40 * 86400,))
    assert acc.housekeeping(1800, 43200) == (1, 0)  # no retention set: the audit log stays
    acc.set_setting("audit_retention_days", "30", "admin")
    assert acc.housekeeping(1800, 43200) == (0, 1)
    assert acc.session("new") is not None and acc.session("old") is None


def test_last_received_per_clinic_and_source_type_is_kept_on_insert(store) -> None:
    def put(raw: bytes, clinic: str | None, source: str, at: float) -> None:
        store.journal([NewMessage(raw=raw, sha256=hashlib.sha256(raw).hexdigest(), scope=clinic or "", source=source,
                                  received_at=at, clinic_id=clinic)])  # fmt: skip

    put(b"1", "riverside", "folder:riverside", 100.0)
    put(b"2", "riverside", "folder:riverside", 300.0)
    put(b"3", "riverside", "mllp", 200.0)
    put(b"4", "lakeside", "http:emr-east", 50.0)
    put(b"5", None, "mllp", 10.0)
    put(b"2", "riverside", "folder:riverside", 999.0)  # a resend is not a new message
    assert Views(store).last_received() == [
        (None, "mllp", 10.0),
        ("lakeside", "http", 50.0),
        ("riverside", "folder", 300.0),
        ("riverside", "mllp", 200.0),
    ]
