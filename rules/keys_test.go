package rules

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryMappingUsesAKeyList: the loader reads every mapping of known
// keys through one of the lists of keys.go, which docs/rules.md is checked
// against (internal/doctest); a key list written inline would escape that
// check.
func TestEveryMappingUsesAKeyList(t *testing.T) {
	known := map[string]bool{}
	for _, name := range []string{"topKeys", "defaultsKeys", "listFileKeys", "ruleKeys", "stageKeys", "skipKeys", "thresholdKeys", "windowKeys", "alertKeys"} {
		known[name] = true
	}
	if len(known) != len(keysByPlace) {
		t.Fatalf("keysByPlace has %d lists; this test knows %d", len(keysByPlace), len(known))
	}
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	calls := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "mapping" || len(call.Args) <= 2 {
				return true
			}
			calls++
			id, ok := call.Args[2].(*ast.Ident)
			if !ok || len(call.Args) != 3 || !call.Ellipsis.IsValid() || !known[id.Name] {
				t.Errorf("%s: mapping reads keys that are not one of the lists of keys.go", fset.Position(call.Pos()))
			}
			return true
		})
	}
	if calls < len(known) {
		t.Errorf("found %d mapping calls with allowed keys; want at least %d", calls, len(known))
	}
}
