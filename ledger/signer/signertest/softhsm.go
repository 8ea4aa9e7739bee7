// Package signertest sets up the PKCS#11 token the signer tests sign with:
// a SoftHSM token of the test's own, in a directory the test owns.
package signertest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// SoftHSMModule is the PKCS#11 module of Debian's softhsm2 package.
const SoftHSMModule = "/usr/lib/softhsm/libsofthsm2.so"

// SoftHSMToken initialises a SoftHSM token labelled label, user PIN pin, in
// a temporary directory that SOFTHSM2_CONF points at for the rest of the
// test, and returns the module to load. It skips the test, loudly, when
// softhsm2 is not installed (.ci/run installs it).
func SoftHSMToken(t *testing.T, label, pin string) string {
	t.Helper()
	if _, err := os.Stat(SoftHSMModule); err != nil {
		t.Skipf("SKIPPED, NOT PASSED: SoftHSM is not installed (%v): apt-get install softhsm2", err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.MkdirAll(filepath.Join(dir, "tokens"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+filepath.Join(dir, "tokens")+"\nobjectstore.backend = file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	if out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label,
		"--pin", pin, "--so-pin", "5678").CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return SoftHSMModule
}
