package ingest

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

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
func outputFacts(data []byte, ids []string, reasoning []string) ([]string, []string) {
	var v any
	if json.Unmarshal(data, &v) != nil {
		return ids, reasoning
	}
	var walk func(v any)
	addID := func(x any) {
		id, ok := x.(string)
		if !ok || id == "" || len(id) > maxToolCallID || strings.ContainsAny(id, " \t\r\n") || slices.Contains(ids, id) {
			return
		}
		ids = append(ids, id)
	}
	walk = func(v any) {
		switch v := v.(type) {
		case []any:
			for _, x := range v {
				walk(x)
			}
		case map[string]any:
			switch v["type"] {
			case "tool_call", "function_call", "tool_use":
				if id, ok := v["id"]; ok {
					addID(id)
				} else {
					addID(v["call_id"])
				}
			case "reasoning", "thinking":
				for _, k := range []string{"content", "text", "thinking"} {
					if s, ok := v[k].(string); ok && s != "" {
						reasoning = append(reasoning, s)
						break
					}
				}
			}
			if calls, ok := v["tool_calls"].([]any); ok {
				for _, c := range calls {
					if c, ok := c.(map[string]any); ok {
						addID(c["id"])
					}
				}
			}
			for _, k := range sortedKeys(v) {
				walk(v[k])
			}
		}
	}
	walk(v)
	return ids, reasoning
}
