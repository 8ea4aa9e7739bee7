package pgcluster

import (
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func count(t *testing.T, c *Cluster) int {
	t.Helper()
	var n int
	if err := c.queryRow(t.Context(), "SELECT count(*) FROM t", &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReplicaPauseResume: a replica replays what the primary writes,
// stops seeing new writes while paused, and catches up when resumed; it
// refuses writes; both are gone when the test ends.
func TestReplicaPauseResume(t *testing.T) {
	var dirs []string
	t.Run("clusters", func(t *testing.T) {
		p := Start(t)
		if err := p.exec(t.Context(), "CREATE TABLE t (a int); INSERT INTO t SELECT generate_series(1, 10)"); err != nil {
			t.Fatal(err)
		}
		r := p.Replica(t)
		dirs = append(dirs, p.Dir, r.Dir)
		if r.Port == p.Port {
			t.Fatalf("replica port = primary port %d", p.Port)
		}
		if err := p.WaitReplayed(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		if got := count(t, r); got != 10 {
			t.Fatalf("rows on the replica = %d, want 10", got)
		}

		if err := r.PauseReplay(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := p.exec(t.Context(), "INSERT INTO t SELECT generate_series(11, 25)"); err != nil {
			t.Fatal(err)
		}
		if got := count(t, p); got != 25 {
			t.Fatalf("rows on the primary = %d, want 25", got)
		}
		if got := count(t, r); got != 10 {
			t.Fatalf("rows on the paused replica = %d, want the 10 of before the pause", got)
		}

		if err := r.ResumeReplay(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := p.WaitReplayed(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		if got := count(t, r); got != 25 {
			t.Fatalf("rows on the resumed replica = %d, want 25", got)
		}

		conn, err := pgx.Connect(t.Context(), r.DSN("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(t.Context())
		if _, err := conn.Exec(t.Context(), "INSERT INTO t VALUES (0)"); err == nil {
			t.Error("the replica accepted a write")
		}
	})
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("cluster directory %s after its test: %v, want removed", d, err)
		}
	}
}
