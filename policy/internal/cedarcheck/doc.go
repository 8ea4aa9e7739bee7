// Package cedarcheck tests the policy.* convention against a real Cedar
// engine: cedar-go evaluates a policy set in-process, and the decision
// and its determining policies (Diagnostic.Reasons) are reported as a span
// with the OpenTelemetry Go SDK to a real receiver; the credential view
// then shows the decision that allowed the call. It is a module of its own
// so that cedar-go and its dependencies never enter the main module's
// build list.
//
//	cd policy/internal/cedarcheck && go test -count=1 .
package cedarcheck
