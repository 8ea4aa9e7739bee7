-- agentledger schema, version 6: one log, one key.
--
-- log_keys records the log's origin and the verifier key that signs its
-- checkpoints: seq 0 is the key the first writer started with; each later
-- row is a key rotation, whose signed statement (by the old key and the
-- new) is an entry of the log itself (see ledger/FORMAT.md). Every writer
-- compares its signer with the latest row when it starts and refuses a
-- different one. The table is append-only, rows are numbered without a gap
-- and keep the first row's origin, and a checkpoint is stored only if its
-- first line is the log's origin. As with every SQLite trigger, this stops
-- accidents, not whoever can write the file.
CREATE TABLE log_keys (
	seq          INTEGER PRIMARY KEY CHECK (seq >= 0),
	origin       TEXT    NOT NULL CHECK (origin <> ''),
	verifier_key TEXT    NOT NULL UNIQUE,
	key_hash     BLOB    NOT NULL CHECK (length(key_hash) = 4),
	created_at   INTEGER NOT NULL
) STRICT;

CREATE TRIGGER log_keys_no_update BEFORE UPDATE ON log_keys
BEGIN
	SELECT RAISE(ABORT, 'agentledger: log_keys is append-only');
END;

CREATE TRIGGER log_keys_no_delete BEFORE DELETE ON log_keys
BEGIN
	SELECT RAISE(ABORT, 'agentledger: log_keys is append-only');
END;

CREATE TRIGGER log_keys_follow BEFORE INSERT ON log_keys
WHEN NEW.seq <> coalesce((SELECT max(seq) + 1 FROM log_keys), 0)
	OR NEW.origin <> coalesce((SELECT origin FROM log_keys WHERE seq = 0), NEW.origin)
	OR substr(NEW.verifier_key, 1, length(NEW.origin) + 1) <> NEW.origin || '+'
BEGIN
	SELECT RAISE(ABORT, 'agentledger: a log key follows the last one, for the same log');
END;

CREATE TRIGGER checkpoints_keyed BEFORE INSERT ON checkpoints
WHEN EXISTS (SELECT 1 FROM log_keys)
	AND substr(CAST(NEW.note AS TEXT), 1, length((SELECT origin FROM log_keys WHERE seq = 0)) + 1)
		<> (SELECT origin FROM log_keys WHERE seq = 0) || char(10)
BEGIN
	SELECT RAISE(ABORT, 'agentledger: checkpoint is not for this log');
END;
