-- agentledger schema, version 6: one log, one key.
--
-- log_keys records the log's origin and the verifier key that signs its
-- checkpoints: seq 0 is the key the first writer started with; each later
-- row is a key rotation, whose signed statement (by the old key and the
-- new) is an entry of the log itself (see ledger/FORMAT.md). Every writer
-- compares its signer with the latest row when it starts and refuses a
-- different one; the table is append-only, rows are numbered without a gap
-- and keep the first row's origin, and a checkpoint is stored only if its
-- origin is the log's and it carries a signature by the latest key's name
-- and key hash (the signature itself is checked by verify and audit).
CREATE TABLE log_keys (
    seq          integer     PRIMARY KEY CHECK (seq >= 0),
    origin       text        NOT NULL CHECK (origin <> ''),
    verifier_key text        NOT NULL UNIQUE,
    key_hash     bytea       NOT NULL CHECK (octet_length(key_hash) = 4),
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER log_keys_append_only BEFORE UPDATE OR DELETE ON log_keys
    FOR EACH ROW EXECUTE FUNCTION agentledger_append_only();
CREATE TRIGGER log_keys_no_truncate BEFORE TRUNCATE ON log_keys
    FOR EACH STATEMENT EXECUTE FUNCTION agentledger_append_only();

CREATE FUNCTION agentledger_log_keys_follow() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    last record;
BEGIN
    -- One writer at a time adds a key: the row lock on the tree head.
    PERFORM 1 FROM tree_head WHERE id = 1 FOR UPDATE;
    SELECT seq, origin INTO last FROM log_keys ORDER BY seq DESC LIMIT 1;
    IF last IS NULL THEN
        IF NEW.seq <> 0 THEN
            RAISE EXCEPTION 'agentledger: the first log key is number 0, not %', NEW.seq
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    ELSIF NEW.seq <> last.seq + 1 OR NEW.origin <> last.origin THEN
        RAISE EXCEPTION 'agentledger: log key % for % does not follow key % for %', NEW.seq, NEW.origin, last.seq, last.origin
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF split_part(NEW.verifier_key, '+', 1) <> NEW.origin THEN
        RAISE EXCEPTION 'agentledger: verifier key % is not named for log %', NEW.verifier_key, NEW.origin
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER log_keys_follow BEFORE INSERT ON log_keys
    FOR EACH ROW EXECUTE FUNCTION agentledger_log_keys_follow();

-- A checkpoint is the log's and is signed by its current key. A note
-- signature line is "— <key name> <base64(key hash ‖ signature)>".
CREATE FUNCTION agentledger_checkpoint_keyed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    k    record;
    body text := convert_from(NEW.note, 'UTF8');
    m    text[];
BEGIN
    SELECT origin, key_hash INTO k FROM log_keys ORDER BY seq DESC LIMIT 1;
    IF k IS NULL THEN
        RETURN NEW;
    END IF;
    IF split_part(body, E'\n', 1) <> k.origin THEN
        RAISE EXCEPTION 'agentledger: checkpoint % is not for log %', NEW.size, k.origin
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    FOR m IN SELECT regexp_matches(body, E'\n\u2014 ([^ \n]+) ([A-Za-z0-9+/=]+)\n', 'g') LOOP
        IF m[1] = k.origin AND substring(decode(m[2], 'base64') FROM 1 FOR 4) = k.key_hash THEN
            RETURN NEW;
        END IF;
    END LOOP;
    RAISE EXCEPTION 'agentledger: checkpoint % is not signed by the log''s current key', NEW.size
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER checkpoints_keyed BEFORE INSERT ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION agentledger_checkpoint_keyed();

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['agentledger_log_keys_follow', 'agentledger_checkpoint_keyed'] LOOP
        EXECUTE format('ALTER FUNCTION %I.%I() SET search_path = %I, pg_temp', current_schema(), f, current_schema());
    END LOOP;
END
$$;

GRANT SELECT, INSERT ON log_keys TO agentledger_writer;
GRANT SELECT ON log_keys TO agentledger_admin;
