package doctest

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/internal/ruletest"
	"github.com/vigilhq/vigil/rules"
)

var update = flag.Bool("update", false, "rewrite the expected errors shown in docs/rules.md")

const rulesDoc = "../../docs/rules.md"

// TestRulesReference runs every example of docs/rules.md: a yaml block is
// a rules file that must load; after <!-- error --> it must fail, with the
// error shown in the text block that follows; after <!-- test --> it is a
// rule test of the rules file above it, and must pass.
func TestRulesReference(t *testing.T) {
	d, err := Parse(rulesDoc)
	if err != nil {
		t.Fatal(err)
	}
	var lastRules string
	replace := map[int]string{} // text block line -> actual error, for -update
	for i, b := range d.Blocks {
		if b.Lang != "yaml" {
			continue
		}
		switch b.Marker {
		case "":
			if _, err := load(t, b.Text); err != nil {
				t.Errorf("%s:%d: example does not load:\n%v", rulesDoc, b.Line, err)
			}
			lastRules = b.Text
		case "error":
			_, err := load(t, b.Text)
			if err == nil {
				t.Errorf("%s:%d: example loads; it should show an error", rulesDoc, b.Line)
				continue
			}
			if i+1 >= len(d.Blocks) || d.Blocks[i+1].Lang != "text" {
				t.Errorf("%s:%d: an error example needs a text block with the error after it", rulesDoc, b.Line)
				continue
			}
			want := d.Blocks[i+1].Text
			if got := err.Error() + "\n"; got != want {
				replace[d.Blocks[i+1].Line] = got
				if !*update {
					t.Errorf("%s:%d: the error shown differs:\n--- shown\n%s--- vigil check\n%s", rulesDoc, d.Blocks[i+1].Line, want, got)
				}
			}
		case "test":
			if lastRules == "" {
				t.Errorf("%s:%d: a rule test needs a rules file before it", rulesDoc, b.Line)
				continue
			}
			runTest(t, fmtLine(b.Line), lastRules, b.Text)
		default:
			t.Errorf("%s:%d: unknown marker %q", rulesDoc, b.Line, b.Marker)
		}
	}
	if *update && len(replace) > 0 {
		rewrite(t, d, replace)
	}
}

func fmtLine(n int) string { return rulesDoc + ":" + strconv.Itoa(n) }

// load loads text as one rules file named rules.yaml, in a directory that
// holds the list files the examples name.
func load(t *testing.T, text string) (*rules.Ruleset, error) {
	t.Helper()
	dir := t.TempDir()
	writeListFiles(t, dir)
	return rules.Load([]rules.Source{{Name: "rules.yaml", Data: []byte(text), Dir: dir}})
}

func writeListFiles(t *testing.T, dir string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "blocked_cards.txt"), []byte("# blocked cards\nc-blocked-1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func runTest(t *testing.T, at, rulesText, testText string) {
	t.Helper()
	dir := t.TempDir()
	writeListFiles(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(rulesText), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "doc_test.yaml")
	if err := os.WriteFile(path, []byte("rules: [rules.yaml]\n"+testText), 0o644); err != nil {
		t.Fatal(err)
	}
	results, err := ruletest.RunFile(context.Background(), path)
	if err != nil {
		t.Errorf("%s: %v", at, err)
		return
	}
	if len(results) == 0 {
		t.Errorf("%s: a rule test without cases", at)
	}
	for _, r := range results {
		if !r.Passed() {
			t.Errorf("%s: %s:\n%s", at, r.Name, strings.Join(r.Failures, "\n"))
		}
	}
}

func rewrite(t *testing.T, d *Doc, replace map[int]string) {
	var out []string
	for i := 0; i < len(d.Lines); i++ {
		out = append(out, d.Lines[i])
		if got, ok := replace[i+1]; ok {
			out = append(out, strings.Split(strings.TrimSuffix(got, "\n"), "\n")...)
			for i++; i < len(d.Lines) && strings.TrimSpace(d.Lines[i]) != "```"; i++ {
			}
			out = append(out, "```")
		}
	}
	if err := os.WriteFile(rulesDoc, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRulesReferenceIsComplete holds docs/rules.md to the loader: its key
// index lists exactly the keys the loader accepts, and its function tables
// exactly the functions expressions may call.
func TestRulesReferenceIsComplete(t *testing.T) {
	d, err := Parse(rulesDoc)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, row := range d.TableRows("Key index") {
		if len(row) < 2 {
			continue
		}
		documented[row[0]+" "+strings.Trim(row[1], "`")] = true
	}
	known := map[string]bool{}
	for place, keys := range rules.Keys() {
		for _, k := range keys {
			known[place+" "+k] = true
		}
	}
	compareSets(t, "key", documented, known)

	name := regexp.MustCompile("`([A-Za-z_][A-Za-z0-9_]*)[(`]")
	documented = map[string]bool{}
	for _, section := range []string{"Functions", "Aggregates"} {
		rows := d.TableRows(section)
		if len(rows) == 0 {
			t.Errorf("docs/rules.md has no table under %q", section)
		}
		for _, row := range rows {
			for _, m := range name.FindAllStringSubmatch(row[0], -1) {
				documented[m[1]] = true
			}
		}
	}
	known = map[string]bool{}
	for _, f := range rules.Functions() {
		known[f] = true
	}
	compareSets(t, "function", documented, known)

	// The names every expression sees: the fields of rules.Env.
	documented = map[string]bool{}
	for _, row := range d.TableRows("Names") {
		if m := regexp.MustCompile("^`([a-z]+)`$").FindStringSubmatch(row[0]); m != nil {
			documented[m[1]] = true
		}
	}
	known = map[string]bool{}
	env := reflect.TypeOf(rules.Env{})
	for i := 0; i < env.NumField(); i++ {
		if tag := env.Field(i).Tag.Get("expr"); !strings.HasPrefix(tag, "__") {
			known[tag] = true
		}
	}
	compareSets(t, "name", documented, known)
}

func compareSets(t *testing.T, what string, documented, known map[string]bool) {
	t.Helper()
	var missing, unknown []string
	for k := range known {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(unknown)
	for _, k := range missing {
		t.Errorf("docs/rules.md does not document the %s %q", what, k)
	}
	for _, k := range unknown {
		t.Errorf("docs/rules.md documents the %s %q, which the loader does not know", what, k)
	}
}
