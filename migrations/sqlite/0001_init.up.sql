-- agentledger schema for SQLite: the tree head, entries, their indexed
-- references and content, tree tiles and signed checkpoints.
--
-- Append-only: entries, entry_refs, tiles and checkpoints reject UPDATE and
-- DELETE; content rejects UPDATE, and DELETE unless an erasure entry is being
-- appended in the same transaction; the tree head may only grow. SQLite has
-- no roles, so these triggers stop accidents, not an adversary: whoever can
-- write the file can drop a trigger. The protection against that is the file
-- mode (0600, checked when the store opens it), and `agentledger audit`,
-- which recomputes every leaf hash and the tree from the stored rows and
-- checks them against every signed checkpoint.
--
-- Hashes are 32-byte BLOBs; times are unix nanoseconds.

-- tree_head is the one row that every write transaction reads and advances:
-- the tree size and root, the compact range covering [0, size) (its hashes
-- concatenated, 32 bytes each, left to right), and the latest checkpoint.
CREATE TABLE tree_head (
	id              INTEGER PRIMARY KEY CHECK (id = 1),
	size            INTEGER NOT NULL CHECK (size >= 0),
	root            BLOB    NOT NULL CHECK (length(root) = 32),
	"range"         BLOB    NOT NULL CHECK (length("range") % 32 = 0),
	checkpoint_size INTEGER CHECK (checkpoint_size BETWEEN 0 AND size),
	checkpoint_time INTEGER
) STRICT;

-- The empty tree: RFC 6962 root SHA-256("") and an empty range.
INSERT INTO tree_head (id, size, root, "range")
VALUES (1, 0, X'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', X'');

CREATE TRIGGER tree_head_no_delete BEFORE DELETE ON tree_head
BEGIN
	SELECT RAISE(ABORT, 'agentledger: tree_head cannot be deleted');
END;

CREATE TRIGGER tree_head_only_grows BEFORE UPDATE ON tree_head
WHEN NEW.size < OLD.size OR NEW.checkpoint_size < OLD.checkpoint_size
	OR (OLD.checkpoint_size IS NOT NULL AND NEW.checkpoint_size IS NULL)
BEGIN
	SELECT RAISE(ABORT, 'agentledger: tree_head cannot shrink');
END;

-- entries holds one row per leaf of the tree. dedup_key recognises a retried
-- delivery of an entry; time is the entry's start time, NULL when unknown.
CREATE TABLE entries (
	idx       INTEGER PRIMARY KEY CHECK (idx >= 0),
	leaf      BLOB    NOT NULL CHECK (length(leaf) > 0),
	leaf_hash BLOB    NOT NULL CHECK (length(leaf_hash) = 32),
	dedup_key BLOB    NOT NULL UNIQUE CHECK (length(dedup_key) = 32),
	kind      TEXT    NOT NULL CHECK (kind <> ''),
	trace_id  TEXT,
	time      INTEGER
) STRICT;

CREATE INDEX entries_trace_id ON entries (trace_id);

-- entry_refs indexes the facts of each entry that queries look entries up
-- by: ("credential", id), ("agent", id), ("trace", id), …
CREATE TABLE entry_refs (
	key   TEXT    NOT NULL,
	value TEXT    NOT NULL,
	idx   INTEGER NOT NULL REFERENCES entries (idx),
	PRIMARY KEY (key, value, idx)
) STRICT, WITHOUT ROWID;

-- content holds the sensitive content of entries, each piece with the salt
-- of its commitment in the leaf. Erasure deletes rows.
CREATE TABLE content (
	idx  INTEGER NOT NULL REFERENCES entries (idx),
	name TEXT    NOT NULL CHECK (name <> ''),
	salt BLOB    NOT NULL CHECK (length(salt) = 32),
	data BLOB    NOT NULL,
	PRIMARY KEY (idx, name)
) STRICT;

-- erasure_guard is empty outside a write transaction. To erase content the
-- store appends the erasure entry, inserts its index here, deletes the
-- content and deletes the row again, all before it advances tree_head; the
-- content delete trigger accepts a delete only while such a row names an
-- erasure entry that tree_head does not cover yet, that is, one appended in
-- the same transaction.
CREATE TABLE erasure_guard (
	idx INTEGER PRIMARY KEY
) STRICT;

-- tiles holds the hashes of tree levels 0, 8, 16, … as C2SP tlog-tiles of
-- height 8, in insert-only segments: a tile is its segments concatenated in
-- start order. A full tile never changes; a partial tile grows by a new
-- segment that starts where the last one ended.
CREATE TABLE tiles (
	level  INTEGER NOT NULL CHECK (level >= 0),
	idx    INTEGER NOT NULL CHECK (idx >= 0),
	start  INTEGER NOT NULL CHECK (start BETWEEN 0 AND 255),
	hashes BLOB    NOT NULL CHECK (length(hashes) > 0 AND length(hashes) % 32 = 0
		AND start + length(hashes) / 32 <= 256),
	PRIMARY KEY (level, idx, start)
) STRICT;

CREATE TRIGGER tiles_contiguous BEFORE INSERT ON tiles
WHEN NEW.start <> coalesce((
	SELECT t.start + length(t.hashes) / 32 FROM tiles t
	WHERE t.level = NEW.level AND t.idx = NEW.idx
	ORDER BY t.start DESC LIMIT 1), 0)
BEGIN
	SELECT RAISE(ABORT, 'agentledger: tile segment does not continue its tile');
END;

-- checkpoints keeps every signed checkpoint: a C2SP tlog-checkpoint signed
-- note over the tree of the given size.
CREATE TABLE checkpoints (
	size       INTEGER PRIMARY KEY CHECK (size >= 0),
	root       BLOB    NOT NULL CHECK (length(root) = 32),
	note       BLOB    NOT NULL,
	created_at INTEGER
) STRICT;

CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
BEGIN
	SELECT RAISE(ABORT, 'agentledger: entries is append-only');
END;

CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
BEGIN
	SELECT RAISE(ABORT, 'agentledger: entries is append-only');
END;

CREATE TRIGGER entry_refs_no_update BEFORE UPDATE ON entry_refs
BEGIN
	SELECT RAISE(ABORT, 'agentledger: entry_refs is append-only');
END;

CREATE TRIGGER entry_refs_no_delete BEFORE DELETE ON entry_refs
BEGIN
	SELECT RAISE(ABORT, 'agentledger: entry_refs is append-only');
END;

CREATE TRIGGER tiles_no_update BEFORE UPDATE ON tiles
BEGIN
	SELECT RAISE(ABORT, 'agentledger: tiles is append-only');
END;

CREATE TRIGGER tiles_no_delete BEFORE DELETE ON tiles
BEGIN
	SELECT RAISE(ABORT, 'agentledger: tiles is append-only');
END;

CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN
	SELECT RAISE(ABORT, 'agentledger: checkpoints is append-only');
END;

CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN
	SELECT RAISE(ABORT, 'agentledger: checkpoints is append-only');
END;

CREATE TRIGGER content_no_update BEFORE UPDATE ON content
BEGIN
	SELECT RAISE(ABORT, 'agentledger: content is append-only');
END;

CREATE TRIGGER content_delete_needs_erasure BEFORE DELETE ON content
WHEN NOT EXISTS (
	SELECT 1 FROM erasure_guard g JOIN entries e ON e.idx = g.idx
	WHERE e.kind = 'erasure' AND e.idx >= (SELECT size FROM tree_head))
BEGIN
	SELECT RAISE(ABORT, 'agentledger: content is deleted only by an erasure appended in the same transaction');
END;
