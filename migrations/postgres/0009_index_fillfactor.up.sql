-- agentledger schema: room for in-place updates of the index's derived
-- state.
--
-- Each index transaction rewrites most key states and map nodes on the
-- paths it changes. With pages half full, the new version of a row fits on
-- its own page and Postgres updates it in place (a HOT update: no new
-- primary-key entry), which makes the upserts about twice as fast. Pages
-- written before this migration get the room as vacuum frees them.
ALTER TABLE index_keys SET (fillfactor = 50);
ALTER TABLE index_nodes SET (fillfactor = 50);
