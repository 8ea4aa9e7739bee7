-- agentledger schema: the verifiable index (ledger/FORMAT.md, "Verifiable
-- index (version 1)").
--
-- index_notes holds every signed index note and is append-only, like
-- checkpoints. index_head is the one row index writers lock FOR UPDATE; its
-- size (NULL before the first note) is the size of the latest note and only
-- grows. index_keys (each key's list: size and compact range) and
-- index_nodes (the map's prefix tree) are derived state, replaced in place
-- by each index transaction and checked by `agentledger audit` against the
-- leaves and the signed notes.
CREATE TABLE index_head (
    id   integer PRIMARY KEY CHECK (id = 1),
    size bigint  CHECK (size >= 0)
);

INSERT INTO index_head (id, size) VALUES (1, NULL);

CREATE TABLE index_notes (
    size       bigint      PRIMARY KEY CHECK (size >= 0),
    tree_root  bytea       NOT NULL CHECK (octet_length(tree_root) = 32),
    map_root   bytea       NOT NULL CHECK (octet_length(map_root) = 32),
    note       bytea       NOT NULL,
    time       timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- label is SHA-256 of the key "<name>:<value>"; range the compact range of
-- the key's list, its hashes concatenated.
CREATE TABLE index_keys (
    label bytea  PRIMARY KEY CHECK (octet_length(label) = 32),
    size  bigint NOT NULL CHECK (size > 0),
    range bytea  NOT NULL CHECK (octet_length(range) % 32 = 0)
);

-- id is the label's bit length (16 bits, big-endian) then its 32 bytes;
-- children, for inner nodes, the ids of the left and right child.
CREATE TABLE index_nodes (
    id       bytea PRIMARY KEY CHECK (octet_length(id) = 34),
    hash     bytea NOT NULL CHECK (octet_length(hash) = 32),
    children bytea CHECK (octet_length(children) = 68)
);

CREATE TRIGGER index_notes_append_only BEFORE UPDATE OR DELETE ON index_notes
    FOR EACH ROW EXECUTE FUNCTION agentledger_append_only();
CREATE TRIGGER index_notes_no_truncate BEFORE TRUNCATE ON index_notes
    FOR EACH STATEMENT EXECUTE FUNCTION agentledger_append_only();
CREATE TRIGGER index_head_no_delete BEFORE DELETE ON index_head
    FOR EACH ROW EXECUTE FUNCTION agentledger_append_only();
CREATE TRIGGER index_head_no_truncate BEFORE TRUNCATE ON index_head
    FOR EACH STATEMENT EXECUTE FUNCTION agentledger_append_only();

CREATE FUNCTION agentledger_index_head_grows() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.size IS NULL OR NEW.size < OLD.size THEN
        RAISE EXCEPTION 'agentledger: index head would shrink from % to %', OLD.size, NEW.size
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER index_head_grows BEFORE UPDATE ON index_head
    FOR EACH ROW EXECUTE FUNCTION agentledger_index_head_grows();

GRANT SELECT, INSERT ON index_notes TO agentledger_writer;
GRANT SELECT, UPDATE ON index_head TO agentledger_writer;
GRANT SELECT, INSERT, UPDATE ON index_keys, index_nodes TO agentledger_writer;
