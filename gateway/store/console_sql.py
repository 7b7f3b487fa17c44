"""Schema of the operator console and the rule index (migrations 10–12).

Kept apart from :mod:`gateway.store.migrations` so the texts are read
together; that module lists them as migrations like every other.

* ``message_rules`` (10) — every finding's rule id of a message (``idx``
  -1) and of each stored encounter, kept by triggers on ``messages`` and
  ``encounters`` whatever code writes findings. It makes "quarantined by rule"
  an index lookup instead of a JSON scan of every message.
* console users, sessions, API tokens and a small ``settings`` table (11):
  the config generation (reload) and the audit retention live there.
* the audit trail gains where a request came from and the clinic it
  concerned (12), and an index on time for review and retention.
* ``last_received`` (13) — the newest message per clinic and source type,
  kept by a trigger on ``messages`` (the alerting metric, without scanning
  every message per scrape), and indexes for a clinic's newest messages and
  for its charts (received per hour or day, index-only).
"""

from __future__ import annotations

_RULES_TABLE = """
CREATE TABLE message_rules (
    message_id  BIGINT NOT NULL,
    idx         INTEGER NOT NULL,
    rule        TEXT NOT NULL,
    severity    TEXT NOT NULL
);
CREATE INDEX message_rules_rule ON message_rules (rule, severity, message_id);
CREATE INDEX message_rules_message ON message_rules (message_id, idx);
"""

#: the findings of ``{src}`` (a JSON array) as (rule, severity) rows: SQLite
_SQLITE_ROWS = (
    "SELECT {mid}, {idx}, json_extract(f.value, '$.rule'), COALESCE(json_extract(f.value, '$.severity'), '') "
    "FROM json_each({src}) f WHERE json_type(f.value) = 'object' AND json_extract(f.value, '$.rule') IS NOT NULL"
)


def _sqlite_rows(mid: str, idx: str, src: str) -> str:
    return _SQLITE_ROWS.format(mid=mid, idx=idx, src=src)


_BACKFILL_MESSAGES = _sqlite_rows("m.id", "-1", "m.findings").replace("FROM json_each", "FROM messages m, json_each")
_BACKFILL_ENCOUNTERS = _sqlite_rows("e.message_id", "e.idx", "e.findings").replace(
    "FROM json_each", "FROM encounters e, json_each"
)

_ENCOUNTER_ROWS = _sqlite_rows("NEW.message_id", "NEW.idx", "NEW.findings")

SQLITE_RULES = (
    _RULES_TABLE
    + f"""
INSERT INTO message_rules (message_id, idx, rule, severity) {_BACKFILL_MESSAGES};
INSERT INTO message_rules (message_id, idx, rule, severity) {_BACKFILL_ENCOUNTERS};
CREATE TRIGGER message_rules_msg_ins AFTER INSERT ON messages BEGIN
    INSERT INTO message_rules (message_id, idx, rule, severity) {_sqlite_rows("NEW.id", "-1", "NEW.findings")};
END;
CREATE TRIGGER message_rules_msg_upd AFTER UPDATE OF findings ON messages BEGIN
    DELETE FROM message_rules WHERE message_id = NEW.id AND idx = -1;
    INSERT INTO message_rules (message_id, idx, rule, severity) {_sqlite_rows("NEW.id", "-1", "NEW.findings")};
END;
CREATE TRIGGER message_rules_enc_ins AFTER INSERT ON encounters BEGIN
    INSERT INTO message_rules (message_id, idx, rule, severity) {_ENCOUNTER_ROWS};
END;
CREATE TRIGGER message_rules_enc_upd AFTER UPDATE OF findings ON encounters BEGIN
    DELETE FROM message_rules WHERE message_id = NEW.message_id AND idx = NEW.idx;
    INSERT INTO message_rules (message_id, idx, rule, severity) {_ENCOUNTER_ROWS};
END;
CREATE TRIGGER message_rules_enc_del AFTER DELETE ON encounters BEGIN
    DELETE FROM message_rules WHERE message_id = OLD.message_id AND idx = OLD.idx;
END
"""
)

_PG_ARRAY = (
    "jsonb_array_elements(CASE WHEN jsonb_typeof({src}::jsonb) = 'array' THEN {src}::jsonb ELSE '[]'::jsonb END)"
)


def _pg_rows(mid: str, idx: str, src: str) -> str:
    return (
        f"SELECT {mid}, {idx}, f->>'rule', COALESCE(f->>'severity', '') FROM {_PG_ARRAY.format(src=src)} f "
        "WHERE jsonb_typeof(f) = 'object' AND f->>'rule' IS NOT NULL"
    )


POSTGRES_RULES = (
    _RULES_TABLE
    + f"""
INSERT INTO message_rules (message_id, idx, rule, severity)
    SELECT r.* FROM messages m, LATERAL ({_pg_rows("m.id", "-1", "m.findings")}) r;
INSERT INTO message_rules (message_id, idx, rule, severity)
    SELECT r.* FROM encounters e, LATERAL ({_pg_rows("e.message_id", "e.idx", "e.findings")}) r;
CREATE FUNCTION gateway_rules_of_message() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM message_rules WHERE message_id = NEW.id AND idx = -1;
    END IF;
    INSERT INTO message_rules (message_id, idx, rule, severity) {_pg_rows("NEW.id", "-1", "NEW.findings")};
    RETURN NULL;
END $$;
CREATE FUNCTION gateway_rules_of_encounter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM message_rules WHERE message_id = OLD.message_id AND idx = OLD.idx;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO message_rules (message_id, idx, rule, severity)
            {_pg_rows("NEW.message_id", "NEW.idx", "NEW.findings")};
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER message_rules_msg AFTER INSERT OR UPDATE OF findings ON messages
    FOR EACH ROW EXECUTE FUNCTION gateway_rules_of_message();
CREATE TRIGGER message_rules_enc AFTER INSERT OR UPDATE OF findings OR DELETE ON encounters
    FOR EACH ROW EXECUTE FUNCTION gateway_rules_of_encounter()
"""
)

CONSOLE = """
CREATE TABLE console_users (
    id              {pk},
    username        TEXT NOT NULL UNIQUE,
    password_hash   TEXT NOT NULL,
    role            TEXT NOT NULL,
    clinics         TEXT NOT NULL DEFAULT '[]',
    disabled        INTEGER NOT NULL DEFAULT 0,
    failed_logins   INTEGER NOT NULL DEFAULT 0,
    locked_until    {real},
    created_at      {real} NOT NULL,
    updated_at      {real} NOT NULL,
    last_login_at   {real}
);
CREATE TABLE console_sessions (
    id_hash     TEXT PRIMARY KEY,
    user_id     BIGINT NOT NULL,
    csrf        TEXT NOT NULL,
    created_at  {real} NOT NULL,
    last_seen   {real} NOT NULL,
    ip          TEXT
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);
CREATE TABLE api_tokens (
    id            {pk},
    prefix        TEXT NOT NULL UNIQUE,
    secret_hash   TEXT NOT NULL,
    name          TEXT NOT NULL,
    scope         TEXT NOT NULL,
    clinic_id     TEXT,
    created_by    TEXT NOT NULL,
    created_at    {real} NOT NULL,
    expires_at    {real},
    revoked_at    {real},
    last_used_at  {real}
);
CREATE TABLE settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  {real} NOT NULL
)
"""

AUDIT_WHERE = """
ALTER TABLE audit ADD COLUMN ip TEXT;
ALTER TABLE audit ADD COLUMN clinic_id TEXT;
CREATE INDEX audit_at ON audit (at)
"""

_SQLITE_KIND = "CASE WHEN instr({s}, ':') > 0 THEN substr({s}, 1, instr({s}, ':') - 1) ELSE {s} END"

_LAST_TABLE = """
CREATE TABLE last_received (
    clinic_id   TEXT NOT NULL,
    source      TEXT NOT NULL,
    at          {real} NOT NULL,
    PRIMARY KEY (clinic_id, source)
);
CREATE INDEX messages_clinic_id ON messages (clinic_id, id);
CREATE INDEX messages_clinic_received ON messages (clinic_id, received_at, status);
"""

SQLITE_LAST = (
    _LAST_TABLE.replace("{real}", "REAL")
    + f"""
INSERT INTO last_received (clinic_id, source, at)
    SELECT COALESCE(clinic_id, ''), {_SQLITE_KIND.format(s="source")}, MAX(received_at) FROM messages GROUP BY 1, 2;
CREATE TRIGGER last_received_ins AFTER INSERT ON messages BEGIN
    INSERT INTO last_received (clinic_id, source, at)
        VALUES (COALESCE(NEW.clinic_id, ''), {_SQLITE_KIND.format(s="NEW.source")}, NEW.received_at)
        ON CONFLICT (clinic_id, source) DO UPDATE SET at = MAX(at, excluded.at);
END
"""
)

POSTGRES_LAST = (
    _LAST_TABLE.replace("{real}", "DOUBLE PRECISION")
    + """
INSERT INTO last_received (clinic_id, source, at)
    SELECT COALESCE(clinic_id, ''), split_part(source, ':', 1), MAX(received_at) FROM messages GROUP BY 1, 2;
CREATE FUNCTION gateway_last_received() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO last_received (clinic_id, source, at)
        VALUES (COALESCE(NEW.clinic_id, ''), split_part(NEW.source, ':', 1), NEW.received_at)
        ON CONFLICT (clinic_id, source) DO UPDATE SET at = GREATEST(last_received.at, excluded.at);
    RETURN NULL;
END $$;
CREATE TRIGGER last_received_ins AFTER INSERT ON messages FOR EACH ROW EXECUTE FUNCTION gateway_last_received()
"""
)
