package query

import (
	"cmp"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/agentledger/agentledger/api"
	"github.com/agentledger/agentledger/ledger"
)

// render turns decoded entries into answers, and remembers which entries'
// content an answer returns, for the access entry that records the read.
// It is safe for concurrent use.
type render struct {
	// content is whether the caller may read content and asked for it.
	content  bool
	mu       sync.Mutex
	read     map[uint64]bool
	findings map[findingKey]api.Finding
	// shown holds the index of every entry rendered: the entries the
	// answer reports.
	shown map[uint64]bool
}

type findingKey struct {
	index uint64
	name  string
}

func newRender(content bool) *render {
	return &render{content: content, read: make(map[uint64]bool), findings: make(map[findingKey]api.Finding), shown: make(map[uint64]bool)}
}

// findingList returns what the rendered entries raised, by entry and
// content name.
func (r *render) findingList() []api.Finding {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]api.Finding, 0, len(r.findings))
	for _, f := range r.findings {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b api.Finding) int {
		if a.Entry != b.Entry {
			return cmp.Compare(a.Entry, b.Entry)
		}
		return strings.Compare(a.Content, b.Content)
	})
	return out
}

// failingContent records that content name of entry n fails its
// commitment.
func (r *render) failingContent(n *node, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.findings[findingKey{n.index(), name}] = api.Finding{
		Code:    api.FindingContentFailsCommitment,
		Entry:   n.index(),
		Content: name,
		Message: fmt.Sprintf("the stored content %q of entry %d does not match its commitment in the leaf; it is not served; run agentledger audit", name, n.index()),
	}
}

// duplicateMismatch records the finding that n, an
// agentledger.duplicate_mismatch entry, reports: the entry it names arrived
// again with a different leaf.
func (r *render) duplicateMismatch(n *node) {
	stored, _ := n.e.Attr(ledger.AttrDupIndex)
	delivered, _ := n.e.Attr(ledger.AttrDupDeliveredLeaf)
	idx, err := strconv.ParseUint(stored, 10, 64)
	if err != nil {
		idx = n.index()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.findings[findingKey{n.index(), ledger.DuplicateMismatchName}] = api.Finding{
		Code:    api.FindingDuplicateMismatch,
		Entry:   idx,
		Message: fmt.Sprintf("entry %d arrived again with a different leaf (leaf hash %s), as entry %d records; the ledger kept the first", idx, delivered, n.index()),
	}
}

// readIndices returns the indices of the entries whose content the answer
// returns, ascending.
func (r *render) readIndices() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]uint64, 0, len(r.read))
	for i := range r.read {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

// shownIndices returns the indices of the entries rendered, ascending.
func (r *render) shownIndices() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]uint64, 0, len(r.shown))
	for i := range r.shown {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

// entry renders n. Its content data is included when withContent is set
// and the caller may read content; the commitments always are.
func (r *render) entry(n *node, withContent bool) api.Entry {
	e := n.e
	r.mu.Lock()
	r.shown[n.index()] = true
	r.mu.Unlock()
	out := api.Entry{
		Index:        n.index(),
		LeafHash:     hex.EncodeToString(n.rec.LeafHash[:]),
		Kind:         string(e.Kind),
		Source:       e.Source,
		Submitter:    e.Submitter,
		TraceID:      e.TraceID,
		SpanID:       e.SpanID,
		ParentSpanID: e.ParentSpanID,
		EventKey:     e.EventKey,
		Name:         e.Name,
		Start:        timePtr(e.Start),
		End:          timePtr(e.End),
		Attributes:   make(map[string]string, len(e.Attrs)),
	}
	for _, a := range e.Attrs {
		out.Attributes[a.Key] = a.Value
	}
	for _, name := range n.failing {
		r.failingContent(n, name)
	}
	if e.Source == ledger.SourceLedger && e.Name == ledger.DuplicateMismatchName {
		r.duplicateMismatch(n)
	}
	for _, cm := range n.cms {
		c := api.Content{Name: cm.Name, Commitment: hex.EncodeToString(cm.Hash[:]), Erased: true}
		if slices.Contains(n.failing, cm.Name) {
			c.Erased, c.FailsCommitment = false, true
		}
		for _, have := range e.Content {
			if have.Name != cm.Name {
				continue
			}
			c.Erased = false
			if withContent && r.content {
				c.Salt = base64.StdEncoding.EncodeToString(have.Salt)
				data, enc := encodeData(have.Data)
				c.Data, c.Encoding = &data, enc
				r.mu.Lock()
				r.read[n.index()] = true
				r.mu.Unlock()
			}
		}
		out.Content = append(out.Content, c)
	}
	return out
}

// entries renders ns.
func (r *render) entries(ns []*node, withContent bool) []api.Entry {
	out := make([]api.Entry, 0, len(ns))
	for _, n := range ns {
		out = append(out, r.entry(n, withContent))
	}
	return out
}

func (r *render) entryPtr(n *node, withContent bool) *api.Entry {
	if n == nil {
		return nil
	}
	e := r.entry(n, withContent)
	return &e
}

// encodeData returns content bytes as JSON can carry them exactly: as text
// when they are valid UTF-8, else base64.
func encodeData(b []byte) (string, string) {
	if utf8.Valid(b) {
		return string(b), "utf-8"
	}
	return base64.StdEncoding.EncodeToString(b), "base64"
}

// sortedKeys returns the keys of a set, sorted.
func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
