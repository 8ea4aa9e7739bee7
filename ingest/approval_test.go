package ingest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentledger/agentledger/approval"
	"github.com/agentledger/agentledger/ledger"
)

// sshKeygen runs ssh-keygen, failing the test on error.
func sshKeygen(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen %v: %v: %s", args, err, out)
	}
}

// TestApprovalSignatures sends approval spans over OTLP with the OTel SDK
// and checks that the receiver recorded each signature's verification in
// the leaf: one signed with ssh-keygen -Y sign by the approver verifies;
// a forged one, one by another allowed approver's key, and an unsigned one
// do not. (A sender cannot set agentledger.approval.* itself: the
// namespace is reserved, and such a request is refused.)
func TestApprovalSignatures(t *testing.T) {
	dir := t.TempDir()
	alice, mallory := filepath.Join(dir, "alice"), filepath.Join(dir, "mallory")
	sshKeygen(t, "-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", alice)
	sshKeygen(t, "-q", "-t", "ed25519", "-N", "", "-C", "mallory", "-f", mallory)
	alicePub, _ := os.ReadFile(alice + ".pub")
	malloryPub, _ := os.ReadFile(mallory + ".pub")
	signersFile := filepath.Join(dir, "allowed_signers")
	if err := os.WriteFile(signersFile, []byte("alice@example.com "+string(alicePub)+"mallory@example.com "+string(malloryPub)), 0o600); err != nil {
		t.Fatal(err)
	}
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	sign := func(t *testing.T, key string, st approval.Statement) string {
		msg, err := st.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "statement")
		if err := os.WriteFile(f, msg, 0o600); err != nil {
			t.Fatal(err)
		}
		sshKeygen(t, "-q", "-Y", "sign", "-f", key, "-n", approval.Namespace, f)
		sig, err := os.ReadFile(f + ".sig")
		if err != nil {
			t.Fatal(err)
		}
		return string(sig)
	}

	// alice's ES256 key, for JWS approvals, in a JWKS file.
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &ecKey.PublicKey, KeyID: "alice@example.com"}}})
	jwksFile := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwksFile, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	signJWS := func(t *testing.T, st approval.Statement) string {
		msg, err := st.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: ecKey}, (&jose.SignerOptions{}).WithHeader("kid", "alice@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		obj, err := s.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		out, err := obj.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			tl := st.open(t, nil)
			_, httpAddr := startServer(t, tl, func(c *ServerConfig) { c.ApprovalSignersFile, c.ApprovalJWKS = signersFile, jwksFile })
			tp, rec := recorder("payments-agent")
			ctx, run := tp.Tracer("agent").Start(t.Context(), "invoke_agent payments-agent")
			runID := run.SpanContext().TraceID().String()
			statement := approval.Statement{Approver: "alice@example.com", Action: "POST /v1/payments", Target: "api.bank.example", Expires: expires, Run: runID}
			good := sign(t, alice, statement)
			forged := strings.Replace(good, good[len(good)/2:len(good)/2+4], "AAAA", 1)
			otherTarget := statement
			otherTarget.Target = "api.evil.example"
			for _, a := range []struct{ name, sig string }{
				{"approval.signed", good},
				{"approval.forged", forged},
				{"approval.other_target", sign(t, alice, otherTarget)},
				{"approval.wrong_signer", sign(t, mallory, statement)},
				{"approval.unsigned", ""},
				{"approval.jws", signJWS(t, statement)},
				{"approval.jws_other_target", signJWS(t, otherTarget)},
			} {
				attrs := []attribute.KeyValue{
					attribute.String(approval.AttrApprover, statement.Approver), attribute.String(approval.AttrAction, statement.Action),
					attribute.String(approval.AttrTarget, statement.Target), attribute.String(approval.AttrExpiresAt, expires.Format(time.RFC3339)),
					attribute.String(approval.AttrRun, runID), attribute.String("approval.decision", "approved"),
				}
				if a.sig != "" {
					attrs = append(attrs, attribute.String(approval.AttrSignature, a.sig))
				}
				_, sp := tp.Tracer("agent").Start(ctx, a.name, trace.WithAttributes(attrs...))
				sp.End()
			}
			run.End()
			exp, err := otlptracehttp.New(t.Context(), otlptracehttp.WithEndpoint(httpAddr), otlptracehttp.WithInsecure(), otlptracehttp.WithRetry(noRetry.http))
			if err != nil {
				t.Fatal(err)
			}
			defer exp.Shutdown(context.Background())
			if err := exp.ExportSpans(t.Context(), rec.Ended()); err != nil {
				t.Fatalf("export: %v", err)
			}
			want := map[string][2]string{
				"approval.signed":           {"true", approval.StatusVerified},
				"approval.forged":           {"false", approval.StatusMalformed},
				"approval.other_target":     {"false", approval.StatusBadSignature},
				"approval.wrong_signer":     {"false", approval.StatusWrongSigner},
				"approval.unsigned":         {"false", approval.StatusUnsigned},
				"approval.jws":              {"true", approval.StatusVerified},
				"approval.jws_other_target": {"false", approval.StatusBadSignature},
			}
			seen := 0
			for _, e := range tl.entries(t) {
				w, ok := want[e.Name]
				if !ok {
					continue
				}
				seen++
				if e.Kind != ledger.KindApproval {
					t.Errorf("%s: kind %s", e.Name, e.Kind)
				}
				v, _ := e.Attr(approval.AttrVerified)
				s, _ := e.Attr(approval.AttrStatus)
				if v != w[0] || s != w[1] {
					t.Errorf("%s: verified %q status %q, want %q %q", e.Name, v, s, w[0], w[1])
				}
				signer, _ := e.Attr(approval.AttrSigner)
				if (signer == "alice@example.com") != (e.Name == "approval.signed" || e.Name == "approval.jws") {
					t.Errorf("%s: signer %q", e.Name, signer)
				}
			}
			if seen != len(want) {
				t.Errorf("%d approval entries, want %d", seen, len(want))
			}
		})
	}
}
