package wire

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/securecam/securecam/hub"
)

// protocolDoc returns the section of docs/protocol.md under heading (up to the next
// heading of the same level).
func protocolDoc(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("docs/protocol.md has no %q", heading)
	}
	section, _, _ := strings.Cut(rest, "\n## ")
	return section
}

// typeConstants returns the values of the Type constants of types.go.
func typeConstants(t *testing.T) []string {
	t.Helper()
	file, err := parser.ParseFile(token.NewFileSet(), "types.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	ast.Inspect(file, func(node ast.Node) bool {
		spec, ok := node.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range spec.Names {
			if !strings.HasPrefix(name.Name, "Type") {
				continue
			}
			lit, ok := spec.Values[i].(*ast.BasicLit)
			if !ok {
				t.Fatalf("%s is not a string literal", name.Name)
			}
			typ, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			types = append(types, typ)
		}
		return true
	})
	if len(types) < 20 {
		t.Fatalf("found %d Type constants in types.go, want them all", len(types))
	}
	return types
}

var backticked = regexp.MustCompile("`([a-z_.]+)`")

// TestProtocolDocErrorCodes: the error codes docs/protocol.md lists are this package's
// table, no more and no fewer.
func TestProtocolDocErrorCodes(t *testing.T) {
	var documented []string
	for _, m := range backticked.FindAllStringSubmatch(protocolDoc(t, "## Error codes"), -1) {
		documented = append(documented, m[1])
	}
	slices.Sort(documented)
	if table := slices.Sorted(maps.Keys(httpStatus)); !slices.Equal(documented, table) {
		t.Fatalf("docs/protocol.md lists %v, the table has %v", documented, table)
	}
}

// TestProtocolDocMessageTypes: every message type the tables of docs/protocol.md name
// is declared (here, or by the hub for its own), and every type declared here is
// documented there (in a table, or shown as {"type": "…"}).
func TestProtocolDocMessageTypes(t *testing.T) {
	declared := map[string]bool{hub.TypeAck: true, hub.TypeError: true}
	for _, typ := range typeConstants(t) {
		declared[typ] = false
	}
	for _, heading := range []string{"## Commands", "## Live view, events and telemetry", "## Arming"} {
		for line := range strings.Lines(protocolDoc(t, heading)) {
			if !strings.HasPrefix(line, "| `") {
				continue
			}
			cell := strings.SplitN(line, "|", 3)[1]
			for _, m := range backticked.FindAllStringSubmatch(cell, -1) {
				if _, ok := declared[m[1]]; !ok {
					t.Errorf("docs/protocol.md (%s) documents %q, which is declared nowhere", heading, m[1])
				}
				declared[m[1]] = true
			}
		}
	}
	b, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	for typ, documented := range declared {
		if !documented && !strings.Contains(string(b), `{"type": "`+typ+`"`) {
			t.Errorf("%q is not in the message tables of docs/protocol.md", typ)
		}
	}
}
