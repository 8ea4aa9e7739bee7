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
-- below it, and only for the key "agent", the Indexer may add the
-- references it derives from the leaves; `agentledger audit` checks every
-- row against them.
CREATE TABLE entry_refs_backfill (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	size INTEGER NOT NULL CHECK (size >= 0)
) STRICT;

INSERT INTO entry_refs_backfill (id, size) SELECT 1, size FROM tree_head WHERE id = 1;

CREATE TRIGGER entry_refs_backfill_no_insert BEFORE INSERT ON entry_refs_backfill
BEGIN
	SELECT RAISE(ABORT, 'agentledger: entry_refs_backfill is the one row migration 0008 created');
END;

CREATE TRIGGER entry_refs_backfill_no_update BEFORE UPDATE ON entry_refs_backfill
BEGIN
	SELECT RAISE(ABORT, 'agentledger: entry_refs_backfill cannot change');
END;

CREATE TRIGGER entry_refs_backfill_no_delete BEFORE DELETE ON entry_refs_backfill
BEGIN
	SELECT RAISE(ABORT, 'agentledger: entry_refs_backfill cannot change');
END;

DROP TRIGGER entry_refs_insert_guard;

CREATE TRIGGER entry_refs_insert_guard BEFORE INSERT ON entry_refs
BEGIN
	SELECT CASE
		WHEN NEW.idx < (SELECT size FROM tree_head)
			AND NOT (NEW.key = 'agent' AND NEW.idx < (SELECT size FROM entry_refs_backfill)) THEN
			RAISE(ABORT, 'agentledger: references are written with their entry')
		WHEN EXISTS (SELECT 1 FROM entry_refs WHERE key = NEW.key AND value = NEW.value AND idx = NEW.idx) THEN
			RAISE(ABORT, 'agentledger: conflict: the reference exists; entry_refs is append-only')
	END;
END;
