-- Guards that INSERT OR REPLACE and stray rows cannot get past.
--
-- REPLACE resolves a conflict by deleting the row in the way, and SQLite
-- fires no DELETE trigger for that unless recursive_triggers is on, so the
-- no-delete triggers of version 1 do not stop it. Every append-only table
-- therefore refuses, before the insert, a row whose key is taken: the
-- message starts "agentledger: conflict:", which the store reports as a
-- conflict like the unique violation the insert would otherwise be.
--
-- The tree head changes only consistently: its root and range only with
-- its size, its size only over entries that are stored, its checkpoint time
-- only with its checkpoint size, and that only to a stored checkpoint.
-- Entries are numbered 0, 1, … without a gap; references and content are
-- written only with their entry, before the head counts it.

-- One trigger a table, without a WHEN clause, for the tables written once
-- or more per entry: each trigger costs its own program run per row.
CREATE TRIGGER entries_insert_guard BEFORE INSERT ON entries
BEGIN
	SELECT CASE
		WHEN NEW.idx <= (SELECT max(idx) FROM entries) THEN
			RAISE(ABORT, 'agentledger: conflict: the entry index is taken; entries is append-only')
		WHEN NEW.idx > coalesce((SELECT max(idx) FROM entries), -1) + 1 THEN
			RAISE(ABORT, 'agentledger: entry index leaves a gap')
		WHEN EXISTS (SELECT 1 FROM entries WHERE dedup_key = NEW.dedup_key) THEN
			RAISE(ABORT, 'agentledger: conflict: the dedup key is taken; entries is append-only')
	END;
END;

CREATE TRIGGER entry_refs_insert_guard BEFORE INSERT ON entry_refs
BEGIN
	SELECT CASE
		WHEN NEW.idx < (SELECT size FROM tree_head) THEN
			RAISE(ABORT, 'agentledger: references are written with their entry')
		WHEN EXISTS (SELECT 1 FROM entry_refs WHERE key = NEW.key AND value = NEW.value AND idx = NEW.idx) THEN
			RAISE(ABORT, 'agentledger: conflict: the reference exists; entry_refs is append-only')
	END;
END;

CREATE TRIGGER content_insert_guard BEFORE INSERT ON content
BEGIN
	SELECT CASE
		WHEN NEW.idx < (SELECT size FROM tree_head) THEN
			RAISE(ABORT, 'agentledger: content is written with its entry')
		WHEN EXISTS (SELECT 1 FROM content WHERE idx = NEW.idx AND name = NEW.name) THEN
			RAISE(ABORT, 'agentledger: conflict: the content exists; content is append-only')
	END;
END;

CREATE TRIGGER tiles_no_replace BEFORE INSERT ON tiles
WHEN EXISTS (SELECT 1 FROM tiles WHERE level = NEW.level AND idx = NEW.idx AND start = NEW.start)
BEGIN
	SELECT RAISE(ABORT, 'agentledger: conflict: the tile segment exists; tiles is append-only');
END;

-- A tile segment holds only hashes of complete subtrees of the entries
-- written: a segment for entries still to come would collide with theirs.
CREATE TRIGGER tiles_covered BEFORE INSERT ON tiles
WHEN NEW.level > 7 OR NEW.idx * 256 + NEW.start + length(NEW.hashes) / 32
	> (coalesce((SELECT max(idx) FROM entries), -1) + 1) >> (8 * NEW.level)
BEGIN
	SELECT RAISE(ABORT, 'agentledger: tile segment beyond the entries written');
END;

CREATE TRIGGER checkpoints_no_replace BEFORE INSERT ON checkpoints
WHEN EXISTS (SELECT 1 FROM checkpoints WHERE size = NEW.size)
BEGIN
	SELECT RAISE(ABORT, 'agentledger: conflict: a checkpoint of this size exists; checkpoints is append-only');
END;

-- A checkpoint is written before the head that records it, over entries
-- already written, and is newer than the latest.
CREATE TRIGGER checkpoints_grow BEFORE INSERT ON checkpoints
WHEN NOT EXISTS (SELECT 1 FROM checkpoints WHERE size = NEW.size)
	AND (NEW.size > coalesce((SELECT max(idx) FROM entries), -1) + 1
		OR NEW.size <= coalesce((SELECT checkpoint_size FROM tree_head), -1))
BEGIN
	SELECT RAISE(ABORT, 'agentledger: a checkpoint covers written entries and is newer than the latest');
END;

CREATE TRIGGER tokens_no_replace BEFORE INSERT ON tokens
WHEN EXISTS (SELECT 1 FROM tokens WHERE hash = NEW.hash)
	OR (NEW.revoked_at IS NULL AND EXISTS (SELECT 1 FROM tokens WHERE name = NEW.name AND revoked_at IS NULL))
BEGIN
	SELECT RAISE(ABORT, 'agentledger: conflict: the token, or an active token of this name, exists');
END;

CREATE TRIGGER tree_head_no_insert BEFORE INSERT ON tree_head
BEGIN
	SELECT RAISE(ABORT, 'agentledger: tree_head is the one row the schema created');
END;

CREATE TRIGGER tree_head_consistent BEFORE UPDATE ON tree_head
WHEN NEW.id IS NOT OLD.id
	OR (NEW.size = OLD.size AND (NEW.root IS NOT OLD.root OR NEW."range" IS NOT OLD."range"))
	OR (NEW.size > OLD.size AND NOT EXISTS (SELECT 1 FROM entries WHERE idx = NEW.size - 1))
	OR (NEW.checkpoint_size IS OLD.checkpoint_size AND NEW.checkpoint_time IS NOT OLD.checkpoint_time)
	OR (NEW.checkpoint_size IS NOT OLD.checkpoint_size
		AND NOT EXISTS (SELECT 1 FROM checkpoints WHERE size = NEW.checkpoint_size))
BEGIN
	SELECT RAISE(ABORT, 'agentledger: tree_head changes only by growing over stored entries and checkpoints');
END;

-- erasure_guard names, for the moment of the delete, an erasure entry that
-- its own transaction is appending: one the head does not count yet.
CREATE TRIGGER erasure_guard_names_erasure BEFORE INSERT ON erasure_guard
WHEN EXISTS (SELECT 1 FROM erasure_guard WHERE idx = NEW.idx)
	OR NOT EXISTS (SELECT 1 FROM entries
		WHERE idx = NEW.idx AND kind = 'erasure' AND idx >= (SELECT size FROM tree_head))
BEGIN
	SELECT RAISE(ABORT, 'agentledger: erasure_guard names only an erasure entry being appended');
END;

CREATE TRIGGER erasure_guard_no_update BEFORE UPDATE ON erasure_guard
BEGIN
	SELECT RAISE(ABORT, 'agentledger: erasure_guard rows are inserted and deleted, never changed');
END;
