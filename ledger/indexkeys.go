package ledger

import (
	"slices"
	"strings"
)

// IndexKeys returns the keys of the verifiable index that e carries, as
// ledger/FORMAT.md specifies them ("Verifiable index (version 2)"): a pure
// function of the leaf. Each key is a Ref whose String is hashed into the
// index map. Keys are returned once each, in the order the specification
// lists them; values that are empty or longer than MaxRefValue bytes are not
// indexed.
func IndexKeys(e *Entry) []Ref {
	keys := make([]Ref, 0, 4)
	add := func(key, value string) {
		if value == "" || len(value) > MaxRefValue {
			return
		}
		r := Ref{Key: key, Value: value}
		for _, k := range keys {
			if k == r {
				return
			}
		}
		keys = append(keys, r)
	}
	add(RefTrace, e.TraceID)
	if v, ok := e.Attr(AttrCredentialID); ok {
		add(RefCredential, v)
	}
	if v, ok := e.Attr(AttrCredentialParentID); ok {
		add(RefCredentialParent, v)
	}
	if v, ok := e.Attr(AttrCredentialFingerprint); ok {
		for _, f := range strings.FieldsFunc(v, isASCIISpace) {
			add(RefFingerprint, f)
		}
	}
	for _, name := range AgentNames(e) {
		add(RefAgent, name)
	}
	if v, ok := e.Attr(AttrServerAddress); ok {
		add(RefTarget, v)
	}
	return keys
}

// indexKeyNames are the names of the refs that are keys of the verifiable
// index, in the order IndexKeys adds them.
var indexKeyNames = [...]string{RefTrace, RefCredential, RefCredentialParent, RefFingerprint, RefAgent, RefTarget}

// IsIndexKey reports whether refs named name are keys of the verifiable
// index (and so checked by its audit), rather than plain lookup refs.
func IsIndexKey(name string) bool { return slices.Contains(indexKeyNames[:], name) }

// IndexKeyNames returns the names of the refs that are index keys (see
// IsIndexKey), for stores that select those refs.
func IndexKeyNames() []string { return slices.Clone(indexKeyNames[:]) }

// String returns the ref as the index names it, "<key>:<value>".
func (r Ref) String() string { return r.Key + ":" + r.Value }

// isASCIISpace reports whether r is ASCII white space, the separator of
// fingerprints (FORMAT.md): space, tab, newline, carriage return, form feed
// or vertical tab.
func isASCIISpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\f', '\v':
		return true
	}
	return false
}
