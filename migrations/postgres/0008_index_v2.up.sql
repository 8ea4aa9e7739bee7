-- Upgrade from the verifiable index of version 1 (ledger/FORMAT.md,
-- "Upgrading from version 1").
--
-- The index notes of version 1 stay in index_notes, signed history; the
-- Indexer builds the index of version 2 from index 0 beside them, its first
-- note at a checkpoint beyond the latest of them. The key states and map
-- nodes of version 1 are derived state that version 2 cannot extend: the
-- transaction that writes that first note removes them.
--
-- Entries stored before this migration may lack the entry_refs rows of
-- their other agent names (version 2 files a leaf under every agent name).
-- entry_refs_backfill.size is how many entries were stored when it ran:
-- below it, and only for the key 'agent', the Indexer may add the
-- references it derives from the leaves; `agentledger audit` checks every
-- row against them.
CREATE TABLE entry_refs_backfill (
    id   integer PRIMARY KEY CHECK (id = 1),
    size bigint  NOT NULL CHECK (size >= 0)
);

INSERT INTO entry_refs_backfill (id, size) SELECT 1, size FROM tree_head WHERE id = 1;

CREATE TRIGGER entry_refs_backfill_append_only BEFORE UPDATE OR DELETE ON entry_refs_backfill
    FOR EACH ROW EXECUTE FUNCTION agentledger_append_only();
CREATE TRIGGER entry_refs_backfill_no_truncate BEFORE TRUNCATE ON entry_refs_backfill
    FOR EACH STATEMENT EXECUTE FUNCTION agentledger_append_only();

-- References are written with their entry, by the transaction that
-- appends it, except the agent references of entries below
-- entry_refs_backfill.size.
CREATE FUNCTION agentledger_refs_with_entry() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    backfill bigint := (SELECT size FROM entry_refs_backfill WHERE id = 1);
    low      bigint;
    high     bigint;
BEGIN
    SELECT min(idx), max(idx) INTO low, high FROM new_rows WHERE NOT (key = 'agent' AND idx < backfill);
    IF low IS NOT NULL AND NOT EXISTS (SELECT 1 FROM append_checks c WHERE c.lo <= low AND high <= c.idx) THEN
        RAISE EXCEPTION 'agentledger: entry_refs rows are written with their entry, by the transaction that appends it'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END
$$;

DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION %I.agentledger_refs_with_entry() SET search_path = %I, pg_temp', current_schema(), current_schema());
END
$$;

DROP TRIGGER entry_refs_with_entry ON entry_refs;

CREATE TRIGGER entry_refs_with_entry AFTER INSERT ON entry_refs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION agentledger_refs_with_entry();

GRANT SELECT ON entry_refs_backfill TO agentledger_writer;
GRANT DELETE ON index_keys, index_nodes TO agentledger_writer;
