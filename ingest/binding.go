package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/agentledger/agentledger/ledger"
)

// Binding policy modes.
const (
	// BindingFlag accepts an entry outside the binding and records
	// AttrBinding = BindingUnbound in its leaf.
	BindingFlag = "flag"
	// BindingRefuse refuses a request that holds an entry outside the
	// binding (InvalidArgument, HTTP 400, naming the rules); nothing of it
	// is written.
	BindingRefuse = "refuse"
)

// AttrBinding is the attribute the receiver sets on an entry whose
// submitter is not bound to the service.name or gen_ai.agent.id it
// claims. It is in the leaf, so the flag is as tamper-evident as the
// entry; senders cannot set it (the agentledger. namespace is reserved).
const AttrBinding = "agentledger.binding"

// BindingUnbound is AttrBinding's value.
const BindingUnbound = "unbound_submitter"

// BindingPolicy says which submitters may write which service.name and
// gen_ai.agent.id values. Its file is YAML (or JSON):
//
//	mode: flag            # or refuse; default flag
//	rules:
//	  - name: deploy-bot
//	    submitter: spiffe://acme.example/ns/prod/sa/deploy-bot
//	    service_names: [deploy-bot]
//	    agent_ids: [deploy-bot, "deploy-bot-*"]
//
// Patterns are those of Go's path.Match: * matches any run of characters
// but /, ? one character, [a-z] a class. An entry is bound if a rule whose
// submitter pattern matches the entry's submitter allows both its
// service.name (if it has one) and its gen_ai.agent.id (if it has one); a
// rule with no service_names (agent_ids) allows no service name (agent ID).
// An unauthenticated submitter is the empty string, which only the pattern
// "" matches.
type BindingPolicy struct {
	Mode  string        `yaml:"mode"`
	Rules []BindingRule `yaml:"rules"`
}

// BindingRule binds the submitters its pattern matches to service names
// and agent IDs.
type BindingRule struct {
	// Name names the rule in refusals and logs.
	Name string `yaml:"name"`
	// Submitter is a pattern of submitter identities (see ### Submitter in
	// ledger/FORMAT.md).
	Submitter    string   `yaml:"submitter"`
	ServiceNames []string `yaml:"service_names"`
	AgentIDs     []string `yaml:"agent_ids"`
}

// maxBindingPolicyBytes bounds a policy file.
const maxBindingPolicyBytes = 1 << 20

// LoadBindingPolicy reads and checks the policy file at p.
func LoadBindingPolicy(p string) (*BindingPolicy, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("binding policy: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxBindingPolicyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("binding policy %s: %w", p, err)
	}
	if len(b) > maxBindingPolicyBytes {
		return nil, fmt.Errorf("binding policy %s: larger than %d bytes", p, maxBindingPolicyBytes)
	}
	var bp BindingPolicy
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&bp); err != nil {
		return nil, fmt.Errorf("binding policy %s: %w", p, err)
	}
	if err := bp.Validate(); err != nil {
		return nil, fmt.Errorf("binding policy %s: %w", p, err)
	}
	return &bp, nil
}

// Validate checks the mode, the rule names and every pattern.
func (bp *BindingPolicy) Validate() error {
	var errs []error
	switch bp.Mode {
	case "":
		bp.Mode = BindingFlag
	case BindingFlag, BindingRefuse:
	default:
		errs = append(errs, fmt.Errorf("mode %q: want flag or refuse", bp.Mode))
	}
	names := map[string]bool{}
	for i, r := range bp.Rules {
		if r.Name == "" {
			errs = append(errs, fmt.Errorf("rules[%d]: no name", i))
		} else if names[r.Name] {
			errs = append(errs, fmt.Errorf("rules[%d]: name %q used twice", i, r.Name))
		}
		names[r.Name] = true
		for _, p := range slices.Concat([]string{r.Submitter}, r.ServiceNames, r.AgentIDs) {
			if _, err := path.Match(p, ""); err != nil {
				errs = append(errs, fmt.Errorf("rules[%d] (%s): pattern %q: %w", i, r.Name, p, err))
			}
		}
	}
	return errors.Join(errs...)
}

func matchAny(patterns []string, v string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, v); ok {
			return true
		}
	}
	return false
}

// check applies the policy to the entries of one request from submitter:
// in flag mode it marks each unbound entry; in refuse mode it returns an
// invalid-input error naming the first unbound claim and the rules that
// apply to the submitter.
func (bp *BindingPolicy) check(submitter string, entries []ledger.Entry) error {
	var rules []*BindingRule
	for i := range bp.Rules {
		if ok, _ := path.Match(bp.Rules[i].Submitter, submitter); ok {
			rules = append(rules, &bp.Rules[i])
		}
	}
	for i := range entries {
		e := &entries[i]
		svc, _ := e.Attr(AttrServiceName)
		agent, _ := e.Attr(ledger.AttrAgentID)
		if bound(rules, svc, agent) {
			continue
		}
		if bp.Mode == BindingRefuse {
			return invalidf("binding policy: submitter %q may not write service.name %q, gen_ai.agent.id %q (%s)",
				submitter, svc, agent, ruleNames(rules))
		}
		e.Attrs = append(e.Attrs, ledger.Attr{Key: AttrBinding, Value: BindingUnbound})
	}
	return nil
}

func bound(rules []*BindingRule, svc, agent string) bool {
	for _, r := range rules {
		if (svc == "" || matchAny(r.ServiceNames, svc)) && (agent == "" || matchAny(r.AgentIDs, agent)) {
			return true
		}
	}
	return false
}

func ruleNames(rules []*BindingRule) string {
	if len(rules) == 0 {
		return "no rule names this submitter"
	}
	names := make([]string, len(rules))
	for i, r := range rules {
		names[i] = r.Name
	}
	return "rules " + strings.Join(names, ", ")
}
