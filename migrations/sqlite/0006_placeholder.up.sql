-- Placeholder for version 6, which another branch adds (one log, one key).
-- Drop this file when that migration is merged.
SELECT 1;
