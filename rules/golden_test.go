package rules_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/rules"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestCheckGolden")

// checkDir holds one broken rules file per kind of mistake (x.yaml, or a
// directory x/ for mistakes that need several files) and the text `vigil
// check` prints for it (x.golden). Paths are relative to this package's
// directory, as `go test` runs there.
const checkDir = "../testdata/check"

// goldenCase is one input of TestCheckGolden: the paths passed to
// LoadFiles and the golden file's base name.
type goldenCase struct {
	name  string
	paths []string
}

func goldenCases(t testing.TB) []goldenCase {
	t.Helper()
	entries, err := os.ReadDir(checkDir)
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
	for _, e := range entries {
		name := e.Name()
		switch {
		case e.IsDir():
			cases = append(cases, goldenCase{name, []string{checkDir + "/" + name}})
		case strings.HasSuffix(name, ".yaml"):
			cases = append(cases, goldenCase{strings.TrimSuffix(name, ".yaml"), []string{checkDir + "/" + name}})
		}
	}
	if len(cases) == 0 {
		t.Fatalf("no test inputs in %s", checkDir)
	}
	return cases
}

// goldenBugs are inputs whose output is known to be wrong; each is skipped
// (even with -update, so that no wrong output is recorded as golden) until
// the bug is fixed. Then remove the entry, run with -update, and read the
// new golden file.
var goldenBugs = map[string]string{}

func TestCheckGolden(t *testing.T) {
	cases := goldenCases(t)
	have := map[string]bool{}
	for _, c := range cases {
		have[c.name+".golden"] = true
		t.Run(c.name, func(t *testing.T) {
			if bug, ok := goldenBugs[c.name]; ok {
				knownBug(t, bug)
			}
			rs, err := rules.LoadFiles(c.paths...)
			if err == nil {
				t.Fatalf("loaded %d rules without error; every file in %s must be broken", len(rs.Rules), checkDir)
			}
			if rs != nil {
				t.Errorf("got a ruleset and an error: a ruleset with errors must never be returned")
			}
			var list rules.ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error is %T, want rules.ErrorList: %v", err, err)
			}
			checkErrorList(t, list)
			got := err.Error() + "\n"
			golden := filepath.Join(checkDir, c.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./rules -run TestCheckGolden -update)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s (rerun with -update if the change is intended)\n--- got:\n%s--- want:\n%s", golden, got, want)
			}
		})
	}
	// A golden file without its input is a leftover of a renamed case.
	goldens, _ := filepath.Glob(filepath.Join(checkDir, "*.golden"))
	for _, g := range goldens {
		if base := filepath.Base(g); !have[base] || goldenBugs[strings.TrimSuffix(base, ".golden")] != "" {
			t.Errorf("%s has no input file or directory, or its input is a known bug", g)
		}
	}
}

// checkErrorList checks what every error of a failed load must satisfy:
// a file, a message, a line (a rule author must be able to jump to it),
// and the order: by file, then line, then column.
func checkErrorList(t *testing.T, list rules.ErrorList) {
	t.Helper()
	if len(list) == 0 {
		t.Fatal("empty ErrorList returned as an error")
	}
	for i, e := range list {
		if e.File == "" || e.Msg == "" {
			t.Errorf("error %d has no file or message: %#v", i, e)
		}
		if e.Line <= 0 {
			t.Errorf("error %d has no line: %v", i, e)
		}
		if e.Source != "" && (e.Caret < 0 || e.Caret > len([]rune(e.Source))) {
			t.Errorf("error %d: caret %d outside its source line %q", i, e.Caret, e.Source)
		}
		if i > 0 {
			p := list[i-1]
			if p.File > e.File || p.File == e.File && (p.Line > e.Line || p.Line == e.Line && p.Column > e.Column) {
				t.Errorf("errors %d and %d are out of order: %v / %v", i-1, i, p, e)
			}
		}
	}
}
