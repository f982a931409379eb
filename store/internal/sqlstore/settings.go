package sqlstore

import (
	"context"
	"errors"
	"fmt"
)

// InitSetting implements store.Store. The insert does nothing when a row of that name
// exists, and the row is read back on the writer: every replica racing to initialise a
// setting gets the one that won (a stored setting never changes).
func (s *Store) InitSetting(ctx context.Context, name, value string) (string, error) {
	const op = "init setting"
	if name == "" || value == "" {
		return "", fmt.Errorf("%s: %w", op, errors.New("name and value must not be empty"))
	}
	w := s.db.Write()
	if _, err := w.Exec(ctx, `INSERT INTO hub_settings (name, value, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO NOTHING`, name, value, s.t(now())); err != nil {
		return "", s.mapErr(op, err)
	}
	var stored string
	if err := w.QueryRow(ctx, `SELECT value FROM hub_settings WHERE name = $1`, name).Scan(&stored); err != nil {
		return "", s.mapErr(op, err)
	}
	return stored, nil
}
