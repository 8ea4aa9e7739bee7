// Package collector holds the end-to-end tests of agentledger behind a
// stock OpenTelemetry Collector: the distribution ingest/builder-config.yaml
// describes, built with OCB once per test run (internal/otelcoltest), run as
// a process beside agentledger serve processes, with the OTel Go SDK's
// exporters as the agents. It has no code of its own.
package collector
