// Package authtest is the conformance suite for auth.Store
// implementations. A store's test calls Run with a function that returns a
// fresh, empty store.
package authtest

import (
	"errors"
	"testing"
	"time"

	"github.com/agentledger/agentledger/auth"
	"github.com/agentledger/agentledger/ledger"
)

// Run runs the suite. newStore returns a fresh store with no tokens.
func Run(t *testing.T, newStore func(t *testing.T) auth.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s auth.Store)
	}{
		{"CreateLookupList", testCreateLookupList},
		{"Revoke", testRevoke},
		{"Conflicts", testConflicts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)

func token(name string, role auth.Role, secret string, created time.Time) auth.Token {
	return auth.Token{Name: name, Role: role, Hash: auth.Hash(secret), Created: created}
}

func equal(a, b auth.Token) bool {
	return a.Name == b.Name && a.Role == b.Role && a.Hash == b.Hash &&
		a.Created.Equal(b.Created) && a.Revoked.Equal(b.Revoked)
}

func testCreateLookupList(t *testing.T, s auth.Store) {
	ctx := t.Context()
	if got, err := s.ListTokens(ctx); err != nil || len(got) != 0 {
		t.Fatalf("ListTokens(empty) = %v, %v, want none", got, err)
	}
	want := []auth.Token{
		token("ci", auth.RoleAuditor, "a", epoch),
		token("oncall@example.com", auth.RoleResponder, "b", epoch.Add(time.Second)),
		token("root", auth.RoleAdmin, "c", epoch.Add(2*time.Second)),
		token("deploy-bot", auth.RoleIngest, "d", epoch.Add(3*time.Second)),
	}
	for _, tok := range want {
		if err := s.CreateToken(ctx, tok); err != nil {
			t.Fatalf("CreateToken(%s) = %v", tok.Name, err)
		}
	}
	for i, secret := range []string{"a", "b", "c", "d"} {
		got, err := s.LookupToken(ctx, auth.Hash(secret))
		if err != nil || !equal(got, want[i]) {
			t.Errorf("LookupToken(%s) = %+v, %v, want %+v", secret, got, err, want[i])
		}
	}
	if _, err := s.LookupToken(ctx, auth.Hash("nope")); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("LookupToken(unknown) = %v, want ErrNotFound", err)
	}
	got, err := s.ListTokens(ctx)
	if err != nil || len(got) != len(want) {
		t.Fatalf("ListTokens = %v, %v, want %d tokens", got, err, len(want))
	}
	for i := range got {
		if !equal(got[i], want[i]) {
			t.Errorf("ListTokens[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func testRevoke(t *testing.T, s auth.Store) {
	ctx := t.Context()
	tok := token("ci", auth.RoleResponder, "a", epoch)
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	at := epoch.Add(time.Hour)
	got, err := s.RevokeToken(ctx, "ci", at)
	tok.Revoked = at
	if err != nil || !equal(got, tok) {
		t.Fatalf("RevokeToken(ci) = %+v, %v, want %+v", got, err, tok)
	}
	if got, err := s.LookupToken(ctx, auth.Hash("a")); err != nil || got.Active() || !got.Revoked.Equal(at) {
		t.Errorf("LookupToken(revoked) = %+v, %v, want revoked at %v", got, err, at)
	}
	if _, err := s.RevokeToken(ctx, "ci", at); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("RevokeToken(ci) again = %v, want ErrNotFound", err)
	}
	if _, err := s.RevokeToken(ctx, "nobody", at); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("RevokeToken(nobody) = %v, want ErrNotFound", err)
	}
	// The name is free again once its token is revoked.
	again := token("ci", auth.RoleAuditor, "b", epoch.Add(2*time.Hour))
	if err := s.CreateToken(ctx, again); err != nil {
		t.Fatalf("CreateToken(ci) after revoke = %v", err)
	}
	list, err := s.ListTokens(ctx)
	if err != nil || len(list) != 2 || !equal(list[0], tok) || !equal(list[1], again) {
		t.Errorf("ListTokens = %+v, %v, want the revoked and the new token", list, err)
	}
}

func testConflicts(t *testing.T, s auth.Store) {
	ctx := t.Context()
	if err := s.CreateToken(ctx, token("ci", auth.RoleAuditor, "a", epoch)); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []auth.Token{
		token("ci", auth.RoleAdmin, "b", epoch),    // an active token has the name
		token("other", auth.RoleAdmin, "a", epoch), // the hash is taken
	} {
		if err := s.CreateToken(ctx, tok); !errors.Is(err, ledger.ErrConflict) {
			t.Errorf("CreateToken(%s) = %v, want ErrConflict", tok.Name, err)
		}
	}
	if list, err := s.ListTokens(ctx); err != nil || len(list) != 1 {
		t.Errorf("ListTokens = %v, %v, want 1 token", list, err)
	}
}
