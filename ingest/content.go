package ingest

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// flatAttr is one attribute of a flattened group: the key's rest after the
// group's prefix, and its value rendered as JSON-ready content.
type flatAttr struct {
	rest  string
	value any // string or json.RawMessage
}

// contentItem renders v for a flattened group: a string (redacted) or raw
// JSON.
func (b *builder) contentItem(key string, v pcommon.Value) (any, error) {
	data, err := b.sc.contentValue(attrLabel(key), v)
	if err != nil {
		return nil, err
	}
	if v.Type() == pcommon.ValueTypeStr {
		return data, nil
	}
	return json.RawMessage(data), nil
}

// buildMessages rebuilds flattened chat messages (OpenInference
// llm.input_messages.<i>.message.*, OpenLLMetry gen_ai.prompt.<i>.*) into
// one GenAI-shaped message list:
//
//	[{"role": …, "parts": [{"type": "text", "content": …},
//	  {"type": "reasoning", "content": …},
//	  {"type": "tool_call", "id": …, "name": …, "arguments": …},
//	  {"type": "tool_call_response", "id": …, "response": …}], …}]
//
// Fields it does not know stay on the message under their own names, so
// nothing is lost.
func buildMessages(attrs []flatAttr) []byte {
	type message struct {
		fields    map[string]any
		content   any
		contents  map[int]map[string]any
		toolCalls map[int]map[string]any
	}
	msgs := map[int]*message{}
	for _, a := range attrs {
		idx, rest, ok := splitIndex(a.rest)
		if !ok {
			continue
		}
		msg := msgs[idx]
		if msg == nil {
			msg = &message{fields: map[string]any{}, contents: map[int]map[string]any{}, toolCalls: map[int]map[string]any{}}
			msgs[idx] = msg
		}
		rest = strings.TrimPrefix(rest, "message.")
		switch {
		case rest == "content":
			msg.content = a.value
		case strings.HasPrefix(rest, "contents."):
			j, field, ok := splitIndex(strings.TrimPrefix(rest, "contents."))
			if !ok {
				msg.fields[rest] = a.value
				continue
			}
			field = strings.TrimPrefix(field, "message_content.")
			if field == "text" {
				field = "content"
			}
			part := msg.contents[j]
			if part == nil {
				part = map[string]any{}
				msg.contents[j] = part
			}
			part[field] = a.value
		case strings.HasPrefix(rest, "tool_calls."):
			k, field, ok := splitIndex(strings.TrimPrefix(rest, "tool_calls."))
			if !ok {
				msg.fields[rest] = a.value
				continue
			}
			field = strings.TrimPrefix(field, "tool_call.")
			field = strings.TrimPrefix(field, "function.")
			call := msg.toolCalls[k]
			if call == nil {
				call = map[string]any{"type": "tool_call"}
				msg.toolCalls[k] = call
			}
			call[field] = a.value
		default:
			msg.fields[rest] = a.value
		}
	}
	out := make([]any, 0, len(msgs))
	for _, idx := range sortedInts(msgs) {
		msg := msgs[idx]
		parts := []any{}
		for _, j := range sortedInts(msg.contents) {
			part := msg.contents[j]
			if _, ok := part["type"]; !ok {
				part["type"] = "text"
			}
			parts = append(parts, part)
		}
		id, isResponse := msg.fields["tool_call_id"]
		if isResponse {
			delete(msg.fields, "tool_call_id")
			part := map[string]any{"type": "tool_call_response", "id": id}
			if msg.content != nil {
				part["response"] = msg.content
			}
			parts = append(parts, part)
		} else if msg.content != nil {
			parts = append(parts, map[string]any{"type": "text", "content": msg.content})
		}
		for _, k := range sortedInts(msg.toolCalls) {
			parts = append(parts, msg.toolCalls[k])
		}
		m := msg.fields
		m["parts"] = parts
		out = append(out, m)
	}
	return marshalJSON(out)
}

// splitIndex splits "<i>.<rest>" into i and rest.
func splitIndex(s string) (int, string, bool) {
	num, rest, _ := strings.Cut(s, ".")
	i, err := strconv.Atoi(num)
	if err != nil || i < 0 {
		return 0, "", false
	}
	return i, rest, true
}

func sortedInts[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// buildGroup gathers flattened attributes into one JSON object keyed by
// the rest of their names.
func buildGroup(attrs []flatAttr) []byte {
	obj := make(map[string]any, len(attrs))
	for _, a := range attrs {
		obj[a.rest] = a.value
	}
	return marshalJSON(obj)
}

// maxToolCallID bounds a tool-call ID kept in the leaf.
const maxToolCallID = 256

// outputFacts reads an llm step's output (GenAI output messages, the
// rebuilt OpenInference or OpenLLMetry messages, or an OpenAI-style
// response) and returns the tool-call IDs it decided, in order, and its
// reasoning text. Parts of type "tool_call" and members "tool_calls" give
// IDs; parts of type "reasoning" (or "thinking") give reasoning.
//
// It reads data as encoding/json would decode it into an any and walks the
// result with the members of each object in the order of their sorted
// names (of repeated names the last wins), but without building that
// value: it parses data once into a flat list of nodes. Data that
// encoding/json would refuse (invalid, or a number out of float64's range)
// gives nothing.
func outputFacts(data []byte, ids []string, reasoning []string) ([]string, []string) {
	var fb factBufs
	return fb.outputFacts(data, ids, reasoning)
}

// factBufs holds the node and member lists of outputFacts, for reuse.
type factBufs struct {
	nodes   []jsonNode
	members []int
}

// outputFacts is the package's outputFacts with fb's lists, which it
// leaves to the next call; a nil fb allocates them.
func (fb *factBufs) outputFacts(data []byte, ids []string, reasoning []string) ([]string, []string) {
	if !json.Valid(data) {
		return ids, reasoning
	}
	if fb == nil {
		fb = new(factBufs)
	}
	// Every value but the first follows a comma, '[' or '{'.
	n := min(1+bytes.Count(data, []byte{','})+bytes.Count(data, []byte{'['})+bytes.Count(data, []byte{'{'}), 256)
	w := factWalker{data: data, nodes: slices.Grow(fb.nodes[:0], n), members: slices.Grow(fb.members[:0], n), ids: ids, reasoning: reasoning}
	defer func() { fb.nodes, fb.members = w.nodes[:0], w.members[:0] }()
	root, _, ok := w.parse(skipJSONSpace(data, 0))
	if !ok {
		return ids, reasoning
	}
	w.walk(root)
	return w.ids, w.reasoning
}

// jsonNode is one value of the JSON outputFacts reads.
type jsonNode struct {
	kind  byte   // '{', '[', '"' or 0 for numbers and literals
	key   []byte // the member name (unescaped) when the parent is an object
	raw   []byte // a string's bytes with its quotes
	first int    // the first child, or -1
	next  int    // the next sibling, or -1
}

// factWalker parses and walks the JSON of outputFacts.
type factWalker struct {
	data      []byte
	nodes     []jsonNode
	members   []int // a stack of the members of the objects being walked
	ids       []string
	reasoning []string
}

// parse parses the valid JSON value at data[i] and returns its node and
// the index after it; ok is false for a number encoding/json cannot decode
// into a float64.
func (w *factWalker) parse(i int) (n, end int, ok bool) {
	n = len(w.nodes)
	w.nodes = append(w.nodes, jsonNode{first: -1, next: -1})
	d := w.data
	switch c := d[i]; c {
	case '{', '[':
		w.nodes[n].kind = c
		i = skipJSONSpace(d, i+1)
		last := -1
		for d[i] != '}' && d[i] != ']' {
			var key []byte
			if c == '{' {
				ke := jsonEnd(d, i)
				key = jsonKey(d[i:ke])
				i = skipJSONSpace(d, ke) + 1 // the colon
				i = skipJSONSpace(d, i)
			}
			child, e, ok := w.parse(i)
			if !ok {
				return 0, 0, false
			}
			w.nodes[child].key = key
			if last < 0 {
				w.nodes[n].first = child
			} else {
				w.nodes[last].next = child
			}
			last = child
			i = skipJSONSpace(d, e)
			if d[i] == ',' {
				i = skipJSONSpace(d, i+1)
			}
		}
		return n, i + 1, true
	case '"':
		e := jsonEnd(d, i)
		w.nodes[n].kind = '"'
		w.nodes[n].raw = d[i:e]
		return n, e, true
	default:
		e := i
		for e < len(d) && strings.IndexByte(",]} \t\r\n", d[e]) < 0 {
			e++
		}
		if num := d[i:e]; (c == '-' || c >= '0' && c <= '9') && (len(num) > 300 || bytes.ContainsAny(num, "eE")) {
			// Without an exponent, 300 digits stay below float64's
			// largest value; encoding/json fails on larger numbers.
			if _, err := strconv.ParseFloat(string(num), 64); err != nil {
				return 0, 0, false
			}
		}
		return n, e, true
	}
}

// jsonEnd returns the index after the valid JSON string that starts at
// d[i].
func jsonEnd(d []byte, i int) int {
	for j := i + 1; ; j++ {
		switch d[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
}

// jsonKey returns the value of the JSON string q as encoding/json decodes
// it (escapes resolved, invalid UTF-8 replaced), without copying when q
// holds neither.
func jsonKey(q []byte) []byte {
	inner := q[1 : len(q)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return inner
	}
	var s string
	if json.Unmarshal(q, &s) != nil {
		return inner
	}
	return []byte(s)
}

func skipJSONSpace(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n') {
		i++
	}
	return i
}

// str returns node n's string value, or false if n is no string.
func (w *factWalker) str(n int) ([]byte, bool) {
	if n < 0 || w.nodes[n].kind != '"' {
		return nil, false
	}
	return jsonKey(w.nodes[n].raw), true
}

// member returns the value of object n's member name (the last of that
// name), or -1.
func (w *factWalker) member(n int, name string) int {
	found := -1
	for c := w.nodes[n].first; c >= 0; c = w.nodes[c].next {
		if string(w.nodes[c].key) == name {
			found = c
		}
	}
	return found
}

func (w *factWalker) addID(n int) {
	id, ok := w.str(n)
	if !ok || len(id) == 0 || len(id) > maxToolCallID || bytes.ContainsAny(id, " \t\r\n") {
		return
	}
	for _, have := range w.ids {
		if have == string(id) {
			return
		}
	}
	w.ids = append(w.ids, string(id))
}

func (w *factWalker) walk(n int) {
	switch w.nodes[n].kind {
	case '[':
		for c := w.nodes[n].first; c >= 0; c = w.nodes[c].next {
			w.walk(c)
		}
	case '{':
		typ, _ := w.str(w.member(n, "type"))
		switch string(typ) {
		case "tool_call", "function_call", "tool_use":
			if id := w.member(n, "id"); id >= 0 {
				w.addID(id)
			} else {
				w.addID(w.member(n, "call_id"))
			}
		case "reasoning", "thinking":
			for _, k := range []string{"content", "text", "thinking"} {
				if s, ok := w.str(w.member(n, k)); ok && len(s) > 0 {
					w.reasoning = append(w.reasoning, string(s))
					break
				}
			}
		}
		if calls := w.member(n, "tool_calls"); calls >= 0 && w.nodes[calls].kind == '[' {
			for c := w.nodes[calls].first; c >= 0; c = w.nodes[c].next {
				if w.nodes[c].kind == '{' {
					w.addID(w.member(c, "id"))
				}
			}
		}
		// The members by name, the last of each name.
		base := len(w.members)
		for c := w.nodes[n].first; c >= 0; c = w.nodes[c].next {
			w.members = append(w.members, c)
		}
		ms := w.members[base:]
		slices.SortStableFunc(ms, func(x, y int) int { return bytes.Compare(w.nodes[x].key, w.nodes[y].key) })
		k := 0
		for j := range ms {
			if j+1 < len(ms) && bytes.Equal(w.nodes[ms[j]].key, w.nodes[ms[j+1]].key) {
				continue
			}
			ms[k] = ms[j]
			k++
		}
		w.members = w.members[:base+k]
		for j := base; j < base+k; j++ {
			w.walk(w.members[j])
		}
		w.members = w.members[:base]
	}
}
