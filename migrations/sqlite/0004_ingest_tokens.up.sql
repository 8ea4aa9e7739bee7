-- Ingest tokens: a token of role ingest lets an OTLP sender submit
-- telemetry, and its name becomes the submitter of the entries it writes;
-- it allows nothing of the query API. SQLite cannot change a CHECK
-- constraint, so the table is rebuilt with its index and triggers, those of
-- 0002 and 0003 (DROP TABLE fires no DELETE trigger).
CREATE TABLE tokens_v4 (
	hash       BLOB    PRIMARY KEY CHECK (length(hash) = 32),
	name       TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
	role       TEXT    NOT NULL CHECK (role IN ('auditor', 'responder', 'admin', 'ingest')),
	created_at INTEGER NOT NULL,
	revoked_at INTEGER
) STRICT;

INSERT INTO tokens_v4 (hash, name, role, created_at, revoked_at)
	SELECT hash, name, role, created_at, revoked_at FROM tokens;

DROP TABLE tokens;

ALTER TABLE tokens_v4 RENAME TO tokens;

CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked_at IS NULL;

CREATE TRIGGER tokens_no_delete BEFORE DELETE ON tokens
BEGIN
	SELECT RAISE(ABORT, 'agentledger: tokens are revoked, never deleted');
END;

CREATE TRIGGER tokens_only_revoke BEFORE UPDATE ON tokens
WHEN OLD.revoked_at IS NOT NULL OR NEW.revoked_at IS NULL
	OR NEW.hash IS NOT OLD.hash OR NEW.name IS NOT OLD.name
	OR NEW.role IS NOT OLD.role OR NEW.created_at IS NOT OLD.created_at
BEGIN
	SELECT RAISE(ABORT, 'agentledger: a token can only be revoked, once');
END;

CREATE TRIGGER tokens_no_replace BEFORE INSERT ON tokens
WHEN EXISTS (SELECT 1 FROM tokens WHERE hash = NEW.hash)
	OR (NEW.revoked_at IS NULL AND EXISTS (SELECT 1 FROM tokens WHERE name = NEW.name AND revoked_at IS NULL))
BEGIN
	SELECT RAISE(ABORT, 'agentledger: conflict: the token, or an active token of this name, exists');
END;
