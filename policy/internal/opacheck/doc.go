// Package opacheck tests the OPA decision-log endpoint (package policy)
// against a real Open Policy Agent: OPA's Go SDK runs in-process, loads a
// bundle the test serves, evaluates decisions, and its own decision-log
// plugin posts them, gzip-compressed with its bearer token, to the
// endpoint on a real ledger. It is a module of its own so that OPA and its
// dependencies never enter the main module's build list.
//
//	cd policy/internal/opacheck && go test -count=1 .
package opacheck
