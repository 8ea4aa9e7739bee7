package evidence

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentledger/agentledger/internal/pgtest"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/postgres"
	"github.com/agentledger/agentledger/ledger/sqlite"
)

// benchFileMiB is the size of the CloudTrail file BenchmarkImport reads;
// AGENTLEDGER_BENCH_IMPORT_MIB overrides it (the goal is stated
// for 1 GiB: 1024).
func benchFileMiB(b *testing.B) int {
	if s := os.Getenv("AGENTLEDGER_BENCH_IMPORT_MIB"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("AGENTLEDGER_BENCH_IMPORT_MIB=%q: want a positive number", s)
		}
		return n
	}
	return 32
}

// benchSegments is how many files BenchmarkImport cuts its MiB into:
// AGENTLEDGER_BENCH_IMPORT_SEGMENTS, else one per 16 MiB. The import and
// its baseline alternate file by file, so that a change of the machine's
// load in the run weighs on both alike; 1 imports one file of the whole
// size (a single stream: its peak RSS is that of the whole import).
func benchSegments(b *testing.B, mib int) int {
	if s := os.Getenv("AGENTLEDGER_BENCH_IMPORT_SEGMENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > mib {
			b.Fatalf("AGENTLEDGER_BENCH_IMPORT_SEGMENTS=%q: want 1 to %d", s, mib)
		}
		return n
	}
	return max(1, mib/16)
}

// writeCloudTrailFile writes a CloudTrail log file of about mib MiB, as
// delivered to S3: distinct S3 data events made with a handful of STS
// sessions, streamed to disk, numbered from first. It returns the number
// of records.
func writeCloudTrailFile(b *testing.B, path string, mib, first int) int {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(`{"Records":[`)
	n := 0
	for written := 0; written < mib<<20; n++ {
		data := benchRecord(first + n)
		if n > 0 {
			w.WriteByte(',')
		}
		w.Write(data)
		written += len(data) + 1
	}
	w.WriteString("]}\n")
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return n
}

// benchRecord returns the n-th record of the benchmark's CloudTrail file:
// a distinct S3 data event made with one of a handful of STS sessions.
func benchRecord(n int) []byte {
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	rec := map[string]any{
		"eventVersion": "1.09", "eventID": fmt.Sprintf("bench-%012d", n), "eventTime": base.Add(time.Duration(n) * time.Millisecond).Format(time.RFC3339),
		"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "awsRegion": "us-east-1", "sourceIPAddress": fmt.Sprintf("10.0.%d.%d", n/250%250, n%250),
		"userAgent": "aws-sdk-go-v2/1.36.3 os/linux lang/go#1.26 api/s3#1.79.2", "requestID": fmt.Sprintf("%016X", n),
		"userIdentity": map[string]any{"type": "AssumedRole", "principalId": "AROAQ3EGUSKNEXAMPLE:agent-" + strconv.Itoa(n%16),
			"arn": "arn:aws:sts::123456789012:assumed-role/analyst/agent-" + strconv.Itoa(n%16), "accountId": "123456789012",
			"accessKeyId":    fmt.Sprintf("ASIAQ3EGUSKN%08d", n%16),
			"sessionContext": map[string]any{"attributes": map[string]any{"creationDate": "2026-03-01T09:00:00Z", "mfaAuthenticated": "false"}}},
		"requestParameters": map[string]any{"bucketName": "analytics-reports", "key": fmt.Sprintf("exports/2026/03/01/part-%08d.parquet", n),
			"Host": "analytics-reports.s3.us-east-1.amazonaws.com"},
		"responseElements": nil, "additionalEventData": map[string]any{"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
			"bytesTransferredIn": 0, "bytesTransferredOut": 1048576, "AuthenticationMethod": "AuthHeader"},
		"resources": []any{map[string]any{"type": "AWS::S3::Object", "ARN": fmt.Sprintf("arn:aws:s3:::analytics-reports/exports/part-%08d.parquet", n)}},
		"eventType": "AwsApiCall", "managementEvent": false, "recipientAccountId": "123456789012", "eventCategory": "Data", "readOnly": true,
	}
	data, _ := json.Marshal(rec)
	return data
}

// BenchmarkRead reads a CloudTrail log file of 1024 records from memory
// and maps them to entries, without the ledger: the parsing cost (split,
// decode, redact, map) an import adds to Log.Append (BenchmarkImport).
//
//	go test -run '^$' -bench BenchmarkRead -benchmem ./evidence/
func BenchmarkRead(b *testing.B) {
	p := newParser(b, FormatCloudTrail)
	const records = 1024
	file := []byte(`{"Records":[`)
	for i := range records {
		if i > 0 {
			file = append(file, ',')
		}
		file = append(file, benchRecord(i)...)
	}
	file = append(file, "]}\n"...)
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if err := p.Read(bytes.NewReader(file), func(r Record) error {
			if r.Err != nil || len(r.Entries) != 1 {
				return fmt.Errorf("record %d: %d entries, %v", r.Number, len(r.Entries), r.Err)
			}
			n++
			return nil
		}); err != nil || n != records {
			b.Fatalf("%d records, %v", n, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records), "ns/record")
}

type benchStore struct {
	name string
	open func(b *testing.B) ledger.Store
}

var benchStores = []benchStore{
	{"sqlite", func(b *testing.B) ledger.Store {
		s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "ledger.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}},
	{"postgres", func(b *testing.B) ledger.Store {
		s, err := postgres.Open(b.Context(), pgtest.NewSchema(b))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}},
}

func openBenchLog(b *testing.B, st ledger.Store) *ledger.Log {
	skey, _, err := ledger.GenerateKey("bench.agentledger.example")
	if err != nil {
		b.Fatal(err)
	}
	signer, err := ledger.NewSigner(skey)
	if err != nil {
		b.Fatal(err)
	}
	l, err := ledger.Open(st, ledger.Config{Signer: signer, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// peakRSS returns the process's peak resident set size (VmHWM) in MiB;
// resetPeakRSS starts a new peak (Linux: clear_refs 5).
func peakRSS() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return float64(kb) / 1024
		}
	}
	return -1
}

func resetPeakRSS() {
	debug.FreeOSMemory()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// BenchmarkImport imports CloudTrail log files into a fresh ledger and,
// in the same run, appends the same entries, already parsed, with
// Log.Append in batches of the same size to another fresh ledger (parsed
// batch by batch between the timed Append calls, so that memory stays
// bounded at 1 GiB), alternating file by file (benchSegments): the rate of
// each, their ratio (goal ≥ 0.5) and the import's peak RSS.
//
//	AGENTLEDGER_BENCH_IMPORT_MIB=1024 go test -run '^$' -bench BenchmarkImport -benchtime 1x -count 3 ./evidence/
func BenchmarkImport(b *testing.B) {
	mib := benchFileMiB(b)
	segs := benchSegments(b, mib)
	paths := make([]string, segs)
	counts := make([]int, segs)
	records := 0
	for i := range paths {
		paths[i] = filepath.Join(b.TempDir(), fmt.Sprintf("cloudtrail-%03d.json", i))
		counts[i] = writeCloudTrailFile(b, paths[i], max(1, mib/segs), records)
		records += counts[i]
	}
	p := newParser(b, FormatCloudTrail)
	for _, bs := range benchStores {
		b.Run(bs.name, func(b *testing.B) {
			var importSecs, appendSecs, rss float64
			for range b.N {
				imp, base := openBenchLog(b, bs.open(b)), openBenchLog(b, bs.open(b))
				for i, path := range paths {
					secs, peak := benchImportFile(b, p, imp, path, counts[i])
					importSecs += secs
					rss = max(rss, peak)
					b.StopTimer()
					appendSecs += benchAppendFile(b, p, base, path)
					b.StartTimer()
				}
				imp.Close(context.Background())
				base.Close(context.Background())
			}
			n := float64(records * b.N)
			b.ReportMetric(n/importSecs, "import_entries/s")
			b.ReportMetric(n/appendSecs, "append_entries/s")
			b.ReportMetric(appendSecs/importSecs, "ratio")
			b.ReportMetric(rss, "import_peak_rss_MiB")
			b.ReportMetric(float64(records), "records")
		})
	}
}

// benchImportFile imports the file at path, streamed from disk, into l
// and returns how long it took and the peak RSS in MiB.
func benchImportFile(b *testing.B, p *Parser, l *ledger.Log, path string, records int) (float64, float64) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	resetPeakRSS()
	start := time.Now()
	st, err := Import(b.Context(), p, l, f, func(r Record) { b.Fatalf("refused: %v", r.Err) })
	secs := time.Since(start).Seconds()
	if err != nil || st.Entries != records {
		b.Fatalf("import %s: %d of %d entries, %v", path, st.Entries, records, err)
	}
	return secs, peakRSS()
}

// benchAppendFile parses the file at path and appends its entries to l in
// batches of ImportBatch, and returns the time spent in Log.Append alone.
func benchAppendFile(b *testing.B, p *Parser, l *ledger.Log, path string) float64 {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	batch := make([]ledger.Entry, 0, ImportBatch)
	var appendDur time.Duration
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		start := time.Now()
		_, err := l.Append(b.Context(), batch)
		appendDur += time.Since(start)
		batch = batch[:0]
		return err
	}
	if err := p.Read(f, func(r Record) error {
		for _, e := range r.Entries {
			batch = append(batch, e)
			if len(batch) == ImportBatch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	if err := flush(); err != nil {
		b.Fatal(err)
	}
	return appendDur.Seconds()
}
