-- Bearer tokens of the query server. Only SHA-256(token) is stored; the
-- token is shown once when created. A token is never deleted: revoking it
-- sets revoked_at, and that is the only change a row accepts. A name is
-- unique among active tokens, so a revoked name can be reused.
--
-- Times are unix nanoseconds.
CREATE TABLE tokens (
	hash       BLOB    PRIMARY KEY CHECK (length(hash) = 32),
	name       TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
	role       TEXT    NOT NULL CHECK (role IN ('auditor', 'responder', 'admin')),
	created_at INTEGER NOT NULL,
	revoked_at INTEGER
) STRICT;

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
