package store_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// TestTypesCarryNoWireTags: the store's types are the data model, not the wire. The
// socket and REST representations are signaling/wire's types, converted at the edge
// (TestResourcesCarryEveryColumn checks the conversion), so a schema change is never
// silently a wire change. A json (or yaml, xml) struct tag here would make a store type
// encodable as if it were a wire type; this test refuses one.
func TestTypesCarryNoWireTags(t *testing.T) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files++
		ast.Inspect(f, func(n ast.Node) bool {
			field, ok := n.(*ast.Field)
			if !ok || field.Tag == nil {
				return true
			}
			for _, key := range []string{"json:", "yaml:", "xml:"} {
				if strings.Contains(field.Tag.Value, key) {
					t.Errorf("%s: store field with a wire tag %s", fset.Position(field.Pos()), field.Tag.Value)
				}
			}
			return true
		})
	}
	if files == 0 {
		t.Fatal("no source files of package store found")
	}
}
