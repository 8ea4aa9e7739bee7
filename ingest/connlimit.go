package ingest

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// connLimiter holds at most a fixed number of OTLP/HTTP connections open at
// a time. The collector's OTLP receiver listens by itself and offers no way
// to wrap its listener, so the in-process server binds the public address
// here and relays each connection's bytes, unread, to the receiver's HTTP
// server on a Unix socket in a private directory. A connection over the
// limit is not accepted: it waits in the kernel's backlog, holding no file
// descriptor of the process, so that slow or idle senders cannot exhaust
// the descriptors the query API and /healthz need. TLS, timeouts and the
// client certificate are still the receiver's: the relay passes the bytes
// through.
type connLimiter struct {
	ln     net.Listener
	dir    string // holds the socket; mode 0700
	socket string
	slots  chan struct{}
	logger *slog.Logger

	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// listenLimited binds addr and makes the socket path the receiver's HTTP
// server must listen on; call serve once the receiver listens there.
func listenLimited(addr string, limit int, logger *slog.Logger) (*connLimiter, error) {
	dir, err := os.MkdirTemp("", "agentledger-otlp-")
	if err != nil {
		return nil, fmt.Errorf("otlp http relay: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("otlp http listen: %w", err)
	}
	return &connLimiter{
		ln: ln, dir: dir, socket: filepath.Join(dir, "otlp-http.sock"),
		slots: make(chan struct{}, limit), logger: logger, conns: map[net.Conn]struct{}{},
	}, nil
}

// serve accepts connections, at most cap(slots) at a time, until close.
func (c *connLimiter) serve() {
	c.wg.Go(func() {
		backoff := 5 * time.Millisecond
		for {
			c.slots <- struct{}{}
			conn, err := c.ln.Accept()
			if err != nil {
				<-c.slots
				if c.isClosed() {
					return
				}
				c.logger.Warn("otlp http accept failed; retrying", "err", err, "backoff", backoff)
				time.Sleep(backoff)
				backoff = min(2*backoff, time.Second)
				continue
			}
			backoff = 5 * time.Millisecond
			c.wg.Go(func() {
				defer func() { <-c.slots }()
				c.relay(conn)
			})
		}
	})
}

// relay copies conn to and from a new connection to the receiver until
// the receiver closes its side; the client closing its side is passed on.
func (c *connLimiter) relay(conn net.Conn) {
	if !c.track(conn) {
		conn.Close()
		return
	}
	defer c.untrack(conn)
	up, err := net.Dial("unix", c.socket)
	if err != nil {
		c.logger.Warn("otlp http relay: dial the receiver", "err", err)
		return
	}
	if !c.track(up) {
		up.Close()
		return
	}
	defer c.untrack(up)
	go func() {
		io.Copy(up, conn)
		if cw, ok := up.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
	}()
	io.Copy(conn, up)
}

func (c *connLimiter) track(conn net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.conns[conn] = struct{}{}
	return true
}

func (c *connLimiter) untrack(conn net.Conn) {
	c.mu.Lock()
	delete(c.conns, conn)
	c.mu.Unlock()
	conn.Close()
}

func (c *connLimiter) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// stopAccepting closes the listener.
func (c *connLimiter) stopAccepting() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.ln.Close()
}

// close stops accepting, closes every relayed connection, waits for the
// relays and removes the socket's directory. Call it after the receiver
// has shut down, so that requests in flight are answered first.
func (c *connLimiter) close() error {
	c.stopAccepting()
	c.mu.Lock()
	for conn := range c.conns {
		conn.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
	return os.RemoveAll(c.dir)
}

// closeIfAny closes c if it is not nil.
func (c *connLimiter) closeIfAny() error {
	if c == nil {
		return nil
	}
	return c.close()
}
