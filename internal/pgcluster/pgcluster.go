// Package pgcluster starts private Postgres clusters for tests: a primary
// made with initdb and started with pg_ctl on a free loopback port, and
// streaming replicas of it made with pg_basebackup -R. Each cluster lives
// in a temporary directory and is stopped and removed when its test ends.
//
// Postgres refuses to run as root: when the test runs as root, the clusters
// run as the postgres user (the owner the Debian and RPM packages create),
// and their directories are given to that user.
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentledger/agentledger/internal/pgtest"
)

const (
	// startTimeout bounds pg_ctl start, pg_basebackup and a wait for
	// replay.
	startTimeout = 2 * time.Minute
	// startAttempts is how often a cluster is started on another port when
	// its port was taken between choosing it and binding it.
	startAttempts = 3
	// runAsUser runs the clusters when the test runs as root.
	runAsUser = "postgres"
)

// settings are appended to each cluster's postgresql.conf. The clusters
// hold test data only: durability is traded for speed.
var settings = []string{
	"listen_addresses = '127.0.0.1'",
	"fsync = off",
	"full_page_writes = off",
	"shared_buffers = 32MB",
	"max_connections = 200",
	"wal_level = replica",
	"max_wal_senders = 10",
	"hot_standby = on",
	"hot_standby_feedback = on",
	"wal_receiver_status_interval = 1s",
	"log_min_messages = warning",
}

// Cluster is a running Postgres cluster.
type Cluster struct {
	// Dir is the cluster's data directory.
	Dir string
	// Port is the loopback TCP port it listens on.
	Port int

	env *env
	log string
}

// env is where the Postgres programs are and whom they run as.
type env struct {
	bin  string
	cred *syscall.Credential
}

// Start initialises and starts a new primary cluster with user postgres
// (trust authentication on loopback, replication allowed) and returns it;
// it is stopped and its directory removed when t ends. Without the Postgres
// server programs the test is skipped, unless pgtest.EnvDSN is set (as in
// CI), when it fails.
func Start(t testing.TB) *Cluster {
	t.Helper()
	e := findEnv(t)
	dir := e.tempDir(t)
	c := &Cluster{Dir: filepath.Join(dir, "data"), env: e, log: filepath.Join(dir, "postgres.log")}
	if out, err := e.run(t.Context(), "initdb", "-D", c.Dir, "-U", "postgres", "--auth=trust", "-N", "-E", "UTF8", "--no-instructions"); err != nil {
		t.Fatalf("pgcluster: initdb: %v\n%s", err, out)
	}
	if err := appendConf(c.Dir, settings...); err != nil {
		t.Fatalf("pgcluster: %v", err)
	}
	c.start(t, dir)
	return c
}

// Replica makes a streaming replica of c with pg_basebackup -R and starts
// it as a hot standby: it answers reads and replays what c writes. It is
// stopped and removed when t ends, before c.
func (c *Cluster) Replica(t testing.TB) *Cluster {
	t.Helper()
	dir := c.env.tempDir(t)
	r := &Cluster{Dir: filepath.Join(dir, "data"), env: c.env, log: filepath.Join(dir, "postgres.log")}
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	if out, err := c.env.run(ctx, "pg_basebackup", "-D", r.Dir, "-h", "127.0.0.1", "-p", strconv.Itoa(c.Port),
		"-U", "postgres", "-R", "-X", "stream", "-c", "fast", "--no-sync"); err != nil {
		t.Fatalf("pgcluster: pg_basebackup: %v\n%s", err, out)
	}
	r.start(t, dir)
	return r
}

// start starts the cluster on a free port, retrying on another port if the
// chosen one was taken meanwhile, and registers its stop.
func (c *Cluster) start(t testing.TB, dir string) {
	t.Helper()
	t.Cleanup(func() {
		// Stop fast: the data is thrown away.
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		if _, err := os.Stat(filepath.Join(c.Dir, "postmaster.pid")); err == nil {
			if out, err := c.env.run(ctx, "pg_ctl", "stop", "-D", c.Dir, "-m", "immediate", "-w"); err != nil {
				t.Errorf("pgcluster: pg_ctl stop: %v\n%s", err, out)
			}
		}
		os.RemoveAll(dir)
	})
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("pgcluster: %v", err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
		out, err := c.env.run(ctx, "pg_ctl", "start", "-D", c.Dir, "-l", c.log, "-w", "-t", strconv.Itoa(int(startTimeout/time.Second)),
			"-o", fmt.Sprintf("-p %d -k %s", port, filepath.Dir(c.Dir)))
		cancel()
		if err == nil {
			c.Port = port
			return
		}
		logText, _ := os.ReadFile(c.log)
		if attempt == startAttempts || !strings.Contains(string(logText), "could not bind") {
			t.Fatalf("pgcluster: pg_ctl start: %v\n%s\n%s", err, out, logText)
		}
	}
}

// DSN returns the URL of database db (postgres, or one the test created)
// as user postgres.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// exec runs one statement on the cluster's postgres database.
func (c *Cluster) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgcluster: connect to port %d: %w", c.Port, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pgcluster: %s: %w", sql, err)
	}
	return nil
}

// queryRow runs one query on the cluster's postgres database and scans its
// row into dest.
func (c *Cluster) queryRow(ctx context.Context, sql string, dest ...any) error {
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgcluster: connect to port %d: %w", c.Port, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := conn.QueryRow(ctx, sql).Scan(dest...); err != nil {
		return fmt.Errorf("pgcluster: %s: %w", sql, err)
	}
	return nil
}

// PauseReplay stops a replica applying the primary's WAL (it still
// receives it) and waits until replay has stopped: from then on reads see
// the state of the moment.
func (c *Cluster) PauseReplay(ctx context.Context) error {
	if err := c.exec(ctx, "SELECT pg_wal_replay_pause()"); err != nil {
		return err
	}
	for {
		var state string
		if err := c.queryRow(ctx, "SELECT pg_get_wal_replay_pause_state()", &state); err != nil {
			return err
		}
		if state == "paused" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgcluster: replay did not pause: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ResumeReplay lets a paused replica apply the primary's WAL again.
func (c *Cluster) ResumeReplay(ctx context.Context) error {
	return c.exec(ctx, "SELECT pg_wal_replay_resume()")
}

// WaitReplayed waits until replica r has replayed everything primary c
// had written when it was called.
func (c *Cluster) WaitReplayed(ctx context.Context, r *Cluster) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	var lsn string
	if err := c.queryRow(ctx, "SELECT pg_current_wal_lsn()::text", &lsn); err != nil {
		return err
	}
	for {
		var done bool
		if err := r.queryRow(ctx, "SELECT pg_last_wal_replay_lsn() >= '"+lsn+"'::pg_lsn", &done); err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgcluster: replica did not replay up to %s: %w", lsn, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// findEnv finds the Postgres server programs and the user to run them as.
func findEnv(t testing.TB) *env {
	t.Helper()
	skip := func(format string, args ...any) {
		t.Helper()
		if os.Getenv(pgtest.EnvDSN) != "" {
			t.Fatalf("pgcluster: "+format, args...)
		}
		t.Skipf("pgcluster: "+format, args...)
	}
	bin, err := binDir()
	if err != nil {
		skip("%v", err)
	}
	e := &env{bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup(runAsUser)
		if err != nil {
			skip("running as root and there is no %s user to run Postgres as: %v", runAsUser, err)
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err := errors.Join(err1, err2); err != nil {
			t.Fatalf("pgcluster: user %s: %v", runAsUser, err)
		}
		e.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	return e
}

// binDir returns the directory of initdb: the newest of the Debian layout
// /usr/lib/postgresql/<version>/bin, else the one on $PATH.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	version := func(p string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	if len(dirs) > 0 {
		return filepath.Dir(dirs[0]), nil
	}
	p, err := exec.LookPath("initdb")
	if err != nil {
		return "", errors.New("no initdb in /usr/lib/postgresql/*/bin or on $PATH (install the postgresql package)")
	}
	return filepath.Dir(p), nil
}

// tempDir makes a directory for one cluster, owned by the user the
// cluster runs as. It is not t.TempDir, whose parent only root may enter.
func (e *env) tempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pgcluster-")
	if err != nil {
		t.Fatalf("pgcluster: %v", err)
	}
	if e.cred != nil {
		if err := os.Chown(dir, int(e.cred.Uid), int(e.cred.Gid)); err != nil {
			os.RemoveAll(dir)
			t.Fatalf("pgcluster: %v", err)
		}
	}
	return dir
}

// run runs one Postgres program as the cluster's user and returns its
// combined output.
func (e *env) run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, prog), args...)
	if e.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: e.cred}
	}
	// pg_ctl's server outlives the command: its output goes to the log
	// file, so that the pipes close when pg_ctl exits.
	return cmd.CombinedOutput()
}

// appendConf appends lines to the data directory's postgresql.conf, where
// later lines override earlier ones.
func appendConf(dataDir string, lines ...string) error {
	f, err := os.OpenFile(filepath.Join(dataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("postgresql.conf: %w", err)
	}
	_, werr := f.WriteString("\n# pgcluster\n" + strings.Join(lines, "\n") + "\n")
	return errors.Join(werr, f.Close())
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
