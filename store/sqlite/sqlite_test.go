package sqlite_test

import (
	"testing"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return storetest.NewSQLite(t) })
}
