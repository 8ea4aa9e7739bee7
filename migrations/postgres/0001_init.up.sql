-- agentledger schema, version 1.
--
-- Every table lives in the first schema of the connection's search_path, so
-- that one database can hold several ledgers (and every test its own). The
-- ledger is append-only: triggers reject UPDATE, DELETE and TRUNCATE on the
-- tables that hold entries, references, tiles and checkpoints; content may
-- be deleted only by a transaction that appends the erasure entry recording
-- it; the tree head is the one row that changes, and it only grows.

-- The tree head: the one mutable row, locked FOR UPDATE by every write
-- transaction. range is the compact range covering [0, size), its hashes
-- concatenated 32 bytes each.
CREATE TABLE tree_head (
    id              integer     PRIMARY KEY CHECK (id = 1),
    size            bigint      NOT NULL CHECK (size >= 0),
    root            bytea       NOT NULL CHECK (octet_length(root) = 32),
    range           bytea       NOT NULL CHECK (octet_length(range) % 32 = 0),
    checkpoint_size bigint,
    checkpoint_time timestamptz,
    CHECK (checkpoint_size BETWEEN 0 AND size)
);

-- The empty tree: size 0, root SHA-256("").
INSERT INTO tree_head (id, size, root, range)
VALUES (1, 0, sha256(''::bytea), ''::bytea);

-- One row per ledger entry. time is NULL when the entry has no time.
CREATE TABLE entries (
    idx        bigint      PRIMARY KEY CHECK (idx >= 0),
    leaf       bytea       NOT NULL,
    leaf_hash  bytea       NOT NULL CHECK (octet_length(leaf_hash) = 32),
    dedup_key  bytea       NOT NULL UNIQUE CHECK (octet_length(dedup_key) = 32),
    kind       text        NOT NULL,
    trace_id   text        NOT NULL DEFAULT '',
    time       timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX entries_trace_id ON entries (trace_id) WHERE trace_id <> '';

-- The indexed facts of each entry, for Find.
CREATE TABLE entry_refs (
    key   text   NOT NULL,
    value text   NOT NULL,
    idx   bigint NOT NULL,
    PRIMARY KEY (key, value, idx)
);

-- Sensitive content, outside the leaf behind the commitment
-- SHA-256(salt || data). Erasure deletes rows.
CREATE TABLE content (
    idx  bigint NOT NULL,
    name text   NOT NULL,
    salt bytea  NOT NULL CHECK (octet_length(salt) = 32),
    data bytea  NOT NULL,
    PRIMARY KEY (idx, name)
);

-- Tree tiles (C2SP tlog-tiles, height 8) as insert-only segments: the
-- hashes of tile (level, idx) are its segments concatenated in start order.
-- A full tile never changes; a partial tile grows by new segments.
CREATE TABLE tiles (
    level  smallint NOT NULL CHECK (level >= 0),
    idx    bigint   NOT NULL CHECK (idx >= 0),
    start  smallint NOT NULL CHECK (start BETWEEN 0 AND 255),
    hashes bytea    NOT NULL CHECK (
        octet_length(hashes) > 0
        AND octet_length(hashes) % 32 = 0
        AND start + octet_length(hashes) / 32 <= 256),
    PRIMARY KEY (level, idx, start)
);

-- Every signed checkpoint (a C2SP tlog-checkpoint signed note). time is
-- when it was signed, NULL if unknown.
CREATE TABLE checkpoints (
    size       bigint      PRIMARY KEY CHECK (size >= 0),
    root       bytea       NOT NULL CHECK (octet_length(root) = 32),
    note       bytea       NOT NULL,
    time       timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION agentledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'agentledger: % is append-only', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['entries', 'entry_refs', 'tiles', 'checkpoints'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I
            FOR EACH ROW EXECUTE FUNCTION agentledger_append_only()', t || '_append_only', t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['entries', 'entry_refs', 'tiles', 'checkpoints', 'content', 'tree_head'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I
            FOR EACH STATEMENT EXECUTE FUNCTION agentledger_append_only()', t || '_no_truncate', t);
    END LOOP;
END
$$;

CREATE TRIGGER content_no_update BEFORE UPDATE ON content
    FOR EACH ROW EXECUTE FUNCTION agentledger_append_only();

CREATE TRIGGER tree_head_no_delete BEFORE DELETE ON tree_head
    FOR EACH ROW EXECUTE FUNCTION agentledger_append_only();

-- The tree head only grows.
CREATE FUNCTION agentledger_tree_head_grows() RETURNS trigger
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
    RETURN NEW;
END
$$;

CREATE TRIGGER tree_head_grows BEFORE UPDATE ON tree_head
    FOR EACH ROW EXECUTE FUNCTION agentledger_tree_head_grows();

-- Content may be deleted only by the transaction that appends the erasure
-- entry recording it: the deleting transaction names that entry with
-- set_config('agentledger.erasure', '<idx>', true), and the entry must be of
-- kind 'erasure' and inserted by this very transaction. The entries table is
-- looked up in the schema of the content table, whatever the search_path.
CREATE FUNCTION agentledger_content_erasure() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    erasure text := nullif(current_setting('agentledger.erasure', true), '');
    ok      boolean;
BEGIN
    IF erasure IS NULL OR erasure !~ '^[0-9]{1,19}$' THEN
        RAISE EXCEPTION 'agentledger: content is deleted only by an erasure (set agentledger.erasure)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.entries
            WHERE idx = $1 AND kind = ''erasure'' AND xmin = pg_current_xact_id()::xid)',
            TG_TABLE_SCHEMA)
        INTO ok USING erasure::bigint;
    IF NOT ok THEN
        RAISE EXCEPTION 'agentledger: entry % is not an erasure entry appended by this transaction', erasure
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER content_erasure_only BEFORE DELETE ON content
    FOR EACH STATEMENT EXECUTE FUNCTION agentledger_content_erasure();

-- The writer role: everything the store does, nothing more. Grant it to the
-- login role agentledger serve connects as. Roles are cluster-wide, so
-- creating it tolerates a concurrent migration of another schema having
-- just created it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'agentledger_writer') THEN
        BEGIN
            CREATE ROLE agentledger_writer NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO agentledger_writer', current_schema());
END
$$;

GRANT SELECT, INSERT ON entries, entry_refs, tiles, checkpoints TO agentledger_writer;
GRANT SELECT, INSERT, DELETE ON content TO agentledger_writer;
GRANT SELECT, UPDATE ON tree_head TO agentledger_writer;
GRANT SELECT ON schema_migrations TO agentledger_writer;
