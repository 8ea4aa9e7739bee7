package ingest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// outputFactsTests are outputs whose facts outputFacts must read as
// decoding them with encoding/json and walking the value does.
var outputFactsTests = []string{
	`[{"role":"assistant","parts":[{"type":"reasoning","content":"think"},{"type":"tool_call","id":"c1","name":"f"}]}]`,
	`{"choices":[{"message":{"tool_calls":[{"id":"a","type":"function"},{"id":"b"},{"id":"a"}]}}]}`,
	`{"z":{"type":"tool_use","id":"z1"},"a":{"type":"tool_use","id":"a1"},"m":[{"type":"function_call","call_id":"m1"}]}`,
	`{"type":"tool_call","id":"first","id":"last"}`,
	`{"type":"reasoning","type":"tool_call","id":"dup"}`,
	`{"k":{"type":"tool_call","id":"one"},"k":{"type":"tool_call","id":"two"}}`,
	`{"t\u0079pe":"tool_call","id":"esc\u0041ped"}`,
	`{"\u00e9":{"type":"tool_call","id":"e"},"f":{"type":"tool_call","id":"f"},"é":{"type":"tool_call","id":"e2"}}`,
	"{\"type\":\"tool_call\",\"id\":\"bad\xffutf8\"}",
	"{\"a\xff\":{\"type\":\"thinking\",\"thinking\":\"x\"},\"a\":{\"type\":\"thinking\",\"text\":\"y\"}}",
	`{"type":"tool_call","id":"c","n":1e400}`,
	`{"type":"tool_call","id":"c","n":1e300,"m":-0.5E-3}`,
	`{"type":"tool_call","id":"c","dup":1e999,"dup":1}`,
	`{"type":"tool_call","id":null,"call_id":"x"}`,
	`{"type":"tool_call","call_id":"x"}`,
	`{"type":"tool_call","id":"has space"}`,
	`{"type":"tool_call","id":""}`,
	`{"type":"reasoning","content":"","text":"t","thinking":"th"}`,
	`{"type":"reasoning","content":5,"thinking":"th"}`,
	` [ { "type" : "tool_call" , "id" : "sp" } , true , false , null , "s" , 12 ] `,
	`{"tool_calls":{"id":"notalist"},"x":[[[{"tool_calls":[1,"s",{"id":"deep"}]}]]]}`,
	`{"type":"tool_call","id":"` + strings.Repeat("x", maxToolCallID+1) + `"}`,
	`{"type":"tool_call","id":"ok"} trailing`,
	`not json`,
	``,
	`{}`,
	`[]`,
	strings.Repeat(`[`, 200) + `{"type":"tool_call","id":"nested"}` + strings.Repeat(`]`, 200),
}

func TestOutputFacts(t *testing.T) {
	for _, data := range outputFactsTests {
		checkOutputFacts(t, []byte(data))
	}
}

// FuzzOutputFacts compares outputFacts with decoding into an any and
// walking it, on any input.
func FuzzOutputFacts(f *testing.F) {
	for _, data := range outputFactsTests {
		f.Add([]byte(data))
	}
	f.Fuzz(checkOutputFacts)
}

func checkOutputFacts(t *testing.T, data []byte) {
	t.Helper()
	prevIDs, prevReasoning := []string{"prev"}, []string{"earlier"}
	ids, reasoning := outputFacts(data, slices.Clone(prevIDs), slices.Clone(prevReasoning))
	wantIDs, wantReasoning := decodedOutputFacts(data, slices.Clone(prevIDs), slices.Clone(prevReasoning))
	if !slices.Equal(ids, wantIDs) || !slices.Equal(reasoning, wantReasoning) {
		t.Errorf("outputFacts(%q) = %q, %q, want %q, %q", data, ids, reasoning, wantIDs, wantReasoning)
	}
}

// decodedOutputFacts is what outputFacts does, done by decoding data into
// an any: the test's oracle.
func decodedOutputFacts(data []byte, ids []string, reasoning []string) ([]string, []string) {
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
