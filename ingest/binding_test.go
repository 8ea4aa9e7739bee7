package ingest

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentledger/agentledger/internal/devcert"
	"github.com/agentledger/agentledger/ledger"
)

func TestLoadBindingPolicy(t *testing.T) {
	tests := []struct {
		file    string
		mode    string
		rules   int
		wantErr string
	}{
		{"policy.yaml", BindingFlag, 2, ""},
		{"policy.json", BindingRefuse, 1, ""},
		{"invalid_mode.yaml", "", 0, `mode "warn"`},
		{"invalid_pattern.yaml", "", 0, "syntax error in pattern"},
		{"invalid_typo.yaml", "", 0, "service_name"},
		{"invalid_duplicate.yaml", "", 0, `name "a" used twice`},
		{"missing.yaml", "", 0, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			bp, err := LoadBindingPolicy(filepath.Join("testdata", "binding", tt.file))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadBindingPolicy = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if bp.Mode != tt.mode || len(bp.Rules) != tt.rules {
				t.Errorf("LoadBindingPolicy = mode %q, %d rules; want %q, %d", bp.Mode, len(bp.Rules), tt.mode, tt.rules)
			}
		})
	}
}

func TestBindingCheck(t *testing.T) {
	bp, err := LoadBindingPolicy(filepath.Join("testdata", "binding", "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	entry := func(svc, agent string) ledger.Entry {
		var e ledger.Entry
		if svc != "" {
			e.Attrs = append(e.Attrs, ledger.Attr{Key: AttrServiceName, Value: svc})
		}
		if agent != "" {
			e.Attrs = append(e.Attrs, ledger.Attr{Key: ledger.AttrAgentID, Value: agent})
		}
		return e
	}
	tests := []struct {
		submitter  string
		svc, agent string
		bound      bool
	}{
		{"spiffe://acme.example/ns/prod/sa/deploy-bot", "deploy-bot", "deploy-bot", true},
		{"spiffe://acme.example/ns/prod/sa/deploy-bot", "deploy-bot", "", true},
		{"spiffe://acme.example/ns/prod/sa/deploy-bot", "", "", true},
		{"spiffe://acme.example/ns/prod/sa/deploy-bot", "billing-eu", "", false},
		{"spiffe://acme.example/ns/prod/sa/deploy-bot", "deploy-bot", "billing", false},
		{"spiffe://acme.example/ns/prod/sa/billing-eu", "billing-eu", "anything", true},
		{"spiffe://acme.example/ns/prod/sa/billing-eu", "deploy-bot", "", false},
		{"spiffe://acme.example/ns/prod/sa/billing-eu/x", "billing-eu", "", false}, // * stops at /
		{"", "deploy-bot", "", false},
		{"token:deploy-bot", "deploy-bot", "", false},
	}
	for _, tt := range tests {
		entries := []ledger.Entry{entry(tt.svc, tt.agent)}
		if err := bp.check(tt.submitter, entries); err != nil {
			t.Fatalf("check in flag mode = %v", err)
		}
		flag, _ := entries[0].Attr(AttrBinding)
		if got := flag == ""; got != tt.bound {
			t.Errorf("check(%q, service %q, agent %q): flag %q, want bound %v", tt.submitter, tt.svc, tt.agent, flag, tt.bound)
		}
	}
}

// TestBindingPolicyEndToEnd: a sender whose certificate binds it to
// deploy-bot writes as deploy-bot and as billing-eu; in flag mode both are
// written, the second flagged in its leaf; in refuse mode the second is
// refused naming the rule, and nothing of it is written.
func TestBindingPolicyEndToEnd(t *testing.T) {
	for _, mode := range []string{"policy.yaml", "policy.json"} {
		t.Run(mode, func(t *testing.T) {
			p := newPKI(t)
			tl := newSQLiteLedger(t, nil)
			grpcAddr, _ := startServer(t, tl, func(c *ServerConfig) {
				c.TLS = p.files(true)
				c.BindingPolicyFile = filepath.Join("testdata", "binding", mode)
			})
			bot := clientCert(t, p.ca, devcert.Request{CommonName: "deploy-bot", SPIFFEID: "spiffe://acme.example/ns/prod/sa/deploy-bot"})
			if err := exportOne(t, "grpc", grpcAddr, p.clientTLS(bot), nil, "deploy-bot"); err != nil {
				t.Fatalf("export as itself: %v", err)
			}
			err := exportOne(t, "grpc", grpcAddr, p.clientTLS(bot), nil, "billing-eu")
			refuse := mode == "policy.json"
			if refuse != (err != nil) {
				t.Fatalf("export as another agent = %v, want refused %v", err, refuse)
			}
			if refuse && (!strings.Contains(err.Error(), "InvalidArgument") || !strings.Contains(err.Error(), "rules deploy-bot")) {
				t.Errorf("refusal %q does not say InvalidArgument and name the rule", err)
			}
			flagged := map[string]int{}
			for _, e := range tl.entries(t) {
				svc, _ := e.Attr(AttrServiceName)
				if v, _ := e.Attr(AttrBinding); v == BindingUnbound {
					flagged[svc]++
				} else if v != "" {
					t.Errorf("entry %q: %s = %q", e.Name, AttrBinding, v)
				}
				if refuse && svc == "billing-eu" {
					t.Errorf("refused request wrote entry %q", e.Name)
				}
			}
			if want := map[string]int{"billing-eu": 2}; !refuse && (len(flagged) != 1 || flagged["billing-eu"] != want["billing-eu"]) {
				t.Errorf("flagged entries by service = %v, want %v (span and attestation)", flagged, want)
			}
			if refuse && len(flagged) != 0 {
				t.Errorf("flagged entries in refuse mode: %v", flagged)
			}
		})
	}
}
