-- agentledger schema, version 4: ingest tokens. A token of role ingest lets
-- an OTLP sender submit telemetry, and its name becomes the submitter of
-- the entries it writes; it allows nothing of the query API.
ALTER TABLE tokens DROP CONSTRAINT tokens_role_check;
ALTER TABLE tokens ADD CONSTRAINT tokens_role_check
    CHECK (role IN ('auditor', 'responder', 'admin', 'ingest'));
