package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentledger/agentledger/internal/pgtest"
)

func evidenceFixture(name string) string {
	return filepath.Join("..", "..", "evidence", "testdata", name)
}

// TestImportCmd imports the scenario's audit logs, then again (appending
// nothing), then a file with hostile records: those are refused with their
// line numbers, the rest imported, and the command fails.
func TestImportCmd(t *testing.T) {
	dir := t.TempDir()
	imp := func(args ...string) (string, string, error) {
		return run(t, newImportCmd(), append([]string{"--data-dir", dir}, args...)...)
	}
	steps := []struct {
		format, file string
		out          string
	}{
		{"cloudtrail", evidenceFixture("scenario/cloudtrail.json"), `5 records, 5 entries; the ledger grew from 0 to 5 entries`},
		{"vault", evidenceFixture("scenario/vault_audit.log"), `8 records, 5 entries; the ledger grew from 5 to 10 entries`},
		{"k8s-audit", evidenceFixture("scenario/k8s_audit.log"), `3 records, 3 entries; the ledger grew from 10 to 13 entries`},
		{"keycloak", evidenceFixture("scenario/keycloak_events.json"), `3 records, 1 entries; the ledger grew from 13 to 14 entries`},
		// Again: nothing new.
		{"cloudtrail", evidenceFixture("scenario/cloudtrail.json"), `5 records, 5 entries; the ledger grew from 14 to 14 entries`},
		{"vault", evidenceFixture("scenario/vault_audit.log"), `8 records, 5 entries; the ledger grew from 14 to 14 entries`},
	}
	for _, s := range steps {
		out, errOut, err := imp("--format", s.format, s.file)
		if err != nil {
			t.Fatalf("import %s: %v\n%s", s.file, err, errOut)
		}
		wantMatch(t, "import "+s.file, out, regexpQuote(s.out))
	}

	good := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"good-1","stage":"ResponseComplete","verb":"get","requestURI":"/api/v1/pods","user":{"username":"u","extra":{"authentication.kubernetes.io/credential-id":["JTI=abc"]}},"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-03-01T10:00:00Z"}`
	hostile := strings.Join([]string{
		good,
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","auditID":"old","stage":"ResponseComplete","requestReceivedTimestamp":"2026-03-01T10:00:00Z"}`,
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"t","stage":"ResponseCom`,
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":["x"],"stage":"ResponseComplete"}`,
		strings.Replace(good, "good-1", "good-2", 1),
	}, "\n")
	cmd := newImportCmd()
	cmd.SetIn(strings.NewReader(hostile))
	out, errOut, err := run(t, cmd, "--data-dir", dir, "--format", "k8s-audit", "-")
	if err == nil || !strings.Contains(err.Error(), "3 records refused") {
		t.Errorf("import of hostile records: err %v, want 3 records refused", err)
	}
	wantMatch(t, "import stdout", out, regexpQuote("5 records, 2 entries; the ledger grew from 14 to 16 entries"))
	for _, w := range []string{`-: record 2 (line 2): unknown apiVersion "audit.k8s.io/v1beta1"`, `-: record 3 (line 3): invalid JSON`,
		`-: record 4 (line 4): field auditID is an array`} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr = %q, want %q", errOut, w)
		}
	}

	if _, _, err := imp("--format", "syslog", evidenceFixture("scenario/cloudtrail.json")); err == nil || !strings.Contains(err.Error(), "unknown format") {
		t.Errorf("--format syslog: err %v, want unknown format", err)
	}
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// rawSecrets are the raw tokens of the secrets fixtures.
func rawSecrets(t *testing.T) []string {
	data, err := os.ReadFile(evidenceFixture("secrets/raw_tokens.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(data))
}

// TestImportNoSecretStored imports records holding real-shaped session
// tokens, Vault client tokens, an Authorization header and a service
// account JWT, and records refused with a raw secret in the field their
// error names, then searches every byte each store holds (the SQLite files;
// pg_dump of the Postgres schema) and everything the command wrote (its
// output and its errors) for each raw secret, plain and hex.
func TestImportNoSecretStored(t *testing.T) {
	files := []struct {
		format, file string
		refused      bool
	}{
		{"vault", evidenceFixture("secrets/vault_raw.log"), false},
		{"k8s-audit", evidenceFixture("secrets/k8s_audit.log"), false},
		{"cloudtrail", evidenceFixture("scenario/cloudtrail.json"), false},
		{"vault", evidenceFixture("secrets/vault_refused.log"), true},
	}
	raw := rawSecrets(t)
	for _, bk := range []string{"sqlite", "postgres"} {
		t.Run(bk, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"--data-dir", dir}
			var dump func() []byte
			if bk == "postgres" {
				dsn := pgtest.NewSchema(t)
				args = append(args, "--database", dsn)
				dump = func() []byte { return pgDump(t, dsn) }
			} else {
				dump = func() []byte {
					var all []byte
					paths, _ := filepath.Glob(filepath.Join(dir, sqliteFile+"*"))
					for _, p := range paths {
						b, err := os.ReadFile(p)
						if err != nil {
							t.Fatal(err)
						}
						all = append(all, b...)
					}
					return all
				}
			}
			var said []byte
			for _, f := range files {
				out, errOut, err := run(t, newImportCmd(), append(args, "--format", f.format, f.file)...)
				if (err != nil) != f.refused || (f.refused && !strings.Contains(errOut, "(line 4): invalid JSON")) {
					t.Fatalf("import %s: %v, want refused records %v\n%s", f.file, err, f.refused, errOut)
				}
				said = append(said, out+errOut...)
				if err != nil {
					said = append(said, err.Error()...)
				}
			}
			all := dump()
			if !bytes.Contains(all, []byte("ASIAQ3EGUSKN2DATA001")) {
				t.Fatal("the dump does not hold the imported entries")
			}
			for _, s := range raw {
				for _, form := range []string{s, hex.EncodeToString([]byte(s)), strings.ReplaceAll(s, "/", `\/`)} {
					if bytes.Contains(all, []byte(form)) {
						t.Errorf("raw secret %.12s… is in the %s store", s, bk)
					}
					if bytes.Contains(said, []byte(form)) {
						t.Errorf("raw secret %.12s… is in what import wrote:\n%s", s, said)
					}
				}
			}
		})
	}
}

// pgDump returns pg_dump of the schema dsn names, with every bytea
// literal also decoded.
func pgDump(t *testing.T, dsn string) []byte {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	schema := cfg.RuntimeParams["search_path"]
	bin, err := exec.LookPath("pg_dump")
	if err != nil {
		t.Fatalf("pg_dump is needed: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--dbname="+pgtest.BaseDSN(), `--schema="`+schema+`"`, "--strict-names", "--no-password", "--data-only").Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	var decoded []byte
	for _, f := range bytes.Fields(out) {
		f = bytes.TrimPrefix(bytes.TrimPrefix(f, []byte(`\\x`)), []byte(`\x`))
		if b, err := hex.DecodeString(string(f)); err == nil {
			decoded = append(decoded, b...)
		}
	}
	return append(out, decoded...)
}
