package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

func TestRoles(t *testing.T) {
	tests := []struct {
		have, need Role
		want       bool
	}{
		{RoleAuditor, RoleAuditor, true},
		{RoleAuditor, RoleResponder, false},
		{RoleAuditor, RoleAdmin, false},
		{RoleResponder, RoleAuditor, true},
		{RoleResponder, RoleResponder, true},
		{RoleResponder, RoleAdmin, false},
		{RoleAdmin, RoleAuditor, true},
		{RoleAdmin, RoleAdmin, true},
		{Role("root"), RoleAuditor, false},
		{Role(""), RoleAuditor, false},
		{RoleAdmin, Role("root"), false},
		{RoleIngest, RoleIngest, true},
		{RoleIngest, RoleAuditor, false},
		{RoleAdmin, RoleIngest, false},
		{RoleAuditor, RoleIngest, false},
	}
	for _, tt := range tests {
		if got := tt.have.Allows(tt.need); got != tt.want {
			t.Errorf("Role(%q).Allows(%q) = %v, want %v", tt.have, tt.need, got, tt.want)
		}
	}
	for _, s := range []string{"auditor", "responder", "admin", "ingest"} {
		if r, err := ParseRole(s); err != nil || string(r) != s {
			t.Errorf("ParseRole(%q) = %q, %v", s, r, err)
		}
	}
	for _, s := range []string{"", "Admin", "root"} {
		if _, err := ParseRole(s); err == nil {
			t.Errorf("ParseRole(%q) succeeded", s)
		}
	}
}

func TestGenerate(t *testing.T) {
	a, b := Generate(), Generate()
	if a == b {
		t.Fatalf("Generate() twice = %q", a)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(a, Prefix))
	if !strings.HasPrefix(a, Prefix) || err != nil || len(raw) != 32 {
		t.Errorf("Generate() = %q, want %s and 32 base64url bytes", a, Prefix)
	}
	if Hash(a) != sha256.Sum256([]byte(a)) {
		t.Errorf("Hash is not SHA-256")
	}
}

func TestValidName(t *testing.T) {
	for _, name := range []string{"ci", "oncall@example.com", "svc:audit-1_x.y"} {
		if err := ValidName(name); err != nil {
			t.Errorf("ValidName(%q) = %v", name, err)
		}
	}
	for _, name := range []string{"", "has space", "new\nline", strings.Repeat("a", MaxNameLength+1), "é"} {
		if err := ValidName(name); err == nil {
			t.Errorf("ValidName(%q) = nil, want an error", name)
		}
	}
}
