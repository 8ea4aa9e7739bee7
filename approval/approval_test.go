package approval

import (
	"bytes"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// keygen makes an ed25519 key pair with ssh-keygen and returns the
// private key's path and the public key line.
func keygen(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", p).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(p + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return p, strings.TrimSpace(string(pub))
}

// sign signs msg with ssh-keygen -Y sign in namespace ns.
func sign(t *testing.T, key, ns string, msg []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "statement")
	if err := os.WriteFile(f, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ssh-keygen", "-q", "-Y", "sign", "-f", key, "-n", ns, f).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y sign: %v: %s", err, out)
	}
	sig, err := os.ReadFile(f + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	return string(sig)
}

func fingerprint(t *testing.T, key string) string {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", key+".pub").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))[1]
}

func TestVerifySSH(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Fatal("ssh-keygen is needed to make the signatures")
	}
	dir := t.TempDir()
	alice, alicePub := keygen(t, dir, "alice")
	mallory, malloryPub := keygen(t, dir, "mallory")
	stranger, _ := keygen(t, dir, "stranger")
	signers, err := ParseAllowedSigners(strings.NewReader(
		"# approvers\n" +
			`alice@example.com namespaces="agentledger-approval" ` + alicePub + "\n" +
			"mallory@example.com " + malloryPub + "\n"))
	if err != nil {
		t.Fatalf("ParseAllowedSigners: %v", err)
	}
	at := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
	st := Statement{Approver: "alice@example.com", Action: "POST /v1/payments", Target: "api.bank.example",
		Credential: "AKIAIOSFODNN7EXAMPLE", Expires: at.Add(10 * time.Minute), Run: "0102030405060708090a0b0c0d0e0f10"}
	msg, err := st.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	good := sign(t, alice, Namespace, msg)
	other := st
	other.Target = "api.evil.example"
	otherMsg, _ := other.Bytes()
	forged := forge(t, good)

	for _, tt := range []struct {
		name       string
		st         Statement
		sig        string
		used       time.Time
		want       string
		key, whose string
	}{
		{"signed by the approver", st, good, at.Add(time.Minute), StatusVerified, alice, "alice@example.com"},
		{"forged signature", st, forged, at, StatusBadSignature, alice, ""},
		{"signature over another statement", other, good, at, StatusBadSignature, alice, ""},
		{"signed for another target, presented as this one", st, sign(t, alice, Namespace, otherMsg), at, StatusBadSignature, alice, ""},
		{"wrong signer: an allowed key of someone else", st, sign(t, mallory, Namespace, msg), at, StatusWrongSigner, mallory, ""},
		{"a key in no line", st, sign(t, stranger, Namespace, msg), at, StatusUnknownKey, stranger, ""},
		{"another namespace", st, sign(t, alice, "git", msg), at, StatusBadSignature, alice, ""},
		{"used after it expired", st, good, at.Add(time.Hour), StatusExpired, alice, "alice@example.com"},
		{"unsigned", st, "", at, StatusUnsigned, "", ""},
		{"not a signature", st, "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----", at, StatusMalformed, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := signers.Verify(tt.st, tt.sig, at, tt.used)
			if r.Status != tt.want || r.Signer != tt.whose {
				t.Errorf("Verify = %s signer %q (%v), want %s signer %q", r.Status, r.Signer, r.Err, tt.want, tt.whose)
			}
			if tt.key != "" && r.Key != fingerprint(t, tt.key) {
				t.Errorf("key %s, want %s", r.Key, fingerprint(t, tt.key))
			}
			if r.Verified() != (tt.want == StatusVerified) {
				t.Errorf("Verified() = %v", r.Verified())
			}
		})
	}
}

// forge flips a bit of the signature's last byte, inside the signature
// blob.
func forge(t *testing.T, armored string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(armored), "\n")
	raw, err := base64.StdEncoding.DecodeString(strings.Join(lines[1:len(lines)-1], ""))
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.Clone(raw)
	raw[len(raw)-1] ^= 1
	return lines[0] + "\n" + base64.StdEncoding.EncodeToString(raw) + "\n" + lines[len(lines)-1] + "\n"
}

func TestStatementBytes(t *testing.T) {
	st := Statement{Approver: "alice@example.com", Action: "POST /v1/payments", Target: "api.bank.example",
		Expires: time.Date(2026, 12, 6, 7, 0, 0, 500, time.FixedZone("CET", 3600)), Run: "run-1"}
	got, err := st.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/statement.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Bytes =\n%s\nwant\n%s", got, want)
	}
	for _, bad := range []Statement{
		{Action: "a", Target: "t", Expires: st.Expires, Run: "r"},
		{Approver: "a\nrun x", Action: "a", Target: "t", Expires: st.Expires, Run: "r"},
		{Approver: "a", Action: "a", Target: "t", Run: "r"},
		{Approver: "a", Action: "a", Target: "t", Expires: st.Expires},
	} {
		if _, err := bad.Bytes(); err == nil {
			t.Errorf("Bytes(%+v) succeeded", bad)
		}
	}
}

func TestMismatches(t *testing.T) {
	at := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
	st := Statement{Approver: "alice", Action: "POST /v1/payments", Target: "api.bank.example", Credential: "cred-1", Expires: at, Run: "run-1"}
	match := Performed{Action: "POST /v1/payments", Target: "api.bank.example", Credential: "cred-1", Run: "run-1", At: at}
	for _, tt := range []struct {
		name string
		edit func(*Performed)
		want []string
	}{
		{"as approved", func(*Performed) {}, nil},
		{"different target", func(p *Performed) { p.Target = "api.evil.example" }, []string{"target"}},
		{"different action", func(p *Performed) { p.Action = "DELETE /v1/payments" }, []string{"action"}},
		{"other credential", func(p *Performed) { p.Credential = "cred-2" }, []string{"credential"}},
		{"another run", func(p *Performed) { p.Run = "run-2" }, []string{"run"}},
		{"after expiry", func(p *Performed) { p.At = at.Add(time.Second) }, []string{"expired"}},
	} {
		p := match
		tt.edit(&p)
		if got := Mismatches(st, p); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Mismatches = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestParseAllowedSignersRefuses(t *testing.T) {
	for _, line := range []string{
		"alice@example.com",
		"alice@example.com ssh-ed25519 notbase64",
		`alice@example.com cert-authority ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl`,
		`alice@example.com bogus="x" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl`,
		`alice@example.com valid-after="tomorrow" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl`,
	} {
		if _, err := ParseAllowedSigners(strings.NewReader(line + "\n")); err == nil {
			t.Errorf("ParseAllowedSigners(%q) succeeded", line)
		}
	}
}
