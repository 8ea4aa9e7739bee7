package servetest

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestProcessOutputAndExit(t *testing.T) {
	tests := []struct {
		name, script string
		match        string
		want         string
		wantErr      error
		wantExit     string
	}{
		{"line found", "echo starting; echo 'verifier key: k1'; exec sleep 60", "verifier key:", "verifier key: k1", nil, "signal: terminated"},
		{"last line without end", "printf 'a\\nready'", "ready", "ready", nil, ""},
		{"stream ends first", "echo other; exit 3", "ready", "", ErrClosed, "exit status 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := StartProcess(t, "sh", exec.Command("sh", "-c", tt.script))
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Stdout().WaitLine(30*time.Second, func(l string) bool { return strings.HasPrefix(l, tt.match) })
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Fatalf("WaitLine = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
			var exit error
			if tt.wantErr == nil && tt.wantExit != "" {
				exit = p.Stop(t, syscall.SIGTERM)
			} else {
				exit = p.Wait(t, 30*time.Second)
			}
			if (exit == nil) != (tt.wantExit == "") || exit != nil && exit.Error() != tt.wantExit {
				t.Fatalf("exit = %v, want %q", exit, tt.wantExit)
			}
		})
	}
}

func TestWaitLineTimesOut(t *testing.T) {
	p, err := StartProcess(t, "sh", exec.Command("sh", "-c", "echo partial; exec sleep 60"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Stdout().WaitLine(200*time.Millisecond, func(l string) bool { return l == "never" }); err == nil || errors.Is(err, ErrClosed) {
		t.Fatalf("WaitLine on a running process without the line = %v, want a timeout", err)
	}
}

// TestStartServe builds agentledger, runs serve and checks what Start
// promises: /readyz answers, the verifier key is printed, a token can be
// created, and SIGTERM ends serve with status 0.
func TestStartServe(t *testing.T) {
	dir := t.TempDir()
	s := Start(t, Options{DataDir: dir})
	if k := s.VerifierKey(t); k == "" {
		t.Fatal("empty verifier key")
	}
	tok, err := CreateToken(t.Context(), Binary(t), "ingest", "servetest", "--data-dir", dir)
	if err != nil || !strings.HasPrefix(tok, "alt_") {
		t.Fatalf("CreateToken = %q, %v; want an alt_ token", tok, err)
	}
	if out := Run(t, "", "token", "list", "--data-dir", dir); !strings.Contains(out, "servetest") {
		t.Fatalf("token list = %q, want the new token", out)
	}
	if err := s.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("serve exit after SIGTERM: %v", err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}
