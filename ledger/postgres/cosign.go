package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// AddCosignature stores a witness's cosignature line of the checkpoint of
// size, once: a second one from the same witness key is ignored. The caller
// has verified it.
func (s *Store) AddCosignature(ctx context.Context, size uint64, witness, line string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO cosignatures (size, witness, line, received_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (size, witness) DO NOTHING`, int64(size), witness, line, at)
	if err != nil {
		return fmt.Errorf("postgres: add cosignature: %w", translate(err))
	}
	return nil
}

// Cosignatures returns the stored cosignature lines of the checkpoint of
// size, ordered by witness key.
func (s *Store) Cosignatures(ctx context.Context, size uint64) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT line FROM cosignatures WHERE size = $1 ORDER BY witness`, int64(size))
	if err != nil {
		return nil, fmt.Errorf("postgres: read cosignatures: %w", translate(err))
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: read cosignatures: %w", translate(err))
	}
	return lines, nil
}
