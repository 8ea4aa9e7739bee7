// Package gitleakscheck measures the recall of ingest/secrets against gitleaks, as a
// test-only oracle. It is a module of its own so that gitleaks and its dependencies
// never enter the main module's build list.
//
// TestRecallAgainstGitleaks evaluates the true-positive examples of every gitleaks rule
// generator (cmd/generate/config/rules in the gitleaks module, read at test time),
// places each as a log body, an attribute value, a span event, a JSON string, a
// URL-encoded query parameter, free text and, for key=value examples, an attribute
// name, and requires that every secret gitleaks finds there in an in-scope rule is
// fingerprinted by ingest/secrets. gitleaks makes most examples at random; -rounds N
// evaluates N fresh sets of them, to find shapes that one set seldom holds.
// TestFalsePositiveRate counts the lines of ordinary agent text that either flags.
// With -report both write their tables to testdata/. BenchmarkGitleaksCorpus runs
// gitleaks' DetectString and ingest's RedactText on the same corpus.
//
//	cd ingest/secrets/internal/gitleakscheck && go test -report . && go test -run XXX -bench . -benchtime 2x .
package gitleakscheck
