package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Config says what Run sends.
type Config struct {
	// URL is the OTLP/HTTP traces URL, such as
	// http://127.0.0.1:4318/v1/traces.
	URL string
	// Senders is how many requests are in flight at a time.
	Senders int
	// First and Count number the requests sent: First, First+1, …
	// Requests of distinct numbers hold distinct spans.
	First, Count int
	// Client sends the requests; nil means one of its own with a
	// keep-alive connection per sender.
	Client *http.Client
	// MaxRetries bounds how often one request is sent again after a
	// retryable answer (429, 502, 503, 504), as OTLP exporters do. Zero
	// means DefaultMaxRetries.
	MaxRetries int
}

// DefaultMaxRetries is Config.MaxRetries' default.
const DefaultMaxRetries = 100

// Result is what Run measured.
type Result struct {
	Requests       int     `json:"requests"`
	Spans          int     `json:"spans"`
	Bytes          int64   `json:"bytes"`
	Seconds        float64 `json:"seconds"`
	SpansPerSecond float64 `json:"spans_per_second"`
	// AckP50 and AckP99 are quantiles, in seconds, of the time from
	// sending a request to its acknowledgement, over the attempts that
	// were acknowledged.
	AckP50 float64 `json:"ack_p50_seconds"`
	AckP99 float64 `json:"ack_p99_seconds"`
	AckMax float64 `json:"ack_max_seconds"`
	// DeliveryP99 is the 99th percentile, in seconds, of the time from a
	// request's first attempt to its acknowledgement, pushbacks and
	// back-off included.
	DeliveryP99 float64 `json:"delivery_p99_seconds"`
	// Pushbacks counts retryable answers (429 and 5xx that OTLP exporters
	// retry), each followed by a back-off and a retry.
	Pushbacks int64 `json:"pushbacks"`
}

// Run sends cfg.Count requests from cfg.Senders concurrent senders and
// returns once each is acknowledged (HTTP 200), or the first fails for
// good.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Senders < 1 || cfg.Count < 0 || cfg.URL == "" {
		return Result{}, fmt.Errorf("loadgen: want a URL, one sender or more and a count ≥ 0 (got %q, %d, %d)", cfg.URL, cfg.Senders, cfg.Count)
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Senders}}
	}
	maxRetries := cfg.MaxRetries
	if maxRetries == 0 {
		maxRetries = DefaultMaxRetries
	}
	tmpl := DefaultTemplate()
	var (
		next      atomic.Int64
		pushbacks atomic.Int64
		mu        sync.Mutex
		acks      []time.Duration
		delivery  []time.Duration
		firstErr  error
		wg        sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	for range cfg.Senders {
		wg.Go(func() {
			var buf []byte
			var myAcks, myDelivery []time.Duration
			defer func() {
				mu.Lock()
				acks = append(acks, myAcks...)
				delivery = append(delivery, myDelivery...)
				mu.Unlock()
			}()
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.Count || ctx.Err() != nil {
					return
				}
				n := cfg.First + i
				buf = tmpl.Request(buf, n)
				first := time.Now()
				for attempt := 0; ; attempt++ {
					sent := time.Now()
					wait, err := post(ctx, client, cfg.URL, buf)
					if err == nil {
						myAcks = append(myAcks, time.Since(sent))
						myDelivery = append(myDelivery, time.Since(first))
						break
					}
					var retry *retryable
					if !errors.As(err, &retry) || attempt == maxRetries {
						mu.Lock()
						if firstErr == nil {
							firstErr = fmt.Errorf("request %d: %w", n, err)
						}
						mu.Unlock()
						cancel()
						return
					}
					pushbacks.Add(1)
					select {
					case <-time.After(wait):
					case <-ctx.Done():
						return
					}
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return Result{}, firstErr
	}
	if err := ctx.Err(); err != nil && len(acks) < cfg.Count {
		return Result{}, fmt.Errorf("loadgen: %w", err)
	}
	r := Result{
		Requests:  cfg.Count,
		Spans:     cfg.Count * SpansPerRequest,
		Bytes:     int64(cfg.Count) * int64(tmpl.Size()),
		Seconds:   elapsed.Seconds(),
		Pushbacks: pushbacks.Load(),
	}
	r.SpansPerSecond = float64(r.Spans) / r.Seconds
	slices.Sort(acks)
	slices.Sort(delivery)
	r.AckP50, r.AckP99 = quantile(acks, 0.5), quantile(acks, 0.99)
	if len(acks) > 0 {
		r.AckMax = acks[len(acks)-1].Seconds()
	}
	r.DeliveryP99 = quantile(delivery, 0.99)
	return r, nil
}

// quantile returns the q quantile of sorted d in seconds (nearest rank).
func quantile(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return 0
	}
	i := int(q*float64(len(d))+0.999999) - 1
	return d[min(max(i, 0), len(d)-1)].Seconds()
}

// retryable is an answer OTLP exporters retry, after Wait.
type retryable struct {
	status string
	wait   time.Duration
}

func (r *retryable) Error() string { return "retryable answer " + r.status }

// post posts body and returns once it is acknowledged and the client no
// longer reads body, so that the caller may reuse it. A retryable answer
// returns a *retryable error and the wait it asks for (Retry-After, else
// 100 ms).
func post(ctx context.Context, client *http.Client, url string, body []byte) (time.Duration, error) {
	rb := &reusableBody{Reader: bytes.NewReader(body), closed: make(chan struct{})}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, rb)
	if err != nil {
		return 0, err
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := client.Do(req)
	var wait time.Duration
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			wait = 100 * time.Millisecond
			if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s >= 0 {
				wait = time.Duration(s) * time.Second
			}
			err = &retryable{status: resp.Status, wait: wait}
		default:
			err = fmt.Errorf("POST = %s", resp.Status)
		}
	}
	select {
	case <-rb.closed:
	case <-time.After(time.Minute):
		return 0, fmt.Errorf("the HTTP client did not close the request body (%v)", err)
	}
	return wait, err
}

// reusableBody is a request body that tells when the HTTP client has
// closed it, which it does once it no longer reads it.
type reusableBody struct {
	*bytes.Reader
	once   sync.Once
	closed chan struct{}
}

func (r *reusableBody) Close() error {
	r.once.Do(func() { close(r.closed) })
	return nil
}
