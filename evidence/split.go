package evidence

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// errTooLarge and errTooDeep refuse one record; the reader skips it and
// goes on with the next.
var (
	errTooLarge = errors.New("record too large")
	errTooDeep  = errors.New("record nested too deeply")
)

// raw is one record's bytes as the splitter found them, or why it could
// not be read.
type raw struct {
	line int // 1-based line of the record's first byte
	data []byte
	err  error
}

// splitter cuts a stream into records without holding more than one
// record in memory. In line mode every non-blank line is a record (JSON
// lines: the Vault file device, the Kubernetes audit log backend). In value
// mode the records are top-level JSON values, with two containers opened
// instead of read whole: a top-level array (as the Keycloak admin API
// answers) and a top-level object whose first member is "Records" (a
// CloudTrail log file as delivered to S3).
type splitter struct {
	r        *bufio.Reader
	lines    bool
	maxBytes int
	maxDepth int
	line     int
	buf      []byte
	// inArray is true inside a top-level array; closeObj too when that
	// array is a CloudTrail file's Records, whose '}' follows it.
	inArray  bool
	closeObj bool
	done     bool
}

func newSplitter(r io.Reader, lines bool, maxBytes, maxDepth int) *splitter {
	return &splitter{r: bufio.NewReaderSize(r, 64<<10), lines: lines, maxBytes: maxBytes, maxDepth: maxDepth, line: 1}
}

// next returns the next record; ok is false at the end of the stream. A
// record error (err in raw) leaves the splitter at the next record; a
// returned error means the stream cannot be read further.
func (s *splitter) next() (raw, bool, error) {
	if s.done {
		return raw{}, false, nil
	}
	if s.lines {
		return s.nextLine()
	}
	return s.nextValue()
}

func (s *splitter) nextLine() (raw, bool, error) {
	for {
		line := s.line
		s.buf = s.buf[:0]
		over := false
		for {
			chunk, err := s.r.ReadSlice('\n')
			if !over {
				if len(s.buf)+len(chunk) > s.maxBytes+1 {
					over = true
				} else {
					s.buf = append(s.buf, chunk...)
				}
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err == io.EOF {
				s.done = true
				if len(chunk) == 0 && len(s.buf) == 0 && !over {
					return raw{}, false, nil
				}
				break
			}
			if err != nil {
				return raw{}, false, fmt.Errorf("read line %d: %w", line, err)
			}
			break
		}
		s.line++
		if over {
			return raw{line: line, err: fmt.Errorf("%w: over %d bytes", errTooLarge, s.maxBytes)}, true, nil
		}
		data := bytes.TrimSpace(s.buf)
		if len(data) == 0 {
			if s.done {
				return raw{}, false, nil
			}
			continue
		}
		if d := depth(data); d > s.maxDepth {
			return raw{line: line, err: fmt.Errorf("%w: depth %d, limit %d", errTooDeep, d, s.maxDepth)}, true, nil
		}
		return raw{line: line, data: bytes.Clone(data)}, true, nil
	}
}

// skipSpace consumes white space (and, inside a container, one comma).
func (s *splitter) skipSpace(comma bool) (byte, error) {
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case '\n':
			s.line++
			continue
		case ' ', '\t', '\r':
			continue
		case ',':
			if comma {
				comma = false
				continue
			}
		}
		return c, nil
	}
}

func (s *splitter) nextValue() (raw, bool, error) {
	c, err := s.skipSpace(s.inArray)
	if err == io.EOF {
		s.done = true
		if s.inArray || s.closeObj {
			return raw{}, false, fmt.Errorf("line %d: truncated: the stream ends inside its array", s.line)
		}
		return raw{}, false, nil
	}
	if err != nil {
		return raw{}, false, fmt.Errorf("read line %d: %w", s.line, err)
	}
	if s.inArray && c == ']' {
		s.inArray = false
		if s.closeObj {
			c, err := s.skipSpace(false)
			if err != nil || c != '}' {
				s.done = true
				return raw{}, false, fmt.Errorf("line %d: want '}' closing the CloudTrail file after its Records array", s.line)
			}
			s.closeObj = false
		}
		return s.nextValue()
	}
	if !s.inArray && !s.closeObj {
		switch c {
		case '[':
			s.inArray = true
			return s.nextValue()
		case '{':
			if s.recordsFile() {
				s.inArray, s.closeObj = true, true
				return s.nextValue()
			}
		}
	}
	return s.value(c)
}

// recordsFile reports, after a top-level '{', whether the object is a
// CloudTrail log file ({"Records": [ …), consuming its head if so.
func (s *splitter) recordsFile() bool {
	peek, _ := s.r.Peek(256)
	i := 0
	skip := func() {
		for i < len(peek) && (peek[i] == ' ' || peek[i] == '\t' || peek[i] == '\r' || peek[i] == '\n') {
			i++
		}
	}
	skip()
	if !bytes.HasPrefix(peek[i:], []byte(`"Records"`)) {
		return false
	}
	i += len(`"Records"`)
	skip()
	if i >= len(peek) || peek[i] != ':' {
		return false
	}
	i++
	skip()
	if i >= len(peek) || peek[i] != '[' {
		return false
	}
	s.line += bytes.Count(peek[:i+1], []byte{'\n'})
	s.r.Discard(i + 1)
	return true
}

// value reads one JSON value whose first byte c was consumed, tracking
// strings and nesting; it does not validate the value (json.Unmarshal
// does), but it bounds its size and depth.
func (s *splitter) value(c byte) (raw, bool, error) {
	start := s.line
	s.buf = append(s.buf[:0], c)
	over, deep := false, false
	d, maxd := 0, 0
	inStr, esc := false, false
	open := func(c byte) {
		d++
		maxd = max(maxd, d)
		if d > s.maxDepth {
			deep = true
		}
	}
	switch c {
	case '{', '[':
		open(c)
	case '"':
		inStr = true
	default:
		s.scalarEnd()
		return raw{line: start, data: bytes.Clone(s.buf)}, true, nil
	}
	// The bytes buffered are scanned in place, a buffer at a time, and
	// appended to the record at once.
	for d > 0 || inStr {
		chunk, err := s.r.Peek(max(1, s.r.Buffered()))
		if len(chunk) == 0 {
			if err == io.EOF {
				s.done = true
				return raw{line: start, err: fmt.Errorf("truncated JSON: the stream ends inside this record")}, true, nil
			}
			return raw{}, false, fmt.Errorf("read line %d: %w", s.line, err)
		}
		n := 0
		for n < len(chunk) && (d > 0 || inStr) {
			b := chunk[n]
			n++
			switch {
			case b == '\n':
				s.line++
			case inStr && esc:
				esc = false
			case inStr && b == '\\':
				esc = true
			case b == '"':
				inStr = !inStr
			case inStr:
			case b == '{' || b == '[':
				open(b)
			case b == '}' || b == ']':
				d--
			}
		}
		if !over {
			if len(s.buf)+n > s.maxBytes {
				over = true
				s.buf = s.buf[:0]
			} else {
				s.buf = append(s.buf, chunk[:n]...)
			}
		}
		s.r.Discard(n)
	}
	switch {
	case over:
		return raw{line: start, err: fmt.Errorf("%w: over %d bytes", errTooLarge, s.maxBytes)}, true, nil
	case deep:
		return raw{line: start, err: fmt.Errorf("%w: depth %d, limit %d", errTooDeep, maxd, s.maxDepth)}, true, nil
	}
	return raw{line: start, data: bytes.Clone(s.buf)}, true, nil
}

// scalarEnd reads the rest of a top-level scalar (a record that is not an
// object: refused later) up to white space or a delimiter.
func (s *splitter) scalarEnd() {
	for {
		p, err := s.r.Peek(1)
		if err != nil || bytes.IndexByte([]byte(" \t\r\n,]}"), p[0]) >= 0 {
			return
		}
		b, _ := s.r.ReadByte()
		if len(s.buf) < s.maxBytes {
			s.buf = append(s.buf, b)
		}
	}
}

// depth returns the deepest nesting of objects and arrays in data.
func depth(data []byte) int {
	d, _ := shape(data)
	return d
}

// shape returns the deepest nesting of objects and arrays in JSON data
// and its number of object members (colons outside strings).
func shape(data []byte) (maxDepth, members int) {
	d := 0
	inStr, esc := false, false
	for _, b := range data {
		switch {
		case inStr && esc:
			esc = false
		case inStr && b == '\\':
			esc = true
		case b == '"':
			inStr = !inStr
		case inStr:
		case b == '{' || b == '[':
			d++
			maxDepth = max(maxDepth, d)
		case b == '}' || b == ']':
			d--
		case b == ':':
			members++
		}
	}
	return maxDepth, members
}
