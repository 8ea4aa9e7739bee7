-- Witness cosignatures (C2SP tlog-witness, tlog-cosignature). One row per
-- checkpoint and witness key: the signature line the witness returned
-- ("— <name> <base64>"), checked against the checkpoint before it is
-- stored. Append-only, like checkpoints. received_at is unix nanoseconds.
CREATE TABLE cosignatures (
	size        INTEGER NOT NULL REFERENCES checkpoints (size),
	witness     TEXT    NOT NULL CHECK (length(witness) BETWEEN 1 AND 256),
	line        TEXT    NOT NULL CHECK (length(line) BETWEEN 1 AND 1024),
	received_at INTEGER NOT NULL,
	PRIMARY KEY (size, witness)
) STRICT;

CREATE TRIGGER cosignatures_no_update BEFORE UPDATE ON cosignatures
BEGIN
	SELECT RAISE(ABORT, 'agentledger: cosignatures is append-only');
END;

CREATE TRIGGER cosignatures_no_delete BEFORE DELETE ON cosignatures
BEGIN
	SELECT RAISE(ABORT, 'agentledger: cosignatures is append-only');
END;
