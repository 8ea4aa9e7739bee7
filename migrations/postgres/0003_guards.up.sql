-- agentledger schema, version 3: guards against a writer that goes around
-- the store, and a role of its own for tokens.
--
-- agentledger_writer may insert rows, so the database checks that each row
-- is one the store could have written: a row it could not have written
-- (an entry the tree head never counts, a tile or checkpoint ahead of the
-- head) would make every later append collide with it. The tree head
-- changes only consistently. The functions find the ledger's tables by a
-- search_path pinned to the schema they were created in, whatever the
-- caller's search_path; those that write append_checks, which no other role
-- may touch, run as its owner.

-- Tokens are written by agentledger_admin (agentledger token, and serve's
-- token API when serve holds it), no longer by agentledger_writer: an
-- ingest process that is compromised must not mint itself a token.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'agentledger_admin') THEN
        BEGIN
            CREATE ROLE agentledger_admin NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO agentledger_admin', current_schema());
END
$$;

GRANT SELECT ON schema_migrations TO agentledger_admin;
GRANT SELECT, INSERT ON tokens TO agentledger_admin;
GRANT UPDATE (revoked_at) ON tokens TO agentledger_admin;
REVOKE INSERT, UPDATE ON tokens FROM agentledger_writer;

-- Entries: a statement inserts entries numbered on from the tree head
-- without a gap, and at commit the head must count every one of them. The
-- commit check is a deferred constraint trigger, so that the store can
-- COPY the entries before it updates the head. It is one per statement,
-- not one per entry: the statement trigger leaves the statement's range of
-- indices in append_checks, whose deferred trigger checks its last index
-- at commit and deletes the row. SET CONSTRAINTS cannot skip the check,
-- only move it earlier, where it fails. Until the commit, the row is the
-- transaction's own record of the entries it appends.
CREATE TABLE append_checks (
    lo  bigint NOT NULL,
    idx bigint NOT NULL
);

CREATE FUNCTION agentledger_entries_follow_head() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    head bigint;
    lo   bigint;
    hi   bigint;
    n    bigint;
BEGIN
    SELECT min(idx), max(idx), count(*) INTO lo, hi, n FROM new_entries;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    SELECT size INTO head FROM tree_head WHERE id = 1;
    IF lo <> head OR hi - lo + 1 <> n THEN
        RAISE EXCEPTION 'agentledger: entries % to % do not follow the tree head of size %', lo, hi, head
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO append_checks (lo, idx) VALUES (lo, hi);
    RETURN NULL;
END
$$;

CREATE TRIGGER entries_follow_head AFTER INSERT ON entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION agentledger_entries_follow_head();

CREATE FUNCTION agentledger_entries_counted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF NEW.idx >= (SELECT size FROM tree_head WHERE id = 1) THEN
        RAISE EXCEPTION 'agentledger: entry % is not counted by the tree head: an entry is appended with the head that counts it', NEW.idx
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM append_checks;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER append_checks_counted AFTER INSERT ON append_checks
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION agentledger_entries_counted();

-- References and content are written with their entry, by the transaction
-- that appends it: within the range its append_checks row records.
CREATE FUNCTION agentledger_with_entry() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    low  bigint;
    high bigint;
BEGIN
    SELECT min(idx), max(idx) INTO low, high FROM new_rows;
    IF low IS NOT NULL AND NOT EXISTS (SELECT 1 FROM append_checks c WHERE c.lo <= low AND high <= c.idx) THEN
        RAISE EXCEPTION 'agentledger: % rows are written with their entry, by the transaction that appends it', TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER entry_refs_with_entry AFTER INSERT ON entry_refs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION agentledger_with_entry();

CREATE TRIGGER content_with_entry AFTER INSERT ON content
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION agentledger_with_entry();

-- A tile segment continues its tile and holds only hashes of complete
-- subtrees of the tree the head counts (the store updates the head first).
CREATE FUNCTION agentledger_tiles_covered() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    head bigint := (SELECT size FROM tree_head WHERE id = 1);
    n    record;
BEGIN
    -- A few rows a batch, each looked up by its tile's key.
    FOR n IN SELECT level, idx, start, octet_length(hashes) / 32 AS len FROM new_rows LOOP
        IF (n.idx::numeric * 256 + n.start + n.len) * power(256::numeric, n.level) > head
            OR (n.start > 0 AND NOT EXISTS (SELECT 1 FROM tiles t
                WHERE t.level = n.level AND t.idx = n.idx
                    AND t.start + octet_length(t.hashes) / 32 = n.start))
            OR EXISTS (SELECT 1 FROM tiles t
                WHERE t.level = n.level AND t.idx = n.idx AND t.start <> n.start
                    AND t.start < n.start + n.len
                    AND n.start < t.start + octet_length(t.hashes) / 32) THEN
            RAISE EXCEPTION 'agentledger: tile segment %/%/% must continue its tile within the tree head of size %',
                n.level, n.idx, n.start, head
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER tiles_covered AFTER INSERT ON tiles
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION agentledger_tiles_covered();

-- A checkpoint is stored with the head that records it as the latest.
CREATE FUNCTION agentledger_checkpoint_recorded() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.size IS DISTINCT FROM (SELECT checkpoint_size FROM tree_head WHERE id = 1) THEN
        RAISE EXCEPTION 'agentledger: checkpoint % is not the one the tree head records', NEW.size
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER checkpoints_recorded BEFORE INSERT ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION agentledger_checkpoint_recorded();

-- The tree head: besides growing, its root and range change only with its
-- size, its size grows only over stored entries, and its checkpoint time
-- changes only with its checkpoint size.
CREATE OR REPLACE FUNCTION agentledger_tree_head_grows() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.size < OLD.size THEN
        RAISE EXCEPTION 'agentledger: tree head would shrink from % to %', OLD.size, NEW.size
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.checkpoint_size < OLD.checkpoint_size
        OR (NEW.checkpoint_size IS NULL AND OLD.checkpoint_size IS NOT NULL) THEN
        RAISE EXCEPTION 'agentledger: latest checkpoint would shrink from % to %',
            OLD.checkpoint_size, NEW.checkpoint_size
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.size = OLD.size AND (NEW.root <> OLD.root OR NEW.range <> OLD.range) THEN
        RAISE EXCEPTION 'agentledger: tree head root or range would change at size %', NEW.size
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.size > OLD.size AND NOT EXISTS (SELECT 1 FROM entries WHERE idx = NEW.size - 1) THEN
        RAISE EXCEPTION 'agentledger: tree head would grow to % over entries not stored', NEW.size
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.checkpoint_size IS NOT DISTINCT FROM OLD.checkpoint_size
        AND NEW.checkpoint_time IS DISTINCT FROM OLD.checkpoint_time THEN
        RAISE EXCEPTION 'agentledger: latest checkpoint time would change without a new checkpoint'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['agentledger_entries_follow_head', 'agentledger_entries_counted',
            'agentledger_with_entry', 'agentledger_tiles_covered', 'agentledger_checkpoint_recorded',
            'agentledger_tree_head_grows'] LOOP
        EXECUTE format('ALTER FUNCTION %I.%I() SET search_path = %I, pg_temp', current_schema(), f, current_schema());
    END LOOP;
END
$$;

-- Erasure deletes content rows; autovacuum frees them as soon as it looks
-- (the store also rewrites the table after each erasure when its role may:
-- see ledger/postgres).
ALTER TABLE content SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1);

-- On Postgres 17 and later the writer may rewrite the content table after
-- an erasure (MAINTAIN); before 17 only the table's owner may.
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 170000 THEN
        EXECUTE 'GRANT MAINTAIN ON content TO agentledger_writer';
    END IF;
END
$$;
