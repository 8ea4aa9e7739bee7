package query

import (
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/agentledger/agentledger/api"
)

// TestBadParameters sends hostile and malformed input to every kind of
// parameter: each answer is the 4xx it should be, with the error envelope,
// never a 500.
func TestBadParameters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b, worldOptions{})
		size := strconv.FormatUint(w.head().Size, 10)
		huge := `{"token": "` + strings.Repeat("x", 2<<20) + `"}`
		sqlish := url.PathEscape(`' OR 1=1; DROP TABLE entries; --`)
		tests := []struct {
			method, target string
			body           any
			status         int
			code           string
		}{
			{"GET", "/v1/entries/abc", nil, 400, CodeBadRequest},
			{"GET", "/v1/entries/-1", nil, 400, CodeBadRequest},
			{"GET", "/v1/entries/1e3", nil, 400, CodeBadRequest},
			{"GET", "/v1/entries/0x10", nil, 400, CodeBadRequest},
			{"GET", "/v1/entries/18446744073709551616", nil, 400, CodeBadRequest},
			{"GET", "/v1/entries/" + size, nil, 404, CodeNotFound},
			{"GET", "/v1/entries/18446744073709551615", nil, 404, CodeNotFound},
			{"GET", "/v1/entries/" + sqlish, nil, 400, CodeBadRequest},
			{"GET", "/v1/entries/1?content=maybe", nil, 400, CodeBadRequest},
			{"GET", "/v1/runs/xyz", nil, 400, CodeBadRequest},
			{"GET", "/v1/runs/" + traceA[:31], nil, 400, CodeBadRequest},
			{"GET", "/v1/runs/" + traceA + "0", nil, 400, CodeBadRequest},
			{"GET", "/v1/runs/00000000000000000000000000000000", nil, 400, CodeBadRequest},
			{"GET", "/v1/runs/" + strings.Repeat("g", 32), nil, 400, CodeBadRequest},
			{"GET", "/v1/runs/" + sqlish, nil, 400, CodeBadRequest},
			{"GET", "/v1/runs/ffffffffffffffffffffffffffffffff", nil, 404, CodeNotFound},
			{"GET", "/v1/runs/" + traceA + "?limit=0", nil, 400, CodeBadRequest},
			{"GET", "/v1/credentials/" + sqlish, nil, 404, CodeNotFound},
			{"GET", "/v1/credentials/%00", nil, 400, CodeBadRequest},
			{"GET", "/v1/credentials/%ff%fe", nil, 400, CodeBadRequest},
			{"GET", "/v1/credentials/" + strings.Repeat("a", 600), nil, 400, CodeBadRequest},
			{"GET", "/v1/credentials/" + credC1 + "?cursor=garbage", nil, 400, CodeBadRequest},
			{"GET", "/v1/credentials/" + credC1 + "?cursor=AQ", nil, 400, CodeBadRequest},
			{"GET", "/v1/credentials/" + credC1 + "?limit=1001", nil, 400, CodeBadRequest},
			{"GET", "/v1/credentials/" + credC1 + "?limit=-5", nil, 400, CodeBadRequest},
			{"GET", "/v1/credentials/" + sqlish + "/blast-radius", nil, 404, CodeNotFound},
			{"GET", "/v1/agents/" + sqlish + "/runs", nil, 200, ""},
			{"GET", "/v1/agents/%00/runs", nil, 400, CodeBadRequest},
			{"GET", "/v1/search?kind=bogus", nil, 400, CodeBadRequest},
			{"GET", "/v1/search?kind=" + sqlish, nil, 400, CodeBadRequest},
			{"GET", "/v1/search?limit=0", nil, 400, CodeBadRequest},
			{"GET", "/v1/search?limit=1001", nil, 400, CodeBadRequest},
			{"GET", "/v1/search?limit=abc", nil, 400, CodeBadRequest},
			{"GET", "/v1/search?cursor=%27", nil, 400, CodeBadRequest},
			{"GET", "/v1/search?from=yesterday", nil, 400, CodeBadRequest},
			{"GET", "/v1/search?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z", nil, 400, CodeBadRequest},
			{"GET", "/v1/search?credential=" + sqlish, nil, 200, ""},
			{"GET", "/v1/search?agent=" + strings.Repeat("a", 513), nil, 400, CodeBadRequest},
			{"GET", "/v1/proofs/inclusion", nil, 400, CodeBadRequest},
			{"GET", "/v1/proofs/inclusion?index=x", nil, 400, CodeBadRequest},
			{"GET", "/v1/proofs/inclusion?index=0&tree_size=0", nil, 400, CodeBadRequest},
			{"GET", "/v1/proofs/inclusion?index=5&tree_size=5", nil, 400, CodeBadRequest},
			{"GET", "/v1/proofs/inclusion?index=0&tree_size=99999999", nil, 404, CodeNotFound},
			{"GET", "/v1/proofs/inclusion?index=99999999", nil, 404, CodeNotCheckpointed},
			{"GET", "/v1/proofs/consistency", nil, 400, CodeBadRequest},
			{"GET", "/v1/proofs/consistency?from=0", nil, 400, CodeBadRequest},
			{"GET", "/v1/proofs/consistency?from=5&to=2", nil, 400, CodeBadRequest},
			{"GET", "/v1/proofs/consistency?from=1&to=99999999", nil, 404, CodeNotFound},
			{"GET", "/v1/checkpoints?cursor=bad", nil, 400, CodeBadRequest},
			{"POST", "/v1/credentials/lookup", "not json", 400, CodeBadRequest},
			{"POST", "/v1/credentials/lookup", "", 400, CodeBadRequest},
			{"POST", "/v1/credentials/lookup", `{}`, 400, CodeBadRequest},
			{"POST", "/v1/credentials/lookup", `{"token": 5}`, 400, CodeBadRequest},
			{"POST", "/v1/credentials/lookup", `{"token": "x", "extra": 1}`, 400, CodeBadRequest},
			{"POST", "/v1/credentials/lookup", `{"token": "x"} {"token": "y"}`, 400, CodeBadRequest},
			{"POST", "/v1/credentials/lookup", `[{"token": "x"}]`, 400, CodeBadRequest},
			{"POST", "/v1/credentials/lookup", huge, 413, CodeTooLarge},
			{"POST", "/v1/erasures", `{}`, 400, CodeBadRequest},
			{"POST", "/v1/erasures", `{"indices": [1]}`, 400, CodeBadRequest},
			{"POST", "/v1/erasures", `{"indices": [1], "trace_id": "` + traceA + `", "reason": "x"}`, 400, CodeBadRequest},
			{"POST", "/v1/erasures", `{"indices": [99999999], "reason": "x"}`, 404, CodeNotFound},
			{"POST", "/v1/erasures", `{"indices": [-1], "reason": "x"}`, 400, CodeBadRequest},
			{"POST", "/v1/erasures", `{"trace_id": "nope", "reason": "x"}`, 400, CodeBadRequest},
			{"POST", "/v1/erasures", `{"credential_id": "` + sqlish + `", "reason": "x"}`, 404, CodeNotFound},
			{"POST", "/v1/erasures", huge, 413, CodeTooLarge},
			{"POST", "/v1/tokens", `{"name": "bad name!", "role": "admin"}`, 400, CodeBadRequest},
			{"POST", "/v1/tokens", `{"name": "ok", "role": "root"}`, 400, CodeBadRequest},
			{"POST", "/v1/tokens", `{"name": "test-admin", "role": "admin"}`, 409, CodeConflict},
			{"DELETE", "/v1/tokens/nobody", nil, 404, CodeNotFound},
			{"GET", "/tile/0/abc", nil, 400, CodeBadRequest},
			{"GET", "/tile/0/000.p/0", nil, 400, CodeBadRequest},
			{"GET", "/tile/0/000.p/256", nil, 400, CodeBadRequest},
			{"GET", "/tile/0/000.p/01", nil, 400, CodeBadRequest},
			{"GET", "/tile/64/000", nil, 400, CodeBadRequest},
			{"GET", "/tile/00/000.p/1", nil, 400, CodeBadRequest},
			{"GET", "/tile/0/x000/001", nil, 400, CodeBadRequest},
			{"GET", "/tile/0/1", nil, 400, CodeBadRequest},
			{"GET", "/tile/data/000.p/1", nil, 400, CodeBadRequest},
			{"GET", "/tile/0/" + strings.Repeat("x999/", 30) + "999", nil, 400, CodeBadRequest},
			{"GET", "/tile/0/%2e%2e/000", nil, 400, CodeBadRequest},
			{"GET", "/tile/0/000", nil, 404, CodeNotFound},
			{"GET", "/tile/0/999", nil, 404, CodeNotFound},
			{"GET", "/tile/0/000.p/255", nil, 404, CodeNotFound},
			{"GET", "/tile/1/000.p/1", nil, 404, CodeNotFound},
			{"GET", "/tile/entries/999", nil, 404, CodeNotFound},
			{"GET", "/tile/entries/000.p/255", nil, 404, CodeNotFound},
			{"GET", "/v1/nope", nil, 404, CodeNotFound},
			{"GET", "/v1", nil, 404, CodeNotFound},
			{"GET", "/nope", nil, 404, CodeNotFound},
			{"DELETE", "/v1/search", nil, 405, CodeMethodNotAllowed},
			{"PUT", "/v1/erasures", nil, 405, CodeMethodNotAllowed},
		}
		for _, tc := range tests {
			got := w.do("admin", tc.method, tc.target, tc.body)
			name := tc.method + " " + tc.target
			if len(name) > 120 {
				name = name[:120] + "…"
			}
			if got.status != tc.status {
				t.Errorf("%s = %d, want %d\n%.300s", name, got.status, tc.status, got.body)
				continue
			}
			if tc.status < 400 {
				continue
			}
			checkEnvelope(t, name, got)
			var e api.ErrorBody
			got.json(t, &e)
			if e.Error.Code != tc.code {
				t.Errorf("%s: error code %q, want %q (%s)", name, e.Error.Code, tc.code, e.Error.Message)
			}
		}
	})
}
