"""Schema migrations: a small numbered runner, one SQL text per backend.

Why not Alembic: the store talks SQL directly (sqlite3, later psycopg 3) for
speed on the hot path (journaling, claiming), so there are no SQLAlchemy
table objects for Alembic to diff; what Alembic would add — a version table
and ordered upgrade scripts — is the thirty lines below. Each migration has
one SQL text per dialect (``sqlite``, ``postgresql``), written by hand and
reviewed together, and runs in one transaction with the version row it
inserts, so a half-applied migration never exists. Migrations are
append-only: never edit one that has shipped, add the next number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.store import console_sql


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: dict[str, str]


_INITIAL_COMMON = """
CREATE TABLE messages (
    id              {pk},
    scope           TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    raw             {blob} NOT NULL,
    size            INTEGER NOT NULL,
    source          TEXT NOT NULL,
    name            TEXT,
    channel_clinic  TEXT,
    clinic_id       TEXT,
    format          TEXT,
    sender          TEXT,
    control_id      TEXT,
    message_type    TEXT,
    status          TEXT NOT NULL,
    ack             {blob},
    findings        TEXT NOT NULL DEFAULT '[]',
    attempts        INTEGER NOT NULL DEFAULT 0,
    claimed_by      TEXT,
    lease_expires   {real},
    received_at     {real} NOT NULL,
    updated_at      {real} NOT NULL,
    processed_at    {real},
    UNIQUE (scope, sha256)
);
CREATE INDEX messages_queue ON messages (id) WHERE status = 'received';
CREATE INDEX messages_control ON messages (scope, control_id);
CREATE INDEX messages_clinic_status ON messages (clinic_id, status);
CREATE INDEX messages_received ON messages (received_at);

CREATE TABLE encounters (
    id          {pk},
    message_id  BIGINT NOT NULL REFERENCES messages (id),
    idx         INTEGER NOT NULL,
    clinic_id   TEXT NOT NULL,
    visit       TEXT,
    status      TEXT NOT NULL,
    encounter   TEXT NOT NULL,
    findings    TEXT NOT NULL,
    created_at  {real} NOT NULL,
    UNIQUE (message_id, idx)
);

CREATE TABLE claims (
    id            {pk},
    clinic_id     TEXT NOT NULL,
    clm01         TEXT NOT NULL,
    encounter_row BIGINT NOT NULL REFERENCES encounters (id),
    message_id    BIGINT NOT NULL REFERENCES messages (id),
    payer_id      TEXT,
    total_charge  TEXT NOT NULL,
    status        TEXT NOT NULL,
    claim         TEXT NOT NULL,
    created_at    {real} NOT NULL,
    updated_at    {real} NOT NULL,
    UNIQUE (clinic_id, clm01)
);
CREATE INDEX claims_status ON claims (clinic_id, status);

CREATE TABLE statements (
    id            {pk},
    clinic_id     TEXT NOT NULL,
    statement_id  TEXT NOT NULL,
    encounter_row BIGINT NOT NULL REFERENCES encounters (id),
    message_id    BIGINT NOT NULL REFERENCES messages (id),
    status        TEXT NOT NULL,
    statement     TEXT NOT NULL,
    created_at    {real} NOT NULL,
    UNIQUE (clinic_id, statement_id)
);

CREATE TABLE records (
    clinic_id   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    message_id  BIGINT,
    updated_at  {real} NOT NULL,
    PRIMARY KEY (clinic_id, kind, key)
);

CREATE TABLE audit (
    id          {pk},
    message_id  BIGINT,
    at          {real} NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '{{}}'
);
CREATE INDEX audit_message ON audit (message_id);
"""

_OUTBOX_COMMON = """
CREATE TABLE outbox (
    id            {pk},
    destination   TEXT NOT NULL,
    kind          TEXT NOT NULL,
    clinic_id     TEXT NOT NULL,
    name          TEXT NOT NULL,
    media_type    TEXT NOT NULL,
    content       {blob} NOT NULL,
    sha256        TEXT NOT NULL,
    size          INTEGER NOT NULL,
    refs          TEXT NOT NULL DEFAULT '[]',
    headers       TEXT NOT NULL DEFAULT '{{}}',
    status        TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  {real} NOT NULL,
    last_error    TEXT,
    location      TEXT,
    claimed_by    TEXT,
    lease_expires {real},
    created_at    {real} NOT NULL,
    updated_at    {real} NOT NULL,
    delivered_at  {real},
    UNIQUE (destination, name)
);
CREATE INDEX outbox_due ON outbox (next_attempt) WHERE status = 'pending';
CREATE INDEX outbox_status ON outbox (status, destination);
ALTER TABLE claims ADD COLUMN outbox_id BIGINT;
ALTER TABLE statements ADD COLUMN outbox_id BIGINT;
ALTER TABLE statements ADD COLUMN updated_at {real};
CREATE INDEX claims_outbox ON claims (outbox_id);
CREATE INDEX statements_outbox ON statements (outbox_id);
CREATE INDEX statements_status ON statements (clinic_id, status);
"""

#: the column types that differ between the dialects: write ``{pk}``, ``{blob}``,
#: ``{real}`` in a migration and pass it through :func:`portable`
TYPES: dict[str, dict[str, str]] = {
    "sqlite": {"pk": "INTEGER PRIMARY KEY", "blob": "BLOB", "real": "REAL"},
    "postgresql": {"pk": "BIGSERIAL PRIMARY KEY", "blob": "BYTEA", "real": "DOUBLE PRECISION"},
}


def portable(sql: str) -> dict[str, str]:
    """One migration text for every dialect (``{pk}``/``{blob}``/``{real}`` filled
    in; write ``{{``/``}}`` for literal braces)."""
    return {dialect: sql.format(**types) for dialect, types in TYPES.items()}


_SCALE_OUT = """
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    token       BIGINT NOT NULL,
    acquired_at {real} NOT NULL,
    expires     {real} NOT NULL
);
CREATE TABLE control_numbers (
    scope   TEXT NOT NULL,
    counter TEXT NOT NULL,
    value   BIGINT NOT NULL,
    PRIMARY KEY (scope, counter)
);
ALTER TABLE messages ADD COLUMN raw_pruned_at {real};
CREATE INDEX messages_processed ON messages (processed_at) WHERE raw_pruned_at IS NULL
"""

_BY_MESSAGE = """
CREATE INDEX claims_message ON claims (message_id);
CREATE INDEX statements_message ON statements (message_id)
"""

# Claim identity (docs/architecture.md): a claims row is one submission keyed by
# (clinic, CLM01, payer place, version); statements by (clinic, statement id,
# version). SQLite cannot change a table's UNIQUE constraint: the two tables are
# rebuilt with their ids (outbox links and events keep pointing at the right rows).
_SUBMISSIONS_SQLITE = """
CREATE TABLE claims_v5 (
    id                 INTEGER PRIMARY KEY,
    clinic_id          TEXT NOT NULL,
    clm01              TEXT NOT NULL,
    payer_seq          INTEGER NOT NULL,
    version            INTEGER NOT NULL,
    frequency_code     TEXT NOT NULL,
    original_reference TEXT,
    payer_claim_id     TEXT,
    digest             TEXT,
    encounter_row      BIGINT NOT NULL REFERENCES encounters (id),
    message_id         BIGINT NOT NULL REFERENCES messages (id),
    payer_id           TEXT,
    total_charge       TEXT NOT NULL,
    status             TEXT NOT NULL,
    claim              TEXT NOT NULL,
    outbox_id          BIGINT,
    created_at         REAL NOT NULL,
    updated_at         REAL NOT NULL,
    UNIQUE (clinic_id, clm01, payer_seq, version)
);
INSERT INTO claims_v5 (id, clinic_id, clm01, payer_seq, version, frequency_code, encounter_row, message_id, payer_id,
                       total_charge, status, claim, outbox_id, created_at, updated_at)
SELECT id, clinic_id, clm01, COALESCE(json_extract(claim, '$.coverage.order'), 1), 1, '1', encounter_row, message_id,
       payer_id, total_charge, CASE status WHEN 'claimed' THEN 'created' ELSE status END, claim, outbox_id,
       created_at, updated_at
FROM claims;
DROP TABLE claims;
ALTER TABLE claims_v5 RENAME TO claims;
CREATE INDEX claims_status ON claims (clinic_id, status);
CREATE INDEX claims_outbox ON claims (outbox_id);
CREATE INDEX claims_message ON claims (message_id);

CREATE TABLE statements_v5 (
    id            INTEGER PRIMARY KEY,
    clinic_id     TEXT NOT NULL,
    statement_id  TEXT NOT NULL,
    version       INTEGER NOT NULL,
    digest        TEXT,
    encounter_row BIGINT NOT NULL REFERENCES encounters (id),
    message_id    BIGINT NOT NULL REFERENCES messages (id),
    status        TEXT NOT NULL,
    statement     TEXT NOT NULL,
    outbox_id     BIGINT,
    created_at    REAL NOT NULL,
    updated_at    REAL,
    UNIQUE (clinic_id, statement_id, version)
);
INSERT INTO statements_v5 (id, clinic_id, statement_id, version, encounter_row, message_id, status, statement,
                           outbox_id, created_at, updated_at)
SELECT id, clinic_id, statement_id, 1, encounter_row, message_id, CASE status WHEN 'claimed' THEN 'created'
       ELSE status END, statement, outbox_id, created_at, COALESCE(updated_at, created_at)
FROM statements;
DROP TABLE statements;
ALTER TABLE statements_v5 RENAME TO statements;
CREATE INDEX statements_status ON statements (clinic_id, status);
CREATE INDEX statements_outbox ON statements (outbox_id);
CREATE INDEX statements_message ON statements (message_id)
"""

_SUBMISSIONS_POSTGRESQL = """
ALTER TABLE claims ADD COLUMN payer_seq INTEGER NOT NULL DEFAULT 1;
ALTER TABLE claims ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE claims ADD COLUMN frequency_code TEXT NOT NULL DEFAULT '1';
ALTER TABLE claims ADD COLUMN original_reference TEXT;
ALTER TABLE claims ADD COLUMN payer_claim_id TEXT;
ALTER TABLE claims ADD COLUMN digest TEXT;
UPDATE claims SET payer_seq = COALESCE((claim::jsonb -> 'coverage' ->> 'order')::int, 1),
                  status = CASE status WHEN 'claimed' THEN 'created' ELSE status END;
ALTER TABLE claims DROP CONSTRAINT claims_clinic_id_clm01_key;
ALTER TABLE claims ADD CONSTRAINT claims_submission UNIQUE (clinic_id, clm01, payer_seq, version);
ALTER TABLE statements ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE statements ADD COLUMN digest TEXT;
UPDATE statements SET status = CASE status WHEN 'claimed' THEN 'created' ELSE status END,
                      updated_at = COALESCE(updated_at, created_at);
ALTER TABLE statements DROP CONSTRAINT statements_clinic_id_statement_id_key;
ALTER TABLE statements ADD CONSTRAINT statements_submission UNIQUE (clinic_id, statement_id, version)
"""

# Both dialects: the events (a claim's timeline), rows waiting for the batcher,
# and a 'created' event for every row that existed before.
_EVENTS = """
CREATE INDEX claims_waiting ON claims (id) WHERE status = 'created';
CREATE INDEX statements_waiting ON statements (id) WHERE status = 'created';
CREATE TABLE claim_events (
    id         {pk},
    claim_row  BIGINT NOT NULL REFERENCES claims (id),
    at         {real} NOT NULL,
    kind       TEXT NOT NULL,
    status     TEXT,
    source     TEXT,
    actor      TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT '{{}}'
);
CREATE INDEX claim_events_row ON claim_events (claim_row);
CREATE TABLE statement_events (
    id             {pk},
    statement_row  BIGINT NOT NULL REFERENCES statements (id),
    at             {real} NOT NULL,
    kind           TEXT NOT NULL,
    status         TEXT,
    source         TEXT,
    actor          TEXT NOT NULL,
    detail         TEXT NOT NULL DEFAULT '{{}}'
);
CREATE INDEX statement_events_row ON statement_events (statement_row);
INSERT INTO claim_events (claim_row, at, kind, status, source, actor, detail)
SELECT id, created_at, 'created', status, 'message:' || message_id, 'migration-5', '{{}}' FROM claims;
INSERT INTO statement_events (statement_row, at, kind, status, source, actor, detail)
SELECT id, created_at, 'created', status, 'message:' || message_id, 'migration-5', '{{}}' FROM statements
"""

# Lanes: work of a one-shot run (``gateway process --out DIR``) carries the
# lane ``oneshot:<DIR>``; the daemon's workers, batcher and dispatcher take
# only lane-less work, a one-shot run only its own.
_LANES = """
ALTER TABLE messages ADD COLUMN lane TEXT;
ALTER TABLE claims ADD COLUMN lane TEXT;
ALTER TABLE statements ADD COLUMN lane TEXT;
ALTER TABLE outbox ADD COLUMN lane TEXT
"""

# Encryption at rest (gateway/store/codec.py): the keys that sealed rows, each
# with a check value sealed under it (a wrong key is refused before anything is
# written); ``retired_at`` once `gateway store rotate-key` left no row under it.
_STORE_KEYS = """
CREATE TABLE store_keys (
    key_id      TEXT PRIMARY KEY,
    check_value {blob} NOT NULL,
    created_at  {real} NOT NULL,
    retired_at  {real}
)
"""

# The closed loop (issue 13): each claim's X12 control numbers (to match a
# 999/TA1), answers (TA1/999/277CA), 835 remits with their claims and PLB,
# and the ledger. No patient data: ids, codes, amounts, dates.
_CLOSED_LOOP = """
ALTER TABLE claims ADD COLUMN x12_interchange TEXT;
ALTER TABLE claims ADD COLUMN x12_group TEXT;
ALTER TABLE claims ADD COLUMN x12_transaction TEXT;
ALTER TABLE claims ADD COLUMN x12_partner TEXT;
CREATE INDEX claims_x12_group ON claims (x12_group, x12_transaction);
CREATE INDEX claims_x12_interchange ON claims (x12_interchange);
CREATE INDEX claims_clm01 ON claims (clm01);
CREATE TABLE acks (
    id          {pk},
    message_id  BIGINT NOT NULL REFERENCES messages (id),
    doc_index   INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    clinic_id   TEXT,
    reference   TEXT NOT NULL,
    status      TEXT NOT NULL,
    accepted    INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    claims      INTEGER NOT NULL DEFAULT 0,
    segment     INTEGER,
    detail      TEXT NOT NULL DEFAULT '{{}}',
    created_at  {real} NOT NULL,
    UNIQUE (message_id, doc_index)
);
CREATE INDEX acks_clinic ON acks (clinic_id, created_at);
CREATE INDEX acks_hash ON acks (content_hash) WHERE status = 'posted';
CREATE TABLE remits (
    id            {pk},
    message_id    BIGINT NOT NULL REFERENCES messages (id),
    doc_index     INTEGER NOT NULL,
    clinic_id     TEXT,
    status        TEXT NOT NULL,
    payer_id      TEXT,
    payer_name    TEXT,
    payee_npi     TEXT,
    trace_number  TEXT,
    originator    TEXT,
    amount        TEXT,
    method        TEXT,
    payment_date  TEXT,
    content_hash  TEXT NOT NULL,
    duplicate_of  BIGINT,
    claims        INTEGER NOT NULL DEFAULT 0,
    unmatched     INTEGER NOT NULL DEFAULT 0,
    segment       INTEGER,
    findings      TEXT NOT NULL DEFAULT '[]',
    created_at    {real} NOT NULL,
    UNIQUE (message_id, doc_index)
);
CREATE INDEX remits_hash ON remits (content_hash) WHERE status = 'posted';
CREATE INDEX remits_trace ON remits (payer_id, trace_number) WHERE status = 'posted';
CREATE INDEX remits_clinic ON remits (clinic_id, created_at);
CREATE TABLE remit_claims (
    id                      {pk},
    remit_id                BIGINT NOT NULL REFERENCES remits (id),
    seq                     INTEGER NOT NULL,
    clinic_id               TEXT,
    clm01                   TEXT NOT NULL,
    claim_row               BIGINT REFERENCES claims (id),
    outcome                 TEXT NOT NULL,
    status_code             TEXT NOT NULL,
    charge                  TEXT NOT NULL,
    paid                    TEXT NOT NULL,
    patient_responsibility  TEXT,
    payer_claim_id          TEXT,
    adjustments             TEXT NOT NULL DEFAULT '[]',
    segment                 INTEGER
);
CREATE INDEX remit_claims_remit ON remit_claims (remit_id, seq);
CREATE INDEX remit_claims_claim ON remit_claims (clinic_id, clm01);
CREATE TABLE remit_plb (
    id             {pk},
    remit_id       BIGINT NOT NULL REFERENCES remits (id),
    provider_id    TEXT NOT NULL,
    reason         TEXT NOT NULL,
    reference      TEXT,
    amount         TEXT NOT NULL,
    fiscal_period  TEXT,
    segment        INTEGER
);
CREATE INDEX remit_plb_remit ON remit_plb (remit_id);
CREATE TABLE ledger (
    id          {pk},
    clinic_id   TEXT NOT NULL,
    clm01       TEXT NOT NULL,
    payer_seq   INTEGER NOT NULL,
    claim_row   BIGINT NOT NULL REFERENCES claims (id),
    line        INTEGER,
    kind        TEXT NOT NULL,
    group_code  TEXT,
    reason      TEXT,
    amount      TEXT NOT NULL,
    remit_id    BIGINT,
    source      TEXT,
    actor       TEXT NOT NULL,
    note        TEXT,
    at          {real} NOT NULL
);
CREATE INDEX ledger_claim ON ledger (clinic_id, clm01, payer_seq);
CREATE TABLE claim_balances (
    clinic_id         TEXT NOT NULL,
    clm01             TEXT NOT NULL,
    payer_seq         INTEGER NOT NULL,
    claim_row         BIGINT NOT NULL,
    charge            TEXT NOT NULL,
    paid              TEXT NOT NULL,
    balance           TEXT NOT NULL,
    last_response_at  {real},
    updated_at        {real} NOT NULL,
    PRIMARY KEY (clinic_id, clm01, payer_seq)
)
"""

# issue 14: a next payer's submission (secondary, tertiary) waits in ``waiting``
# until the batcher releases it; the batcher looks for them on every tick
_NEXT_PAYER = """
CREATE INDEX claims_next_payer ON claims (id) WHERE status = 'waiting'
"""

# The patient side (issue 14): each guarantor account's ledger
# (gateway/store/accounts.py) and the account each claim is owed on. No
# patient data: clinic, account number, claim and statement ids, amounts.
_ACCOUNTS = """
ALTER TABLE claims ADD COLUMN account TEXT;
CREATE INDEX claims_account ON claims (clinic_id, account);
CREATE TABLE account_ledger (
    id            {pk},
    clinic_id     TEXT NOT NULL,
    account       TEXT NOT NULL,
    clm01         TEXT,
    statement_id  TEXT,
    line          INTEGER,
    kind          TEXT NOT NULL,
    amount        TEXT NOT NULL,
    reference     TEXT,
    method        TEXT,
    source        TEXT,
    actor         TEXT NOT NULL,
    note          TEXT,
    on_date       TEXT NOT NULL,
    billed_on     TEXT,
    billed_by     TEXT,
    at            {real} NOT NULL
);
CREATE INDEX account_ledger_account ON account_ledger (clinic_id, account);
CREATE INDEX account_ledger_claim ON account_ledger (clinic_id, clm01);
CREATE INDEX account_ledger_statement ON account_ledger (clinic_id, statement_id);
CREATE INDEX account_ledger_reference ON account_ledger (clinic_id, reference)
"""

# Statement cycles (issue 14, gateway/store/sql_cycles.py): what each guarantor
# account was sent and when (first-billed dates are the account ledger's
# billed_on), runs per clinic and date. Ids, dates, amounts and digests only.
_STATEMENT_CYCLES = """
CREATE TABLE statement_cycles (
    id             {pk},
    clinic_id      TEXT NOT NULL,
    account        TEXT NOT NULL,
    statement_id   TEXT NOT NULL,
    run_date       TEXT NOT NULL,
    notice         TEXT NOT NULL,
    dunning_level  INTEGER NOT NULL DEFAULT 0,
    total_due      TEXT NOT NULL,
    content_hash   TEXT NOT NULL,
    reason         TEXT NOT NULL,
    outbox_id      BIGINT,
    actor          TEXT NOT NULL,
    created_at     {real} NOT NULL,
    UNIQUE (clinic_id, account, run_date)
);
CREATE INDEX statement_cycles_notice ON statement_cycles (clinic_id, notice, run_date);
CREATE TABLE statement_runs (
    clinic_id    TEXT NOT NULL,
    run_date     TEXT NOT NULL,
    status       TEXT NOT NULL,
    owner        TEXT NOT NULL,
    started_at   {real} NOT NULL,
    finished_at  {real},
    summary      TEXT NOT NULL DEFAULT '{{}}',
    PRIMARY KEY (clinic_id, run_date)
)
"""

# The raw bytes in a table of their own: claiming a message, renewing its lease
# and setting its status rewrite the ``messages`` row, which carried its raw
# bytes (SQLite rewrites a whole row, overflow pages included: about 5x a 1 MB
# message in memory per claim). Pruned messages (``raw_pruned_at`` set) have
# no row here. Rows are moved before the column is dropped.
_MESSAGE_RAW = """
CREATE TABLE message_raw (
    message_id  {id} PRIMARY KEY REFERENCES messages (id),
    raw         {blob} NOT NULL
);
INSERT INTO message_raw (message_id, raw) SELECT id, raw FROM messages WHERE raw_pruned_at IS NULL;
ALTER TABLE messages DROP COLUMN raw
"""

# What a worker's renderer worked out for a claim alone (the 837's 2000A/2000B/
# 2000C blocks and 2300 loop, JSON: gateway.delivery.batcher.ClaimPlacer), so
# the batcher does not read and render each claim again. NULL for claims stored
# before (and for claims whose JSON changed since): rendered from the claim.
#
# A message's status follows the statuses of its claims and encounters
# (_settle_messages, at every cut and delivery): with (message_id, status)
# indexes that is read from the indexes alone, not from each row of a file of
# 2,000 encounters (claims_message, on message_id alone, is widened).
_CLAIMS_RENDERED = """
ALTER TABLE claims ADD COLUMN rendered TEXT;
DROP INDEX claims_message;
CREATE INDEX claims_message ON claims (message_id, status);
CREATE INDEX encounters_message_status ON encounters (message_id, status)
"""

MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "initial: messages, encounters, claims, statements, records, audit",
        {
            "sqlite": _INITIAL_COMMON.format(pk="INTEGER PRIMARY KEY", blob="BLOB", real="REAL"),
            "postgresql": _INITIAL_COMMON.format(pk="BIGSERIAL PRIMARY KEY", blob="BYTEA", real="DOUBLE PRECISION"),
        },
    ),
    Migration(
        2,
        "delivery: outbox (documents stored before delivery, attempts, dead letters); claims/statements -> outbox",
        {
            "sqlite": _OUTBOX_COMMON.format(pk="INTEGER PRIMARY KEY", blob="BLOB", real="REAL"),
            "postgresql": _OUTBOX_COMMON.format(pk="BIGSERIAL PRIMARY KEY", blob="BYTEA", real="DOUBLE PRECISION"),
        },
    ),
    Migration(3, "scale-out: leases, control numbers in the store, raw-bytes retention", portable(_SCALE_OUT)),
    Migration(4, "delivery: claims and statements by message (message status updates)", portable(_BY_MESSAGE)),
    Migration(
        5,
        "claim identity: submissions keyed by clinic + CLM01 + payer place + version, statuses, events",
        {
            d: {"sqlite": _SUBMISSIONS_SQLITE, "postgresql": _SUBMISSIONS_POSTGRESQL}[d] + ";\n" + events
            for d, events in portable(_EVENTS).items()
        },
    ),
    Migration(6, "lanes: one-shot runs and the daemon share the store, each takes only its own work", portable(_LANES)),
    Migration(
        7, "closed loop: X12 control numbers per claim, acks, remits, remit claims, PLB, ledger", portable(_CLOSED_LOOP)
    ),
    Migration(8, "secondary claims: next payers' submissions waiting for release (index)", portable(_NEXT_PAYER)),
    Migration(9, "guarantor accounts: account_ledger, the account of each claim", portable(_ACCOUNTS)),
    # 10-14: the operator console (gateway/store/console_sql.py)
    Migration(
        10,
        "rule index: message_rules (message and encounter findings by rule id), kept by triggers",
        {"sqlite": console_sql.SQLITE_RULES, "postgresql": console_sql.POSTGRES_RULES},
    ),
    Migration(11, "console: users, sessions, API tokens, settings", portable(console_sql.CONSOLE)),
    Migration(12, "audit: client address, clinic, index on time", portable(console_sql.AUDIT_WHERE)),
    Migration(
        13,
        "alerting: last_received per clinic and source (kept by a trigger); messages by clinic and id",
        {"sqlite": console_sql.SQLITE_LAST, "postgresql": console_sql.POSTGRES_LAST},
    ),
    Migration(
        15,
        "statement cycles: statements, final notices and collections per account and run date; runs",
        portable(_STATEMENT_CYCLES),
    ),
    # 20-24: encryption at rest
    Migration(20, "encryption at rest: store_keys (key ids in use, a check value per key)", portable(_STORE_KEYS)),
    Migration(
        21,
        "raw bytes in their own table (message_raw): claims, leases and statuses no longer rewrite them",
        {
            "sqlite": _MESSAGE_RAW.format(id="INTEGER", blob="BLOB"),
            "postgresql": _MESSAGE_RAW.format(id="BIGINT", blob="BYTEA"),
        },
    ),
    Migration(
        22,
        "claims.rendered: a claim's 837 blocks from its worker; (message_id, status) indexes",
        portable(_CLAIMS_RENDERED),
    ),
]

VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT)"
)


def pending(applied: set[int]) -> list[Migration]:
    """Migrations not yet applied, in order."""
    return [m for m in MIGRATIONS if m.version not in applied]


def statements(sql: str) -> list[str]:
    """Split a migration text into statements (no semicolons inside literals).

    A PostgreSQL function body (``$$ … $$``) and a SQLite trigger body
    (``BEGIN … END``) stay whole."""
    out, buf = [], ""
    for part in sql.split(";"):
        buf += part
        if buf.count("$$") % 2 or ("$$" not in buf and _open_block(buf)):
            buf += ";"
            continue
        if buf.strip():
            out.append(buf.strip())
        buf = ""
    return out


def _open_block(text: str) -> bool:
    """A SQLite ``CREATE TRIGGER … BEGIN`` whose ``END`` has not come yet."""
    return bool(re.search(r"\bBEGIN\b", text, re.I)) and not re.search(r"\bEND\s*$", text, re.I)


def latest() -> int:
    return MIGRATIONS[-1].version
