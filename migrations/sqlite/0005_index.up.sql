-- The verifiable index (ledger/FORMAT.md, "Verifiable index (version 1)").
--
-- index_notes holds every signed index note and is append-only, like
-- checkpoints. index_head's size (NULL before the first note) is the size
-- of the latest note and only grows. index_keys (each key's list: size and
-- compact range) and index_nodes (the map's prefix tree) are derived state,
-- replaced in place by each index transaction and checked by `agentledger
-- audit` against the leaves and the signed notes. Times are unix
-- nanoseconds.
CREATE TABLE index_head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	size INTEGER CHECK (size >= 0)
) STRICT;

INSERT INTO index_head (id, size) VALUES (1, NULL);

CREATE TRIGGER index_head_no_delete BEFORE DELETE ON index_head
BEGIN
	SELECT RAISE(ABORT, 'agentledger: index_head cannot be deleted');
END;

CREATE TRIGGER index_head_only_grows BEFORE UPDATE ON index_head
WHEN NEW.size IS NULL OR NEW.size < OLD.size
BEGIN
	SELECT RAISE(ABORT, 'agentledger: index_head cannot shrink');
END;

CREATE TABLE index_notes (
	size      INTEGER PRIMARY KEY CHECK (size >= 0),
	tree_root BLOB    NOT NULL CHECK (length(tree_root) = 32),
	map_root  BLOB    NOT NULL CHECK (length(map_root) = 32),
	note      BLOB    NOT NULL,
	time      INTEGER
) STRICT;

CREATE TRIGGER index_notes_no_update BEFORE UPDATE ON index_notes
BEGIN
	SELECT RAISE(ABORT, 'agentledger: index_notes is append-only');
END;

CREATE TRIGGER index_notes_no_delete BEFORE DELETE ON index_notes
BEGIN
	SELECT RAISE(ABORT, 'agentledger: index_notes is append-only');
END;

-- label is SHA-256 of the key "<name>:<value>"; range the compact range of
-- the key's list, its hashes concatenated.
CREATE TABLE index_keys (
	label   BLOB    PRIMARY KEY CHECK (length(label) = 32),
	size    INTEGER NOT NULL CHECK (size > 0),
	"range" BLOB    NOT NULL CHECK (length("range") % 32 = 0)
) STRICT, WITHOUT ROWID;

-- id is the label's bit length (16 bits, big-endian) then its 32 bytes;
-- children, for inner nodes, the ids of the left and right child.
CREATE TABLE index_nodes (
	id       BLOB PRIMARY KEY CHECK (length(id) = 34),
	hash     BLOB NOT NULL CHECK (length(hash) = 32),
	children BLOB CHECK (length(children) = 68)
) STRICT, WITHOUT ROWID;
