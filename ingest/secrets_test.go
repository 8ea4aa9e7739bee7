package ingest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/agentledger/agentledger/internal/pgtest"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/postgres"
)

// Secrets TestNoSecretStored plants besides those of helpers_test.go.
const (
	leakPassword    = "correct-horse-battery-staple-9"
	leakQueryToken  = "q7Zx9PLmN2vB4kT8"
	leakKeyedSecret = "s3cr3t-v4lue-in-json-args"
	leakCookie      = "session=9f8e7d6c5b4a39281706"
)

// dumpPart is one piece of everything a backend holds: a database file, or
// a pg_dump output.
type dumpPart struct {
	name string
	data []byte
}

// secretBackends are the stores TestNoSecretStored runs on, each with a way
// to dump every byte the ledger holds.
var secretBackends = []struct {
	name string
	open func(t *testing.T) (tl *testLedger, dump func(t *testing.T) []dumpPart)
}{
	{"sqlite", openSQLiteDump},
	{"postgres", openPostgresDump},
}

// openSQLiteDump opens a ledger in a fresh SQLite file; its dump is every
// file of the database's directory (the database, its WAL and shared
// memory).
func openSQLiteDump(t *testing.T) (*testLedger, func(*testing.T) []dumpPart) {
	tl := newSQLiteLedger(t, nil)
	return tl, func(t *testing.T) []dumpPart {
		t.Helper()
		files, err := filepath.Glob(filepath.Join(tl.dir, "*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no database files in %s (%v)", tl.dir, err)
		}
		var parts []dumpPart
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, dumpPart{filepath.Base(f), b})
		}
		return parts
	}
}

// openPostgresDump opens a ledger in a fresh Postgres schema (skipping the
// test if there is no test database; see internal/pgtest). Its dump is
// pg_dump of that schema, data only and in full (DDL and data) in the
// default plain format, each also with every bytea literal decoded, so that
// text inside leaves and content is searched as it is and as hex.
func openPostgresDump(t *testing.T) (*testLedger, func(*testing.T) []dumpPart) {
	dsn := pgtest.NewSchema(t)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal("pgtest.NewSchema's connection string does not parse")
	}
	schema := cfg.RuntimeParams["search_path"]
	if schema == "" {
		t.Fatal("pgtest.NewSchema's connection string names no search_path")
	}
	pgDump, err := exec.LookPath("pg_dump")
	if err != nil {
		t.Fatalf("pg_dump is needed to dump the ledger's schema but was not found (install the PostgreSQL client, e.g. apt-get install postgresql-client): %v", err)
	}
	store, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	tl := openTestLog(t, "", store, nil)
	return tl, func(t *testing.T) []dumpPart {
		t.Helper()
		var parts []dumpPart
		for _, d := range []struct {
			name string
			args []string
		}{
			{"pg_dump --data-only", []string{"--data-only"}},
			{"pg_dump", nil},
		} {
			out := runPGDump(t, pgDump, schema, d.args...)
			parts = append(parts, dumpPart{d.name, out}, dumpPart{d.name + " (bytea decoded)", decodeBytea(out)})
		}
		return parts
	}
}

// runPGDump dumps schema of the test database in pg_dump's plain format.
// --strict-names makes pg_dump fail if the quoted pattern matches no
// schema, so a quoting mistake cannot pass as an empty dump.
func runPGDump(t *testing.T, pgDump, schema string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The pattern's double quotes make the name literal ("" is a quote).
	pattern := `"` + strings.ReplaceAll(schema, `"`, `""`) + `"`
	args = append([]string{"--dbname=" + pgtest.BaseDSN(), "--schema=" + pattern, "--strict-names", "--no-password"}, args...)
	cmd := exec.CommandContext(ctx, pgDump, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		// Not the arguments: the connection string may hold a password.
		t.Fatalf("pg_dump --schema=%s %s: %v\n%s", pattern, strings.Join(args[4:], " "), err, stderr.Bytes())
	}
	return out
}

// byteaHex matches a bytea literal in pg_dump's output: \x and hex digits,
// the backslash doubled inside COPY data.
var byteaHex = regexp.MustCompile(`\\\\?x((?:[0-9a-f]{2})+)`)

// decodeBytea returns the bytes of every bytea literal in dump, one per
// line.
func decodeBytea(dump []byte) []byte {
	var out []byte
	for _, m := range byteaHex.FindAllSubmatch(dump, -1) {
		b := make([]byte, hex.DecodedLen(len(m[1])))
		hex.Decode(b, m[1])
		out = append(out, b...)
		out = append(out, '\n')
	}
	return out
}

// copyRowCount returns the number of rows of table's COPY block in a
// pg_dump, or -1 if there is none.
func copyRowCount(dump []byte, table string) int {
	head := regexp.MustCompile(`(?m)^COPY [^ ]+\.` + regexp.QuoteMeta(table) + ` \(.*\) FROM stdin;\n`)
	loc := head.FindIndex(dump)
	if loc == nil {
		return -1
	}
	rows, _, ok := bytes.Cut(dump[loc[1]:], []byte("\\.\n"))
	if !ok {
		return -1
	}
	return bytes.Count(rows, []byte("\n"))
}

// secretForms returns the strings that would betray s in a dump, each
// with the name of its form: s itself, its hex (either case), its
// standard and URL-safe base64 at each of the three alignments it can
// have inside a longer encoded value (the characters that depend on s
// alone), and s as a JSON string body with / escaped or not, also with
// backslashes doubled as COPY's text format writes them.
func secretForms(s string) map[string]string {
	forms := map[string]string{}
	add := func(form, needle string) {
		if _, ok := forms[needle]; !ok && needle != "" {
			forms[needle] = form
		}
	}
	add("plain", s)
	add("hex", hex.EncodeToString([]byte(s)))
	add("HEX", strings.ToUpper(hex.EncodeToString([]byte(s))))
	for _, enc := range []struct {
		name string
		e    *base64.Encoding
	}{{"base64", base64.StdEncoding}, {"base64url", base64.URLEncoding}} {
		for k := range 3 {
			b := append(make([]byte, k), s...)
			full := enc.e.EncodeToString(b)
			from := 0
			if k > 0 {
				from = 4 // the first quantum mixes in the preceding bytes
			}
			add(fmt.Sprintf("%s@%d", enc.name, k), full[from:4*(len(b)/3)])
		}
	}
	j, _ := json.Marshal(s)
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	e.Encode(s)
	for _, q := range []string{string(j), strings.TrimSuffix(buf.String(), "\n")} {
		body := strings.TrimSuffix(strings.TrimPrefix(q, `"`), `"`)
		for _, v := range []string{body, strings.ReplaceAll(body, "/", `\/`)} {
			add("JSON-escaped", v)
			add("JSON-escaped in COPY", strings.ReplaceAll(v, `\`, `\\`))
		}
	}
	return forms
}

// TestNoSecretStored sends spans and log events full of secrets, then
// searches everything the ledger holds (every byte of the SQLite database
// and its WAL; pg_dump of the Postgres schema) for each raw secret, plain
// and encoded: none may be there, while the fingerprints that let a
// responder find them are.
func TestNoSecretStored(t *testing.T) {
	raw := []string{secretJWT, secretAWS, secretGitHub, secretOpenAI, leakPassword, leakQueryToken, leakKeyedSecret, leakCookie}
	for _, bk := range secretBackends {
		t.Run(bk.name, func(t *testing.T) {
			tl, dump := bk.open(t)
			sendSecrets(t, tl)

			entries := tl.entries(t)
			if len(entries) < 7 {
				t.Fatalf("ledger holds %d entries, want at least 7", len(entries))
			}
			r := newRedactor(t)
			var fingerprints []string
			for _, s := range []string{secretJWT, secretGitHub, secretOpenAI, leakPassword, leakQueryToken, leakKeyedSecret} {
				fp := r.Fingerprint(s)
				fingerprints = append(fingerprints, fp)
				idx, err := tl.store.Find(t.Context(), ledger.Ref{Key: ledger.RefFingerprint, Value: fp}, 0, 100)
				if err != nil || len(idx) == 0 {
					t.Errorf("Find(fingerprint of %.12s…) = %v, %v; want entries", s, idx, err)
				}
			}

			scan := func(when string) {
				parts := dump(t)
				var all []byte
				for _, p := range parts {
					all = append(all, p.data...)
					for _, s := range raw {
						for needle, form := range secretForms(s) {
							if bytes.Contains(p.data, []byte(needle)) {
								t.Errorf("%s: %s holds the secret %.12s… (%s)", when, p.name, s, form)
							}
						}
					}
				}
				// The dump must hold the entries, so that finding nothing
				// means something: their names, the credential and the
				// fingerprints.
				for _, want := range append([]string{"hmac-sha256:", "leaky-agent", "execute_tool deploy", "cred-1"}, fingerprints...) {
					if !bytes.Contains(all, []byte(want)) {
						t.Errorf("%s: the dump lacks %q: it does not hold the entries", when, want)
					}
				}
				for _, p := range parts {
					if strings.HasPrefix(p.name, "pg_dump") && !strings.Contains(p.name, "decoded") {
						if n := copyRowCount(p.data, "entries"); n != len(entries) {
							t.Errorf("%s: %s has %d rows of entries, want %d", when, p.name, n, len(entries))
						}
					}
				}
			}
			scan("while open")
			tl.close(t)
			scan("after close")
		})
	}
}

// sendSecrets sends an agent run whose spans, span events and errors carry
// secrets through the OTel SDK's OTLP/gRPC exporter, and a credential event
// log record with secrets in its body, to a receiver on tl.
func sendSecrets(t *testing.T, tl *testLedger) {
	t.Helper()
	grpcAddr, _ := startServer(t, tl, nil)
	exp, err := otlptracegrpc.New(t.Context(), otlptracegrpc.WithEndpoint(grpcAddr), otlptracegrpc.WithInsecure(), otlptracegrpc.WithRetry(fastRetry.grpc))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())

	tp, rec := recorder("leaky-agent")
	tr := tp.Tracer("agent")
	ctx, root := tr.Start(t.Context(), "invoke_agent leaky "+secretGitHub, trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "invoke_agent"),
		attribute.String("app.env", "AWS_SECRET_ACCESS_KEY="+secretAWS),
	))
	_, chat := tr.Start(ctx, "chat", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.String("gen_ai.input.messages", `[{"role":"user","parts":[{"type":"text","content":"use my key `+secretOpenAI+` and token `+secretGitHub+`"}]}]`),
		attribute.String("gen_ai.output.messages", `[{"role":"assistant","parts":[{"type":"reasoning","content":"The user gave `+secretOpenAI+`; I will pass it."},{"type":"tool_call","id":"call_1","name":"deploy","arguments":{"password":"`+leakPassword+`"}}]}]`),
	))
	chat.End()
	tctx, tool := tr.Start(ctx, "execute_tool deploy", trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "execute_tool"),
		attribute.String("gen_ai.tool.call.id", "call_1"),
		attribute.String("gen_ai.tool.call.arguments", `{"api_key":"`+leakKeyedSecret+`","region":"eu-west-1"}`),
		attribute.String("gen_ai.tool.call.result", `{"AccessKeyId":"`+secretAWSKeyID+`","SecretAccessKey":"`+secretAWS+`"}`),
	))
	_, api := tr.Start(tctx, "GET", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("http.request.method", "GET"),
		attribute.String("url.full", "https://deploy:"+leakPassword+"@api.example.com/v1/deploy?access_token="+leakQueryToken+"&region=eu"),
		attribute.StringSlice("http.request.header.authorization", []string{"Bearer " + secretJWT}),
		attribute.StringSlice("http.request.header.cookie", []string{leakCookie}),
		attribute.String("db.query.text", "UPDATE users SET token = '"+secretGitHub+"'"),
	))
	api.AddEvent("credential.issue", trace.WithAttributes(
		attribute.String("credential.id", "cred-1"),
		attribute.String("credential.secret", leakPassword),
	))
	api.End()
	tool.End()
	root.RecordError(os.ErrPermission, trace.WithAttributes(attribute.String("exception.message", "denied for "+secretJWT)))
	root.End()
	if err := exp.ExportSpans(t.Context(), rec.Ended()); err != nil {
		t.Fatalf("ExportSpans: %v", err)
	}

	// A credential event as a log record, with the secret in its body.
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetEventName("credential.revoke")
	lr.SetTraceID(pcommon.TraceID{9})
	body := lr.Body().SetEmptyMap()
	body.PutStr("credential.id", "cred-1")
	body.PutStr("token", secretGitHub)
	body.PutStr("note", "revoked "+secretJWT)
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := plogotlp.NewGRPCClient(conn).Export(t.Context(), plogotlp.NewExportRequestFromLogs(ld)); err != nil {
		t.Fatalf("logs Export: %v", err)
	}
}
