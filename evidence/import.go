package evidence

import (
	"context"
	"fmt"
	"io"

	"github.com/agentledger/agentledger/ledger"
)

// ImportBatch is how many entries Import appends at once.
const ImportBatch = 1000

// Appender appends entries to the ledger; *ledger.Log is one.
type Appender interface {
	Append(ctx context.Context, entries []ledger.Entry) ([]ledger.Index, error)
}

// Stats counts what Import did.
type Stats struct {
	// Records were read; Refused of them were refused.
	Records, Refused int
	// Entries were mapped and appended (or found in the ledger already).
	Entries int
}

// Import reads the records of r with p and appends their entries to l in
// batches, calling refused for each refused record. Parsing the next batch
// overlaps appending the last. Entries already in the ledger (the same
// event imported before) are not appended again. It returns the first
// error reading r or appending; the entries appended before it stay.
func Import(ctx context.Context, p *Parser, l Appender, r io.Reader, refused func(Record)) (Stats, error) {
	var st Stats
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	batches := make(chan []ledger.Entry, 1)
	appended := make(chan struct{})
	go func() {
		defer close(appended)
		for b := range batches {
			if ctx.Err() != nil {
				continue
			}
			if _, err := l.Append(ctx, b); err != nil {
				cancel(fmt.Errorf("append: %w", err))
			}
		}
	}()
	batch := make([]ledger.Entry, 0, ImportBatch)
	readErr := p.Read(r, func(rec Record) error {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		st.Records++
		if rec.Err != nil {
			st.Refused++
			if refused != nil {
				refused(rec)
			}
			return nil
		}
		batch = append(batch, rec.Entries...)
		st.Entries += len(rec.Entries)
		if len(batch) >= ImportBatch {
			select {
			case batches <- batch:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
			batch = make([]ledger.Entry, 0, ImportBatch)
		}
		return nil
	})
	if readErr == nil && len(batch) > 0 {
		batches <- batch
	}
	close(batches)
	<-appended
	if err := context.Cause(ctx); err != nil {
		return st, err
	}
	return st, readErr
}
