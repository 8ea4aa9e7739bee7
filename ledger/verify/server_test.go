package verify_test

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ledger"
	"github.com/agentledger/agentledger/ledger/index"
	"github.com/agentledger/agentledger/ledger/layout"
)

// apiServer serves a ledger.Reader the way the query server does, for the
// endpoints the verify client reads: /checkpoint, the tlog-tiles, entries,
// proofs and a small credential view. checkpoint, if set, replaces the
// latest checkpoint note, to play a lying server.
type apiServer struct {
	t          *testing.T
	r          ledger.Reader
	checkpoint []byte
	token      string
	// lookup, if set, changes each index answer, and indexNote, if set,
	// replaces the latest index note, to play a lying server.
	lookup    func(*index.Proof)
	indexNote []byte
	// block, if set, changes the completeness block of each credential
	// view.
	block func(*api.Completeness)
	// hide are entries the credential view leaves out.
	hide map[uint64]bool
}

func newAPIServer(t *testing.T, r ledger.Reader) (*apiServer, string) {
	t.Helper()
	s := &apiServer{t: t, r: r, token: "secret-token"}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts.URL
}

func (s *apiServer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	p := req.URL.Path
	if p != "/checkpoint" && req.Header.Get("Authorization") != "Bearer "+s.token {
		apiError(w, http.StatusUnauthorized, "unauthorized", "a bearer token is required")
		return
	}
	q := req.URL.Query()
	uintParam := func(name string) uint64 {
		n, _ := strconv.ParseUint(q.Get(name), 10, 64)
		return n
	}
	switch {
	case p == "/checkpoint":
		if s.checkpoint != nil {
			w.Write(s.checkpoint)
			return
		}
		cp, err := s.r.LatestCheckpoint(ctx)
		if err != nil {
			apiError(w, http.StatusNotFound, "not_found", err.Error())
			return
		}
		w.Write(cp.Note)
	case strings.HasPrefix(p, "/tile/"):
		t, err := layout.Parse(strings.TrimPrefix(p, "/"))
		if err != nil {
			apiError(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		if t.Entries {
			start, end := t.EntryRange()
			recs, err := s.r.Records(ctx, start, end)
			if err != nil || len(recs) != t.Width {
				apiError(w, http.StatusNotFound, "not_found", fmt.Sprintf("bundle: %d records, %v", len(recs), err))
				return
			}
			var body []byte
			for _, r := range recs {
				body = binary.BigEndian.AppendUint16(body, uint16(len(r.Leaf)))
				body = append(body, r.Leaf...)
			}
			w.Write(body)
			return
		}
		b, err := ledger.TileHashes(ctx, s.r, ledger.TileID{Level: t.Level, Index: t.Index}, t.Width)
		if err != nil {
			apiError(w, http.StatusNotFound, "not_found", err.Error())
			return
		}
		w.Write(b)
	case strings.HasPrefix(p, "/v1/entries/"):
		i, _ := strconv.ParseUint(strings.TrimPrefix(p, "/v1/entries/"), 10, 64)
		recs, err := s.r.RecordsAt(ctx, []uint64{i})
		if err != nil || len(recs) != 1 {
			apiError(w, http.StatusNotFound, "not_found", "no such entry")
			return
		}
		writeJSON(w, s.entry(&recs[0], true))
	case p == "/v1/proofs/inclusion":
		index, size := uintParam("index"), uintParam("tree_size")
		pr, err := ledger.InclusionProof(ctx, s.r, index, size)
		if err != nil {
			apiError(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		writeJSON(w, map[string]any{"index": index, "tree_size": size, "hashes": pr})
	case p == "/v1/proofs/consistency":
		from, to := uintParam("from"), uintParam("to")
		pr, err := ledger.ConsistencyProof(ctx, s.r, from, to)
		if err != nil {
			apiError(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		writeJSON(w, map[string]any{"from": from, "to": to, "hashes": pr})
	case p == "/v1/index/note":
		if s.indexNote != nil {
			w.Write(s.indexNote)
			return
		}
		n, err := s.r.(index.LookupReader).LatestIndexNote(ctx)
		if err != nil {
			apiError(w, http.StatusNotFound, "not_found", err.Error())
			return
		}
		w.Write(n.Note)
	case p == "/v1/index":
		key, err := index.ParseKey(q.Get("key"))
		if err != nil {
			apiError(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		pr, err := index.Lookup(ctx, s.r.(index.LookupReader), key, uintParam("since"))
		if err != nil {
			apiError(w, http.StatusNotFound, "not_found", err.Error())
			return
		}
		if s.lookup != nil {
			s.lookup(pr)
		}
		writeJSON(w, pr)
	case strings.HasPrefix(p, "/v1/credentials/"):
		id := strings.TrimPrefix(p, "/v1/credentials/")
		idx, err := s.r.Find(ctx, ledger.Ref{Key: ledger.RefCredential, Value: id}, 0, 1000)
		if err != nil || len(idx) == 0 {
			apiError(w, http.StatusNotFound, "not_found", "no entry names credential "+id)
			return
		}
		recs, err := s.r.RecordsAt(ctx, idx)
		if err != nil {
			apiError(w, http.StatusInternalServerError, "internal", err.Error())
			return
		}
		var events, calls []any
		for i := range recs {
			if s.hide[recs[i].Index] {
				continue
			}
			e := s.entry(&recs[i], q.Get("content") == "true")
			if recs[i].Kind == ledger.KindCredential {
				events = append(events, e)
			} else {
				calls = append(calls, map[string]any{"entry": e, "credential_id": id})
			}
		}
		view := map[string]any{
			"credential": map[string]any{"id": id, "events": events},
			"usages":     []any{map[string]any{"calls": calls, "steps": []any{}}},
		}
		if b := s.completeness(req, ledger.Ref{Key: ledger.RefCredential, Value: id}); b != nil {
			view["completeness"] = b
		}
		writeJSON(w, view)
	default:
		apiError(w, http.StatusNotFound, "not_found", "no route")
	}
}

// completeness builds the block of a view that used key, as the query
// server does, or nil before the first index note.
func (s *apiServer) completeness(req *http.Request, key ledger.Ref) *api.Completeness {
	ctx := req.Context()
	ps, err := index.LookupKeys(ctx, s.r.(index.LookupReader), []ledger.Ref{key}, []uint64{0})
	if err != nil {
		return nil
	}
	cp, err := s.r.Checkpoint(ctx, ps[0].Size)
	if err != nil {
		s.t.Errorf("test server: checkpoint %d: %v", ps[0].Size, err)
		return nil
	}
	b := &api.Completeness{Size: ps[0].Size, Checkpoint: string(cp.Note), Unindexed: []uint64{}}
	for _, p := range ps {
		if s.lookup != nil {
			s.lookup(p)
		}
		b.Keys = append(b.Keys, *p)
	}
	if s.block != nil {
		s.block(b)
	}
	return b
}

// entry renders a record as the query API's Entry.
func (s *apiServer) entry(r *ledger.Record, content bool) map[string]any {
	d, err := ledger.DecodeLeaf(r.Leaf) // a server that does not check its leaf hashes
	if err != nil {
		s.t.Errorf("test server: entry %d: %v", r.Index, err)
		return nil
	}
	e, cms := &d.Entry, d.Commitments
	e.Content = r.Content
	attrs := make(map[string]string)
	for _, a := range e.Attrs {
		attrs[a.Key] = a.Value
	}
	out := map[string]any{
		"index":      r.Index,
		"leaf_hash":  hex.EncodeToString(r.LeafHash[:]),
		"kind":       e.Kind,
		"trace_id":   e.TraceID,
		"span_id":    e.SpanID,
		"name":       e.Name,
		"attributes": attrs,
		"leaf":       base64.StdEncoding.EncodeToString(r.Leaf),
	}
	for k, t := range map[string]time.Time{"start": e.Start, "end": e.End} {
		if !t.IsZero() {
			out[k] = t
		}
	}
	var cs []map[string]any
	for _, cm := range cms {
		c := map[string]any{"name": cm.Name, "commitment": hex.EncodeToString(cm.Hash[:]), "erased": true}
		for _, have := range e.Content {
			if have.Name == cm.Name {
				c["erased"] = false
				if content {
					c["salt"] = base64.StdEncoding.EncodeToString(have.Salt)
					c["data"] = string(have.Data)
					c["encoding"] = "utf-8"
				}
			}
		}
		cs = append(cs, c)
	}
	if cs != nil {
		out["content"] = cs
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
