package ingest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensionauth"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
)

// staticAuth is a server auth extension in the manner of the collector's
// bearertokenauth (one static token, no subject reported) and, when the
// request names one in x-subject, of oidc (a subject in client.Info.Auth).
type staticAuth struct{ token string }

func (staticAuth) Start(context.Context, component.Host) error { return nil }
func (staticAuth) Shutdown(context.Context) error              { return nil }

func (a staticAuth) Authenticate(ctx context.Context, sources map[string][]string) (context.Context, error) {
	if v := sources["authorization"]; len(v) != 1 || v[0] != "Bearer "+a.token {
		return ctx, errors.New("bad token")
	}
	if sub := sources["x-subject"]; len(sub) == 1 {
		info := client.FromContext(ctx)
		info.Auth = subjectAuth(sub[0])
		return client.NewContext(ctx, info), nil
	}
	return ctx, nil
}

var _ extensionauth.Server = staticAuth{}

type subjectAuth string

func (s subjectAuth) GetAttribute(name string) any {
	if name == "subject" {
		return string(s)
	}
	return nil
}
func (subjectAuth) GetAttributeNames() []string { return []string{"subject"} }

type authHost struct {
	component.Host
	ext map[component.ID]component.Component
}

func (h authHost) GetExtensions() map[component.ID]component.Component { return h.ext }

// TestCollectorAuthSubmitter: in a collector, a request the protocol's
// auth extension accepted records auth: and the subject the extension
// reported, or the extension's ID when it reported none; one it refused
// writes nothing.
func TestCollectorAuthSubmitter(t *testing.T) {
	tl := newSQLiteLedger(t, nil)
	f := NewFactoryWithLedger(Ledger{Log: tl.log, Redactor: newRedactor(t)})
	cfg := f.CreateDefaultConfig().(*Config)
	addr := freeAddr(t)
	g := cfg.Protocols.GRPC.GetOrInsertDefault()
	g.NetAddr.Endpoint = addr
	authID := component.MustNewIDWithName("bearertokenauth", "agents")
	g.Auth = configoptional.Some(configauth.Config{AuthenticatorID: authID})
	cfg.RequireSubmitter = true
	tr, err := f.CreateTraces(t.Context(), receivertest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	host := authHost{ext: map[component.ID]component.Component{authID: staticAuth{token: "s3cret"}}}
	if err := tr.Start(t.Context(), host); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Shutdown(context.Background()) })

	export := func(headers map[string]string) error {
		exp, err := otlptracegrpc.New(t.Context(), otlptracegrpc.WithEndpoint(addr), otlptracegrpc.WithInsecure(),
			otlptracegrpc.WithHeaders(headers), otlptracegrpc.WithRetry(noRetry.grpc), otlptracegrpc.WithTimeout(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer exp.Shutdown(context.Background())
		tp, rec := recorder("agent")
		_, sp := tp.Tracer("agent").Start(t.Context(), "invoke_agent agent")
		sp.End()
		return exp.ExportSpans(t.Context(), rec.Ended())
	}
	if err := export(map[string]string{"authorization": "Bearer s3cret"}); err != nil {
		t.Fatalf("export with the collector's token: %v", err)
	}
	if err := export(map[string]string{"authorization": "Bearer s3cret", "x-subject": "alice@example.com"}); err != nil {
		t.Fatalf("export with a subject: %v", err)
	}
	if err := export(map[string]string{"authorization": "Bearer wrong"}); err == nil || !strings.Contains(err.Error(), "Unauthenticated") {
		t.Errorf("export with a wrong token = %v, want Unauthenticated", err)
	}
	want := []string{"auth:bearertokenauth/agents", "auth:alice@example.com"}
	if got := submitters(t, tl); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("submitters = %q, want %q", got, want)
	}
}
