package ingest

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configmiddleware"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/extension/extensionmiddleware"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
)

// Transport defaults of ServerConfig.
const (
	// DefaultTLSReloadInterval is how often the certificate and key files
	// are read again, so that a rotated certificate (SPIRE and cert-manager
	// rotate hourly) is served without a restart.
	DefaultTLSReloadInterval = 30 * time.Second
	// DefaultHTTPReadHeaderTimeout bounds the wait for a request's headers:
	// a connection that sends them slower is closed.
	DefaultHTTPReadHeaderTimeout = 10 * time.Second
	// DefaultHTTPReadTimeout bounds the reading of a whole request, body
	// included.
	DefaultHTTPReadTimeout = time.Minute
	// DefaultHTTPIdleTimeout closes a keep-alive connection idle this long.
	DefaultHTTPIdleTimeout = time.Minute
)

// TLSFiles names the PEM files of a TLS server. Each is read again every
// ReloadInterval; replace a certificate and its key together (as
// Kubernetes does, by swapping the symbolic link to the directory that
// holds them), or a handshake in between fails.
type TLSFiles struct {
	// CertFile and KeyFile are the server's certificate (chain) and key.
	// Both set enables TLS.
	CertFile, KeyFile string
	// ClientCAFile, if set, requires mutual TLS: each client presents a
	// certificate signed by one of these CAs, valid now, and it names the
	// submitter of what the client sends.
	ClientCAFile string
	// ReloadInterval is how often the files are read again. Zero means
	// DefaultTLSReloadInterval.
	ReloadInterval time.Duration
}

// Enabled reports whether t configures TLS.
func (t TLSFiles) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// validate checks that t names a certificate and key together, and a
// client CA only with them.
func (t TLSFiles) validate() error {
	switch {
	case (t.CertFile == "") != (t.KeyFile == ""):
		return errors.New("tls: the certificate file and the key file go together")
	case t.ClientCAFile != "" && !t.Enabled():
		return errors.New("tls: a client CA file needs a certificate and key (mutual TLS is TLS)")
	case t.ReloadInterval < 0:
		return errors.New("tls: negative reload interval")
	}
	return nil
}

// collector returns t as the collector's TLS server settings.
func (t TLSFiles) collector() configoptional.Optional[configtls.ServerConfig] {
	c := configtls.NewDefaultServerConfig()
	c.CertFile, c.KeyFile = t.CertFile, t.KeyFile
	c.MinVersion = "1.2"
	c.ReloadInterval = t.ReloadInterval
	if c.ReloadInterval == 0 {
		c.ReloadInterval = DefaultTLSReloadInterval
	}
	if t.ClientCAFile != "" {
		c.ClientCAFile = t.ClientCAFile
		c.ReloadClientCAFile = true
	}
	return configoptional.Some(c)
}

// HTTPTimeouts bound how long the OTLP/HTTP server waits on a client.
// Zero fields take the Default* values.
type HTTPTimeouts struct {
	ReadHeader time.Duration
	Read       time.Duration
	Idle       time.Duration
}

func (h HTTPTimeouts) apply(sc *confighttp.ServerConfig) {
	pick := func(v, def time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return def
	}
	sc.ReadHeaderTimeout = pick(h.ReadHeader, DefaultHTTPReadHeaderTimeout)
	sc.ReadTimeout = pick(h.Read, DefaultHTTPReadTimeout)
	sc.Keepalive = configoptional.Some(confighttp.KeepaliveServerConfig{IdleTimeout: pick(h.Idle, DefaultHTTPIdleTimeout)})
}

// identityID is the ID of the middleware the receiver adds to its OTLP/HTTP
// server, so that its consumer learns the request's TLS state and
// authorization header, which the OTLP receiver does not pass on. (Over
// gRPC the consumer's context carries both.)
var identityID = component.NewIDWithName(componentType, "identity")

// identityMiddleware is that middleware, an extensionmiddleware.HTTPServer.
type identityMiddleware struct{}

var _ extensionmiddleware.HTTPServer = identityMiddleware{}

func (identityMiddleware) Start(context.Context, component.Host) error { return nil }
func (identityMiddleware) Shutdown(context.Context) error              { return nil }

// GetHTTPHandler wraps the OTLP/HTTP handler.
func (identityMiddleware) GetHTTPHandler(context.Context) (extensionmiddleware.WrapHTTPHandlerFunc, error) {
	return func(_ context.Context, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := httpPeer{tls: r.TLS, authorization: r.Header.Get("Authorization")}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), httpPeerKey{}, p)))
		}), nil
	}, nil
}

// identityHost is the host the receiver starts the OTLP servers with: the
// collector's (or serve's) extensions and the identity middleware.
type identityHost struct {
	component.Host
}

func (h identityHost) GetExtensions() map[component.ID]component.Component {
	ext := map[component.ID]component.Component{}
	if h.Host != nil {
		for id, c := range h.Host.GetExtensions() {
			ext[id] = c
		}
	}
	ext[identityID] = identityMiddleware{}
	return ext
}

// withIdentity returns a copy of cfg whose OTLP/HTTP server runs the
// identity middleware first, so that it sees every request. The copy is
// what the OTLP receiver is created with; the user's configuration is left
// as it is.
func withIdentity(cfg *otlpreceiver.Config) *otlpreceiver.Config {
	c := *cfg // the protocols' configurations are held by value
	if h := c.Protocols.HTTP.Get(); h != nil {
		h.ServerConfig.Middlewares = append([]configmiddleware.Config{{ID: identityID}}, h.ServerConfig.Middlewares...)
	}
	return &c
}
