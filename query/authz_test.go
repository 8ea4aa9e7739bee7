package query

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/auth"
)

// requestFor returns a request that exercises route r in the world with
// valid parameters.
func requestFor(t *testing.T, w *world, r route, caller string) (target string, body any) {
	t.Helper()
	idx := func(name string) string { return strconv.FormatUint(w.idx[name], 10) }
	switch r.method + " " + r.path {
	case "GET /tile/*":
		return "/tile/0/000.p/1", nil
	case "GET /tile/entries/*":
		return "/tile/entries/000.p/1", nil
	case "GET /v1/index":
		w.indexed()
		return "/v1/index?key=credential:" + credC1, nil
	case "GET /v1/index/note":
		w.indexed()
		return r.path, nil
	case "GET /v1/entries/:index":
		return "/v1/entries/" + idx("a.s1"), nil
	case "GET /v1/credentials/:id":
		return "/v1/credentials/" + credC1, nil
	case "GET /v1/credentials/:id/blast-radius":
		return "/v1/credentials/" + credC1 + "/blast-radius", nil
	case "GET /v1/credentials/:id/proved":
		return "/v1/credentials/" + credC1 + "/proved", nil
	case "GET /v1/federation/credentials/:id":
		return "/v1/federation/credentials/" + credC1, nil
	case "POST /v1/credentials/lookup":
		return "/v1/credentials/lookup", api.LookupRequest{Token: tokenC1}
	case "GET /v1/runs/:trace_id":
		return "/v1/runs/" + traceA, nil
	case "GET /v1/agents/:agent_id/runs":
		return "/v1/agents/" + agentTriage + "/runs", nil
	case "GET /v1/search":
		return "/v1/search?kind=llm", nil
	case "GET /v1/proofs/inclusion":
		return "/v1/proofs/inclusion?index=1", nil
	case "GET /v1/proofs/consistency":
		return "/v1/proofs/consistency?from=1", nil
	case "POST /v1/erasures":
		return "/v1/erasures", api.ErasureRequest{Indices: []uint64{w.idx["a.k1"]}, Reason: "authorisation matrix"}
	case "POST /v1/tokens":
		return "/v1/tokens", api.NewTokenRequest{Name: "matrix-" + caller, Role: "auditor"}
	case "DELETE /v1/tokens/:name":
		return "/v1/tokens/test-auditor-spare", nil
	}
	if strings.Contains(r.path, ":") || strings.Contains(r.path, "*") {
		t.Fatalf("no request for route %s %s: add one to requestFor", r.method, r.path)
	}
	return r.path, nil
}

// TestAuthorisation sends a request to every route as every role, with a
// revoked token and with none: open routes answer everyone, the rest 401
// without a valid token and 403 below their role.
func TestAuthorisation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{})
		if _, _, err := auth.Create(t.Context(), w.store, "test-auditor-spare", auth.RoleAuditor); err != nil {
			t.Fatal(err)
		}
		for _, r := range w.srv.routes {
			for _, caller := range callers {
				target, body := requestFor(t, w, r, caller)
				got := w.do(caller, r.method, target, body)
				var want string
				switch {
				case r.role == open:
					want = "allowed"
				case caller == "none" || caller == "revoked":
					want = "401"
				case !auth.Role(caller).Allows(r.role):
					want = "403"
				default:
					want = "allowed"
				}
				ok := false
				switch want {
				case "allowed":
					ok = got.status < 400
				case "401":
					ok = got.status == http.StatusUnauthorized && strings.HasPrefix(got.header.Get("WWW-Authenticate"), "Bearer")
				case "403":
					ok = got.status == http.StatusForbidden
				}
				if !ok {
					t.Errorf("%s %s as %s = %d, want %s\n%s", r.method, target, caller, got.status, want, got.body)
				}
				if got.status >= 400 {
					checkEnvelope(t, r.method+" "+target, got)
				}
			}
		}
	})
}

// TestPublicTiles checks that the hash tiles are open when configured so,
// the entry bundles (which name agents, credentials and token names) only
// when configured so as well, and nothing else is.
func TestPublicTiles(t *testing.T) {
	b := backends()[0]
	for _, tc := range []struct {
		name          string
		opts          worldOptions
		tiles, bundle int
	}{
		{"private", worldOptions{}, http.StatusUnauthorized, http.StatusUnauthorized},
		{"hashes", worldOptions{publicTiles: true}, http.StatusOK, http.StatusUnauthorized},
		{"all", worldOptions{publicTiles: true, publicEntries: true}, http.StatusOK, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, b, tc.opts)
			got := w.do("none", http.MethodGet, "/tile/0/000.p/1", nil)
			if got.status != tc.tiles {
				t.Errorf("GET /tile/0/000.p/1 without a token = %d, want %d", got.status, tc.tiles)
			}
			if tc.tiles == http.StatusOK && got.header.Get("Cache-Control") != tileCacheControlPublic {
				t.Errorf("GET /tile/0/000.p/1: Cache-Control %q, want %q", got.header.Get("Cache-Control"), tileCacheControlPublic)
			}
			if got := w.do("none", http.MethodGet, "/tile/entries/000.p/1", nil); got.status != tc.bundle {
				t.Errorf("GET /tile/entries/000.p/1 without a token = %d, want %d", got.status, tc.bundle)
			}
			// Other spellings of a bundle's path never reach it through the
			// hash tiles' route.
			for _, path := range []string{"/tile//entries/000.p/1", "/tile/./entries/000.p/1", "/tile/%65ntries/000.p/1"} {
				if got := w.do("none", http.MethodGet, path, nil); got.status == http.StatusOK {
					t.Errorf("GET %s without a token = 200, want a refusal", path)
				}
			}
			if got := w.do("auditor", http.MethodGet, "/tile/entries/000.p/1", nil); got.status != http.StatusOK {
				t.Errorf("GET /tile/entries/000.p/1 as auditor = %d, want 200", got.status)
			}
			if got := w.do("none", http.MethodGet, "/v1/checkpoint", nil); got.status != http.StatusUnauthorized {
				t.Errorf("GET /v1/checkpoint without a token = %d, want 401", got.status)
			}
		})
	}
}

// checkEnvelope checks that an error answer is the JSON error envelope.
func checkEnvelope(t *testing.T, what string, r *response) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: error answer Content-Type %q, want application/json", what, ct)
		return
	}
	var e api.ErrorBody
	r.json(t, &e)
	if e.Error.Code == "" || e.Error.Message == "" {
		t.Errorf("%s: error answer %s, want {\"error\": {\"code\", \"message\"}}", what, r.body)
	}
}
