package signer

import (
	"fmt"
	"net/url"
	"strings"
)

// PKCS11Config names an Ed25519 key pair in a PKCS#11 token.
type PKCS11Config struct {
	Module string // the PKCS#11 module (shared library) path
	Token  string // the token label
	Object string // the key pair's label (CKA_LABEL)
	PIN    string // the user PIN
	Origin string // the log's name, the note key name
}

// ParsePKCS11URI reads the token, object and module path of an RFC 7512
// PKCS#11 URI, "pkcs11:token=T;object=K?module-path=/path/to/module.so".
// The PIN is not taken from the URI: it would show in process lists.
func ParsePKCS11URI(uri string) (PKCS11Config, error) {
	var cfg PKCS11Config
	rest, ok := strings.CutPrefix(uri, "pkcs11:")
	if !ok {
		return cfg, fmt.Errorf("PKCS#11 URI %q: want pkcs11:token=…;object=…?module-path=…", uri)
	}
	path, query, _ := strings.Cut(rest, "?")
	for _, attr := range strings.Split(path, ";") {
		k, v, _ := strings.Cut(attr, "=")
		v, err := url.PathUnescape(v)
		if err != nil {
			return cfg, fmt.Errorf("PKCS#11 URI: %s: %w", k, err)
		}
		switch k {
		case "token":
			cfg.Token = v
		case "object":
			cfg.Object = v
		case "":
		default:
			return cfg, fmt.Errorf("PKCS#11 URI: attribute %q is not supported (token, object)", k)
		}
	}
	for _, attr := range strings.Split(query, "&") {
		k, v, _ := strings.Cut(attr, "=")
		v, err := url.QueryUnescape(v)
		if err != nil {
			return cfg, fmt.Errorf("PKCS#11 URI: %s: %w", k, err)
		}
		switch k {
		case "module-path":
			cfg.Module = v
		case "":
		case "pin-value":
			return cfg, fmt.Errorf("PKCS#11 URI: pin-value is refused; give the PIN in AGENTLEDGER_PKCS11_PIN")
		default:
			return cfg, fmt.Errorf("PKCS#11 URI: query %q is not supported (module-path)", k)
		}
	}
	if cfg.Token == "" || cfg.Object == "" || cfg.Module == "" {
		return cfg, fmt.Errorf("PKCS#11 URI %q: token, object and module-path are required", uri)
	}
	return cfg, nil
}
