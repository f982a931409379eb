package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/securecam/securecam/store"
)

// testSettings: the first value stored under a name stays; racing initialisers all get
// the winner's value.
func testSettings(t *testing.T, s store.Store) {
	ctx := t.Context()
	name := unique("setting")
	got, err := s.InitSetting(ctx, name, "first")
	noErr(t, "InitSetting", err)
	if got != "first" {
		t.Fatalf("first InitSetting = %q, want first", got)
	}
	got, err = s.InitSetting(ctx, name, "second")
	noErr(t, "InitSetting again", err)
	if got != "first" {
		t.Fatalf("second InitSetting = %q, want the stored first", got)
	}
	if _, err := s.InitSetting(ctx, name, ""); err == nil {
		t.Error("InitSetting with an empty value: no error")
	}

	race := unique("setting")
	results := make([]string, 8)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			v, err := s.InitSetting(ctx, race, fmt.Sprint("value-", i))
			if err != nil {
				t.Errorf("racing InitSetting %d: %v", i, err)
			}
			results[i] = v
		})
	}
	wg.Wait()
	for i, v := range results {
		if v != results[0] {
			t.Fatalf("racer %d got %q, racer 0 got %q: want one value for all", i, v, results[0])
		}
	}
}
