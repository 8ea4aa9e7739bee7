-- agentledger schema, version 7: witness cosignatures (C2SP tlog-witness,
-- tlog-cosignature). One row per checkpoint and witness key: the signature
-- line the witness returned ("— <name> <base64>"), checked against the
-- checkpoint before it is stored. Append-only, like checkpoints: a
-- cosignature is evidence that a witness saw this tree, never rewritten.
CREATE TABLE cosignatures (
    size        bigint      NOT NULL REFERENCES checkpoints (size),
    witness     text        NOT NULL CHECK (length(witness) BETWEEN 1 AND 256),
    line        text        NOT NULL CHECK (length(line) BETWEEN 1 AND 1024),
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (size, witness)
);

CREATE TRIGGER cosignatures_append_only BEFORE UPDATE OR DELETE ON cosignatures
    FOR EACH ROW EXECUTE FUNCTION agentledger_append_only();
CREATE TRIGGER cosignatures_no_truncate BEFORE TRUNCATE ON cosignatures
    FOR EACH STATEMENT EXECUTE FUNCTION agentledger_append_only();

GRANT SELECT, INSERT ON cosignatures TO agentledger_writer;
