package sqlite

import (
	"context"
	"fmt"
	"time"
)

// AddCosignature stores a witness's cosignature line of the checkpoint of
// size, once: a second one from the same witness key is ignored. The caller
// has verified it.
func (s *Store) AddCosignature(ctx context.Context, size uint64, witness, line string, at time.Time) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO cosignatures (size, witness, line, received_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (size, witness) DO NOTHING`, int64(size), witness, line, at.UnixNano())
	return wrap("add cosignature", err)
}

// Cosignatures returns the stored cosignature lines of the checkpoint of
// size, ordered by witness key.
func (s *Store) Cosignatures(ctx context.Context, size uint64) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT line FROM cosignatures WHERE size = ? ORDER BY witness`, int64(size))
	if err != nil {
		return nil, wrap("read cosignatures", err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return nil, fmt.Errorf("sqlite: read cosignatures: %w", err)
		}
		lines = append(lines, l)
	}
	return lines, wrap("read cosignatures", rows.Err())
}
