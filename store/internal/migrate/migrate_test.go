package migrate

import (
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name    string
		fs      fstest.MapFS
		want    []Migration
		wantErr bool
	}{
		{
			name: "ordered by version, not by name",
			fs: fstest.MapFS{
				"0010_later.sql": file("B"),
				"0002_first.sql": file("A"),
				"README.md":      file("ignored"),
			},
			want: []Migration{{2, "0002_first", "A"}, {10, "0010_later", "B"}},
		},
		{name: "empty", fs: fstest.MapFS{}},
		{name: "no number", fs: fstest.MapFS{"init.sql": file("")}, wantErr: true},
		{name: "zero", fs: fstest.MapFS{"0000_x.sql": file("")}, wantErr: true},
		{name: "same version twice", fs: fstest.MapFS{"0001_a.sql": file(""), "1_b.sql": file("")}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(tt.fs)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Load: err = %v, wantErr %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Load = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("Load[%d] = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}
