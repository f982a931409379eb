package sqlstore

import (
	"fmt"
	"time"
)

// TimeLayout is how SQLite stores times: UTC, fixed width, microseconds, so that text
// order is time order.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// timeDst scans a timestamp column: time.Time from pgx, text from SQLite. NULL
// scans as the zero time.
type timeDst struct{ t *time.Time }

func (d timeDst) Scan(src any) error {
	t, ok, err := parseTime(src)
	if err != nil {
		return err
	}
	if !ok {
		*d.t = time.Time{}
		return nil
	}
	*d.t = t
	return nil
}

// nullTimeDst scans a nullable timestamp column into a *time.Time.
type nullTimeDst struct{ t **time.Time }

func (d nullTimeDst) Scan(src any) error {
	t, ok, err := parseTime(src)
	if err != nil {
		return err
	}
	if !ok {
		*d.t = nil
		return nil
	}
	*d.t = &t
	return nil
}

func parseTime(src any) (time.Time, bool, error) {
	switch v := src.(type) {
	case nil:
		return time.Time{}, false, nil
	case time.Time:
		return v.UTC(), true, nil
	case string:
		return parseTimeText(v)
	case []byte:
		return parseTimeText(string(v))
	default:
		return time.Time{}, false, fmt.Errorf("scan time: unsupported type %T", src)
	}
}

func parseTimeText(s string) (time.Time, bool, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("scan time: %w", err)
	}
	return t.UTC(), true, nil
}
