package policy

import (
	"strings"
	"testing"
)

func TestParseAttestationAllow(t *testing.T) {
	a, err := LoadAttestationAllow("testdata/attestation_allow.yaml")
	if err != nil {
		t.Fatalf("LoadAttestationAllow: %v", err)
	}
	for _, c := range []struct {
		image, model string
		want         bool
	}{
		{image: "sha256:3f1c9a2b7d", want: true},
		{image: "registry.example/other@sha256:3f1c9a2b7d", want: true},
		{image: "sha256:9e8d7c6b5a", want: true},
		{image: "sha256:77aa00ff", want: false},
		{model: "gpt-4o-2024-08-06", want: true},
		{model: "claude-sonnet-4", want: true},
		{model: "llama-3.1-70b", want: false},
	} {
		got := a.AllowsImage(c.image)
		if c.model != "" {
			got = a.AllowsModel(c.model)
		}
		if got != c.want {
			t.Errorf("allows(%q%q) = %v, want %v", c.image, c.model, got, c.want)
		}
	}
	var none *AttestationAllow
	if !none.AllowsImage("sha256:x") || !none.AllowsModel("m") {
		t.Error("a nil allow-list must allow anything")
	}
	json, err := ParseAttestationAllow(strings.NewReader(`{"models": ["gpt-4o"]}`))
	if err != nil || !json.AllowsImage("sha256:any") || json.AllowsModel("gpt-4o-mini") {
		t.Errorf("JSON allow-list of models only: %+v, %v", json, err)
	}
}

func TestParseAttestationAllowInvalid(t *testing.T) {
	for name, in := range map[string]string{
		"empty":       "",
		"no entries":  "images: []\nmodels: []\n",
		"typo":        "image: [sha256:1]\n",
		"bad pattern": "models: ['gpt-[']\n",
		"blank entry": "images: ['  ']\n",
		"not a list":  "images: sha256:1\n",
		"too large":   "images: [" + strings.Repeat("x", MaxAttestationAllowBytes) + "]\n",
	} {
		t.Run(name, func(t *testing.T) {
			if a, err := ParseAttestationAllow(strings.NewReader(in)); err == nil {
				t.Errorf("ParseAttestationAllow = %+v, want an error", a)
			}
		})
	}
}
