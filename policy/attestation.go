package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxAttestationAllowBytes bounds an attestation allow-list file.
const MaxAttestationAllowBytes = 1 << 20

// AttestationAllow is an allow-list of what may run with a credential: the
// image digests and model IDs a run's attestation may name. A run that
// attests an image or a model the list does not allow has the finding
// attestation_mismatch. An empty list of images (or models) allows any.
//
// The file is YAML (or JSON, which YAML reads):
//
//	images:
//	  - sha256:3f1c9a2b7d…
//	models:
//	  - gpt-4o-2024-08-06
//	  - claude-*
//
// Entries are path.Match patterns; an image given as name@digest is
// compared by its digest.
type AttestationAllow struct {
	Images []string `yaml:"images" json:"images"`
	Models []string `yaml:"models" json:"models"`
}

// ParseAttestationAllow reads an allow-list. Unknown keys, an empty list
// and bad patterns are refused.
func ParseAttestationAllow(r io.Reader) (*AttestationAllow, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxAttestationAllowBytes+1))
	if err != nil {
		return nil, fmt.Errorf("attestation allow-list: %w", err)
	}
	if len(data) > MaxAttestationAllowBytes {
		return nil, fmt.Errorf("attestation allow-list: over %d bytes", MaxAttestationAllowBytes)
	}
	var a AttestationAllow
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&a); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("attestation allow-list: empty")
		}
		return nil, fmt.Errorf("attestation allow-list: %w", err)
	}
	if len(a.Images) == 0 && len(a.Models) == 0 {
		return nil, errors.New("attestation allow-list: names no image and no model")
	}
	for _, p := range append(append([]string{}, a.Images...), a.Models...) {
		if strings.TrimSpace(p) == "" {
			return nil, errors.New("attestation allow-list: an empty entry")
		}
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("attestation allow-list: pattern %q: %w", p, err)
		}
	}
	return &a, nil
}

// LoadAttestationAllow reads the allow-list file p.
func LoadAttestationAllow(p string) (*AttestationAllow, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("attestation allow-list: %w", err)
	}
	defer f.Close()
	a, err := ParseAttestationAllow(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return a, nil
}

// AllowsImage reports whether image may run. A nil list allows any.
func (a *AttestationAllow) AllowsImage(image string) bool {
	return a == nil || allows(a.Images, Digest(image))
}

// AllowsModel reports whether model may run. A nil list allows any.
func (a *AttestationAllow) AllowsModel(model string) bool {
	return a == nil || allows(a.Models, model)
}

func allows(patterns []string, v string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if m, _ := path.Match(Digest(p), v); m {
			return true
		}
	}
	return false
}

// Digest returns the digest of an image reference name@digest, else the
// reference itself.
func Digest(image string) string {
	if _, d, ok := strings.Cut(image, "@"); ok {
		return d
	}
	return image
}
