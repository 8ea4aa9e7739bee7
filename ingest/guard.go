package ingest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configmiddleware"
	"go.opentelemetry.io/collector/extension/extensionmiddleware"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/agentledger/agentledger/ledger"
)

// The embedded OTLP receiver answers some bad requests itself, before they
// reach the receiver's consumer, and so unlogged, uncounted and with
// messages that may quote the request: a body that does not parse (HTTP
// 400), a JSON body that is not UTF-8 (HTTP 500 "failed to marshal error
// message": the parse error quoting it cannot be encoded), and over gRPC
// any message that does not parse, too deep nesting included (Internal,
// from gRPC itself). The guard, a middleware the receiver installs in the
// OTLP servers as the collector's middleware extensions are, answers
// these InvalidArgument (HTTP 400) with a redacted message, logs them and
// reports them to the Observer as rejected.

// guardID is the extension ID under which the receiver hands the guard to
// the OTLP servers.
var guardID = component.NewIDWithName(component.MustNewType("agentledger_guard"), "internal")

// notJSONMessage answers a JSON-labelled body whose parse error cannot be
// encoded: it is not UTF-8 text.
const notJSONMessage = "the request body is not OTLP/JSON: it is not UTF-8 text (send protobuf as application/x-protobuf)"

// maxErrorBody bounds the error answer of the OTLP receiver the guard
// holds back to rewrite.
const maxErrorBody = 64 << 10

// guard is the middleware; see above.
type guard struct {
	r *ledgerReceiver
	// paths maps the OTLP/HTTP paths to their signals.
	paths map[string]Signal
	// failed maps a gRPC request message that failed to decode to its
	// error, from the codec to the interceptor, which runs right after
	// the decoding, on the same message.
	failed sync.Map
	// grpcEstimate is the size of the latest gRPC request message, which
	// the tap reserves for the next one before it is read.
	grpcEstimate atomic.Int64
	// seed keys OTLP/HTTP requests (retryKey).
	seed maphash.Seed
}

var (
	_ extensionmiddleware.HTTPServer = (*guard)(nil)
	_ extensionmiddleware.GRPCServer = (*guard)(nil)
)

// withGuard returns a copy of cfg whose protocols use the guard. The copy
// is what the OTLP receiver is created with; the user's configuration is
// left as it is.
func withGuard(cfg *otlpreceiver.Config) *otlpreceiver.Config {
	c := *cfg // the protocols' configurations are held by value
	mw := configmiddleware.Config{ID: guardID}
	if g := c.Protocols.GRPC.Get(); g != nil {
		g.Middlewares = append(slices.Clone(g.Middlewares), mw)
	}
	if h := c.Protocols.HTTP.Get(); h != nil {
		// Last, so that the guard wraps the OTLP handler only.
		h.ServerConfig.Middlewares = append(slices.Clone(h.ServerConfig.Middlewares), mw)
	}
	return &c
}

// newGuard returns the guard of r, whose OTLP receiver is configured by
// cfg.
func newGuard(r *ledgerReceiver, cfg *otlpreceiver.Config) *guard {
	g := &guard{r: r, paths: map[string]Signal{}, seed: maphash.MakeSeed()}
	g.grpcEstimate.Store(initialGRPCEstimate)
	if h := cfg.Protocols.HTTP.Get(); h != nil {
		g.paths[string(h.TracesURLPath)] = SignalTraces
		g.paths[string(h.LogsURLPath)] = SignalLogs
	}
	return g
}

// Start implements component.Component.
func (*guard) Start(context.Context, component.Host) error { return nil }

// Shutdown implements component.Component.
func (*guard) Shutdown(context.Context) error { return nil }

// guardHost is the host the OTLP receiver starts with: the collector's,
// with the guard among its extensions.
type guardHost struct {
	component.Host
	g *guard
}

func (h guardHost) GetExtensions() map[component.ID]component.Component {
	ext := map[component.ID]component.Component{}
	if h.Host != nil {
		for id, c := range h.Host.GetExtensions() {
			ext[id] = c
		}
	}
	ext[guardID] = h.g
	return ext
}

// GetGRPCServerOptions implements extensionmiddleware.GRPCServer: a codec
// that hands a message that does not decode to the interceptor, which
// refuses it with InvalidArgument. The interceptor is the server's outer
// one (grpc.UnaryInterceptor runs before the chained ones), so it sees
// every message the codec decoded. A tap reserves each request's bytes in
// flight before its message is read (see tap).
func (g *guard) GetGRPCServerOptions(context.Context) ([]grpc.ServerOption, error) {
	delegate := encoding.GetCodecV2("proto")
	if delegate == nil {
		return nil, fmt.Errorf("agentledger guard: no gRPC proto codec registered")
	}
	return []grpc.ServerOption{
		grpc.ForceServerCodecV2(guardCodec{delegate: delegate, g: g}),
		grpc.UnaryInterceptor(g.intercept),
		grpc.InTapHandle(g.tap),
	}, nil
}

// otlpRequest is what the OTLP request messages implement.
type otlpRequest interface {
	UnmarshalProto([]byte) error
}

type guardCodec struct {
	delegate encoding.CodecV2
	g        *guard
}

func (c guardCodec) Marshal(v any) (mem.BufferSlice, error) { return c.delegate.Marshal(v) }
func (c guardCodec) Name() string                           { return c.delegate.Name() }

func (c guardCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if _, ok := v.(otlpRequest); !ok {
		return c.delegate.Unmarshal(data, v)
	}
	c.g.grpcEstimate.Store(max(int64(data.Len()), minGRPCEstimate))
	if err := c.delegate.Unmarshal(data, v); err != nil {
		c.g.failed.Store(v, err)
	}
	return nil
}

// minGRPCEstimate and initialGRPCEstimate bound and start guard.grpcEstimate.
const (
	minGRPCEstimate     = 64 << 10
	initialGRPCEstimate = 1 << 20
)

// tap reserves bytes in flight for a gRPC request before its message is
// read, as the HTTP guard reserves a body's Content-Length: gRPC reads a
// whole message before it hands it on, and a message's size is not known
// until then, so the tap reserves the size of the latest request, and the
// consumer grows the reservation to the decoded size. A request that does
// not fit is refused ResourceExhausted with a retry delay before it is
// read. The reservation is released when the handler returns (intercept),
// before the answer is sent, so that the sender's next request does not
// find it still held; a call that never reaches the handler releases it
// when it ends.
func (g *guard) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	f := g.r.inflight
	if f == nil {
		return ctx, nil
	}
	t := f.reserve(ctx, g.grpcEstimate.Load(), 0, 0)
	if t == nil {
		s := SignalTraces
		if strings.Contains(info.FullMethodName, ".logs.") {
			s = SignalLogs
		}
		return nil, g.r.pushedBack(ctx, s, 0)
	}
	context.AfterFunc(ctx, t.release)
	return withTicket(ctx, t), nil
}

func (g *guard) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if t, ok := ctx.Value(ticketKey{}).(*ticket); ok && t.f == g.r.inflight {
		defer t.release()
	}
	v, ok := g.failed.LoadAndDelete(req)
	if !ok {
		return handler(ctx, req)
	}
	s := SignalTraces
	if strings.Contains(info.FullMethod, ".logs.") {
		s = SignalLogs
	}
	return nil, g.r.failed(ctx, s, 0, fmt.Errorf("%w: the request is not an OTLP protobuf message: %w", ledger.ErrInvalid, v.(error)))
}

// GetHTTPHandler implements extensionmiddleware.HTTPServer.
func (g *guard) GetHTTPHandler(context.Context) (extensionmiddleware.WrapHTTPHandlerFunc, error) {
	return func(_ context.Context, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			g.serveHTTP(next, w, req)
		}), nil
	}, nil
}

// reportedKey is the context key of a request's *reported.
type reportedKey struct{}

// reported records that the consumer logged and reported the request's
// failure itself.
type reported struct{ done bool }

// markReported notes in ctx, if it is an HTTP request's, that its failure
// was logged and reported.
func markReported(ctx context.Context) {
	if r, ok := ctx.Value(reportedKey{}).(*reported); ok {
		r.done = true
	}
}

func (g *guard) serveHTTP(next http.Handler, w http.ResponseWriter, req *http.Request) {
	s, ok := g.paths[req.URL.Path]
	if !ok {
		next.ServeHTTP(w, req)
		return
	}
	rep := &reported{}
	ctx := context.WithValue(req.Context(), reportedKey{}, rep)
	if f := g.r.inflight; f != nil {
		// A body of known length is reserved before it is read (but for
		// its first retryKeyBytes, its key), so that a burst of requests
		// is refused before it takes memory; one of unknown length is
		// refused only if nothing more fits, and counted once it is
		// decoded.
		if req.ContentLength > 0 {
			t := f.reserve(ctx, req.ContentLength, AdmissionWait, g.retryKey(req))
			if t == nil {
				g.pushBack(ctx, s, w, req)
				return
			}
			defer t.release()
			ctx = withTicket(ctx, t)
		} else if f.full(req.ContentLength) {
			g.pushBack(ctx, s, w, req)
			return
		}
	}
	cw := &captureWriter{w: w}
	next.ServeHTTP(cw, req.WithContext(ctx))
	if !cw.capturing {
		return
	}
	body := cw.buf.Bytes()
	switch {
	case rep.done:
		// The consumer's error, already redacted, logged and counted.
	case cw.code == http.StatusBadRequest:
		g.refuse(ctx, s, req, cw, parseErrorMessage(cw.Header().Get("Content-Type"), body))
		return
	case cw.code == http.StatusInternalServerError && bytes.Contains(body, []byte("failed to marshal error message")):
		// The parse error quoted the body, which is not UTF-8 text, so
		// the OTLP receiver could not encode it.
		g.refuse(ctx, s, req, cw, "")
		return
	}
	cw.release()
}

// retryKeyBytes is how much of an OTLP/HTTP body retryKey reads before
// the request is admitted: enough to hold the first span or log record's
// IDs after a resource's attributes, so that distinct requests have
// distinct keys, and no more than the buffers the server already holds
// for each connection, as a request not admitted holds it while it waits.
// Requests whose first bytes and lengths are the same share a key, which
// changes only their places in the queue.
const retryKeyBytes = 4 << 10

// retryKey returns a key of req, of its path, its Content-Length and the
// first retryKeyBytes of its body, which it reads and puts back in front of
// the rest: an exporter retries a refused request with the same bytes, so
// the retry has the same key, and it waits for room where its first
// attempt would (inflight.acquire). It returns 0 if the body cannot be
// read.
func (g *guard) retryKey(req *http.Request) uint64 {
	head := make([]byte, min(req.ContentLength, retryKeyBytes))
	n, err := io.ReadFull(req.Body, head)
	req.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head[:n]), req.Body), req.Body}
	if err != nil {
		return 0
	}
	var h maphash.Hash
	h.SetSeed(g.seed)
	h.WriteString(req.URL.Path)
	var size [8]byte
	binary.LittleEndian.PutUint64(size[:], uint64(req.ContentLength))
	h.Write(size[:])
	h.Write(head)
	return max(h.Sum64(), 1)
}

// pushBack answers a request that arrives while the receiver holds all the
// bytes it may as the consumer would (429, Retry-After, a ResourceExhausted
// status), without decoding it: under overload, decoding requests only to
// refuse them would take the CPU the commits need. The body is read and
// dropped (the server bounds its size), so that the connection stays open
// for the retry.
func (g *guard) pushBack(ctx context.Context, s Signal, w http.ResponseWriter, req *http.Request) {
	drain(req.Body)
	delay := g.r.inflight.retryDelay()
	st := status.Convert(g.r.pushedBackFor(ctx, s, 0, delay)).Proto()
	var out []byte
	if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); mt == "application/json" {
		out, _ = protojson.Marshal(st)
		w.Header().Set("Content-Type", "application/json")
	} else {
		out, _ = proto.Marshal(st)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(delay/time.Second)))
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write(out)
}

// drainBufferSize is the size of drain's reads. io.Copy to io.Discard
// reads 8 KiB at a time: a refused request of a megabyte took more than a
// hundred reads, and at 64 senders, where requests are refused about five
// times for each one accepted, those reads were 5 % of serve's CPU.
const drainBufferSize = 64 << 10

// drainBuffers holds the buffers drain reads into.
var drainBuffers = sync.Pool{New: func() any { return new([drainBufferSize]byte) }}

// drain reads r to its end, or its first error, and drops what it read.
func drain(r io.Reader) {
	buf := drainBuffers.Get().(*[drainBufferSize]byte)
	defer drainBuffers.Put(buf)
	for {
		if _, err := r.Read(buf[:]); err != nil {
			return
		}
	}
}

// parseErrorMessage returns the message of the OTLP receiver's answer to a
// body that does not parse: a google.rpc.Status in the encoding ctype
// names.
func parseErrorMessage(ctype string, body []byte) string {
	st := &spb.Status{}
	switch mt, _, _ := mime.ParseMediaType(ctype); {
	case mt == "application/x-protobuf" && proto.Unmarshal(body, st) == nil,
		mt == "application/json" && protojson.Unmarshal(body, st) == nil:
		return st.GetMessage()
	}
	return string(body)
}

// refuse answers a request whose body does not parse 400 InvalidArgument,
// in the request's encoding, with a message saying so (detail, if set,
// being the parse error) that is redacted, logged and reported.
func (g *guard) refuse(ctx context.Context, s Signal, req *http.Request, cw *captureWriter, detail string) {
	reqType, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	var msg string
	switch {
	case reqType == "application/x-protobuf":
		msg = "the request body is not an OTLP protobuf message"
	case detail == "":
		msg = notJSONMessage
	default:
		msg = "the request body is not OTLP/JSON"
	}
	if detail != "" {
		msg += ": " + trimQuotedBody(detail)
	}
	// failed redacts the message, logs it and reports the request.
	err := g.r.failed(ctx, s, 0, fmt.Errorf("%w: %s", ledger.ErrInvalid, msg))
	st := status.Convert(err).Proto()
	var out []byte
	if reqType == "application/x-protobuf" {
		out, _ = proto.Marshal(st)
		cw.Header().Set("Content-Type", "application/x-protobuf")
	} else {
		out, _ = protojson.Marshal(st)
		cw.Header().Set("Content-Type", "application/json")
	}
	cw.Header().Del("Content-Length")
	cw.w.WriteHeader(http.StatusBadRequest)
	_, _ = cw.w.Write(out)
}

// trimQuotedBody cuts from a JSON parse error the pieces of the body it
// quotes ("…, error found in #10 byte of ...|<body>|..., bigger context
// ...|<body>|..."), keeping the offset: a quoted piece may hold the part of
// a secret too short for the redactor to know it.
func trimQuotedBody(msg string) string {
	head, tail, ok := strings.Cut(msg, ", error found in #")
	if !ok {
		return msg
	}
	offset, _, _ := strings.Cut(tail, " ")
	return head + " (at byte " + offset + ")"
}

// captureWriter passes a success through and holds back an error answer,
// for the guard to rewrite or release.
type captureWriter struct {
	w         http.ResponseWriter
	code      int
	capturing bool
	wrote     bool
	buf       bytes.Buffer
}

func (c *captureWriter) Header() http.Header { return c.w.Header() }

func (c *captureWriter) WriteHeader(code int) {
	if c.wrote || c.capturing {
		return
	}
	if code < http.StatusBadRequest {
		c.wrote = true
		c.w.WriteHeader(code)
		return
	}
	c.code, c.capturing = code, true
}

func (c *captureWriter) Write(p []byte) (int, error) {
	if !c.wrote && !c.capturing {
		c.WriteHeader(http.StatusOK)
	}
	if !c.capturing {
		return c.w.Write(p)
	}
	if room := maxErrorBody - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (c *captureWriter) Unwrap() http.ResponseWriter { return c.w }

// release writes the held-back error answer as it was.
func (c *captureWriter) release() {
	c.w.WriteHeader(c.code)
	_, _ = c.w.Write(c.buf.Bytes())
}
