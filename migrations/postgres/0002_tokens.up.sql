-- agentledger schema, version 2: bearer tokens of the query server.
--
-- Only SHA-256(token) is stored; the token is shown once when created. A
-- token is never deleted: revoking it sets revoked_at, and that is the only
-- change a row accepts. A name is unique among active tokens, so a revoked
-- name can be reused.
CREATE TABLE tokens (
    hash       bytea       PRIMARY KEY CHECK (octet_length(hash) = 32),
    name       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    role       text        NOT NULL CHECK (role IN ('auditor', 'responder', 'admin')),
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);

CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked_at IS NULL;

CREATE FUNCTION agentledger_token_revoke_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.revoked_at IS NOT NULL OR NEW.revoked_at IS NULL
        OR NEW.hash IS DISTINCT FROM OLD.hash OR NEW.name IS DISTINCT FROM OLD.name
        OR NEW.role IS DISTINCT FROM OLD.role OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'agentledger: a token can only be revoked, once'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER tokens_revoke_only BEFORE UPDATE ON tokens
    FOR EACH ROW EXECUTE FUNCTION agentledger_token_revoke_only();

CREATE TRIGGER tokens_no_delete BEFORE DELETE ON tokens
    FOR EACH ROW EXECUTE FUNCTION agentledger_append_only();

CREATE TRIGGER tokens_no_truncate BEFORE TRUNCATE ON tokens
    FOR EACH STATEMENT EXECUTE FUNCTION agentledger_append_only();

GRANT SELECT, INSERT ON tokens TO agentledger_writer;
GRANT UPDATE (revoked_at) ON tokens TO agentledger_writer;
