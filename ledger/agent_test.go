package ledger

import "testing"

func TestAgent(t *testing.T) {
	for _, tt := range []struct {
		name             string
		attrs            []Attr
		wantName, wantSo string
	}{
		{"none", nil, "", ""},
		{"id first", []Attr{{AttrAgentID, "agt-1"}, {AttrAgentName, "planner"}, {AttrServiceName, "svc"}}, "agt-1", AttrAgentID},
		{"name", []Attr{{AttrAgentName, "planner"}, {AttrOpenInferenceAgentName, "other"}, {AttrServiceName, "svc"}}, "planner", AttrAgentName},
		{"openinference", []Attr{{AttrOpenInferenceAgentName, "planner"}, {AttrTraceloopWorkflowName, "wf"}}, "planner", AttrOpenInferenceAgentName},
		{"openllmetry", []Attr{{AttrTraceloopWorkflowName, "planner"}, {AttrServiceName, "svc"}}, "planner", AttrTraceloopWorkflowName},
		{"service", []Attr{{AttrServiceName, "svc"}}, "svc", AttrServiceName},
		{"service with namespace", []Attr{{AttrServiceName, "svc"}, {AttrServiceNamespace, "payments"}}, "payments/svc", AttrServiceName},
		{"namespace alone", []Attr{{AttrServiceNamespace, "payments"}}, "", ""},
		{"empty id skipped", []Attr{{AttrAgentID, ""}, {AttrAgentName, "planner"}}, "planner", AttrAgentName},
	} {
		t.Run(tt.name, func(t *testing.T) {
			name, src := Agent(&Entry{Attrs: tt.attrs})
			if name != tt.wantName || src != tt.wantSo {
				t.Errorf("Agent = %q, %q; want %q, %q", name, src, tt.wantName, tt.wantSo)
			}
		})
	}
}
