package secrets

import "strings"

// MaxLookupFingerprints bounds the values [Redactor.LookupSecrets] and the fingerprints
// [Redactor.LookupFingerprints] return.
const MaxLookupFingerprints = 64

// LookupSecrets returns every value that ingest may have fingerprinted in text, which a
// responder pasted: a bare token, a "Bearer …" or "Basic …" header value, a whole
// header, a PEM private key, key=value lines, a URL with a token in it, or several of
// these on several lines. It runs the extraction ingest runs:
//
//   - the text as the value of an attribute with a secret name: the exact text, the text
//     trimmed and its credential after a Bearer, Basic or token scheme, and the same for
//     each line of it;
//   - the text as free text: every secret [Redactor.RedactText] finds in it (prefixed
//     tokens, JWTs, PEM bodies, the values of secret-named keys, URL passwords and query
//     parameters, …), as it is fingerprinted.
//
// The values are distinct, in that order, and at most [MaxLookupFingerprints]. They are
// secrets: the caller fingerprints them and must not keep or log them.
func (r *Redactor) LookupSecrets(text string) []string {
	var vals []string
	add := func(v string) {
		if v != "" && len(vals) < MaxLookupFingerprints && !contains(vals, v) {
			vals = append(vals, v)
		}
	}
	add(text)
	trimmed := strings.TrimSpace(text)
	add(trimmed)
	add(stripScheme(trimmed))
	sc := scanner{r: r, s: text, collect: true}
	sc.scan()
	if sc.nKeyIDs > 0 {
		out := text
		if sc.changed {
			sc.out.WriteString(text[sc.last:])
			out = sc.out.String()
		}
		sc.pairSecretKeys(out)
	}
	for _, v := range sc.raw {
		add(v)
	}
	if strings.ContainsAny(trimmed, "\r\n") {
		for line := range strings.Lines(trimmed) {
			line = strings.TrimSpace(line)
			add(line)
			add(stripScheme(line))
		}
	}
	return vals
}

// LookupFingerprints returns the fingerprints of [Redactor.LookupSecrets]: every
// fingerprint under which ingest may have recorded a secret in text.
func (r *Redactor) LookupFingerprints(text string) []string {
	var fps []string
	for _, v := range r.LookupSecrets(text) {
		if fp := r.Fingerprint(v); !contains(fps, fp) {
			fps = append(fps, fp)
		}
	}
	return fps
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}
