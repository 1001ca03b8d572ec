package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigilhq/vigil/internal/doctest"
	"github.com/vigilhq/vigil/internal/ruletest"
	"github.com/vigilhq/vigil/internal/serve"
	"github.com/vigilhq/vigil/internal/yamlfile"
	"github.com/vigilhq/vigil/rules"
)

// The documents whose examples are checked; docs/rules.md's rules
// examples are run by internal/doctest, docs/tutorial.md by TestTutorial,
// the README's quick start by TestQuickStart.
func docFiles(t *testing.T) []*doctest.Doc {
	t.Helper()
	paths, _ := filepath.Glob("../../docs/*.md")
	paths = append(paths, "../../README.md", "../../BENCHMARKS.md", "../../patterns/sequence/SEMANTICS.md")
	var out []*doctest.Doc
	for _, p := range paths {
		d, err := doctest.Parse(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

var vigilCall = regexp.MustCompile(`(?:^|[\s(|;])(?:\./)?(?:bin/)?vigil((?:\s+[^\s|;()#` + "`" + `]+)*)`)

// TestDocCommands: every vigil command line shown in the documents names
// a command that exists, with flags it has; every make target exists.
func TestDocCommands(t *testing.T) {
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, d := range docFiles(t) {
		for _, b := range d.Blocks {
			if b.Lang != "sh" {
				continue
			}
			for i, line := range strings.Split(b.Text, "\n") {
				line, _, _ = strings.Cut(line, " # ")
				where := fmt.Sprintf("%s:%d", d.Path, b.Line+1+i)
				if target, ok := strings.CutPrefix(strings.TrimSpace(line), "make "); ok {
					target = strings.Fields(target)[0]
					if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(target) + `:`).Match(makefile) {
						t.Errorf("%s: make %s: no such target in the Makefile", where, target)
					}
					continue
				}
				for _, m := range vigilCall.FindAllStringSubmatch(line, -1) {
					if err := checkCommandLine(strings.Fields(m[1])); err != nil {
						t.Errorf("%s: vigil%s: %v", where, m[1], err)
					}
					checked++
				}
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d vigil command lines found in the documents", checked)
	}
}

// checkCommandLine resolves a command line as written in a document,
// placeholders and [optional] brackets included.
func checkCommandLine(args []string) error {
	root := newRoot(&bytes.Buffer{}, &bytes.Buffer{})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var words []string
	for _, a := range args {
		a = strings.Trim(a, "[]")
		if a != "" {
			words = append(words, a)
		}
	}
	var path []string
	for _, w := range words {
		if strings.HasPrefix(w, "-") {
			break
		}
		path = append(path, w)
	}
	cmd, rest, err := root.Find(path)
	if err != nil {
		return err
	}
	if len(rest) > 0 && cmd == root {
		return fmt.Errorf("unknown command %q", rest[0])
	}
	if cmd.DisableFlagParsing {
		return nil // the command reads its own flags (vigil rules)
	}
	for _, w := range words {
		if !strings.HasPrefix(w, "-") || w == "-" || w == "--" {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
		if !hasFlag(cmd, name) {
			return fmt.Errorf("%s has no flag %s", cmd.CommandPath(), w)
		}
	}
	return nil
}

func hasFlag(cmd *cobra.Command, name string) bool {
	cmd.InitDefaultHelpFlag()
	cmd.InitDefaultVersionFlag()
	if len(name) == 1 {
		return cmd.Flags().ShorthandLookup(name) != nil || cmd.InheritedFlags().ShorthandLookup(name) != nil
	}
	return cmd.Flags().Lookup(name) != nil || cmd.InheritedFlags().Lookup(name) != nil
}

// TestDocSnippets: every rules file, config, rule test, event and Go
// snippet in the documents is what vigil accepts.
func TestDocSnippets(t *testing.T) {
	for _, d := range docFiles(t) {
		base := filepath.Base(d.Path)
		for _, b := range d.Blocks {
			where := fmt.Sprintf("%s:%d", d.Path, b.Line)
			switch {
			case base == "rules.md" || strings.HasPrefix(b.Marker, "file:"):
				// run by internal/doctest and TestTutorial
			case b.Lang == "yaml":
				checkYAML(t, where, b.Text)
			case b.Lang == "json" && json.Valid([]byte(b.Text)):
			case b.Lang == "json":
				for i, line := range strings.Split(strings.TrimSpace(b.Text), "\n") {
					if !json.Valid([]byte(line)) {
						t.Errorf("%s: line %d is not JSON: %s", where, i+1, line)
					}
				}
			case b.Lang == "go":
				checkGo(t, where, b)
			}
		}
	}
}

func checkYAML(t *testing.T, where, text string) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "lists"), 0o755)
	os.WriteFile(filepath.Join(dir, "lists", "blocked_cards.txt"), []byte("c-blocked\n"), 0o644)
	switch kind := yamlfile.Kind([]byte(text)); kind {
	case "rules":
		if _, err := rules.Load([]rules.Source{{Name: "snippet.yaml", Data: []byte(text), Dir: dir}}); err != nil {
			t.Errorf("%s: rules snippet does not load:\n%v", where, err)
		}
	case "config":
		p := filepath.Join(dir, "vigil.yaml")
		os.WriteFile(p, []byte(text), 0o644)
		if _, err := serve.LoadConfig(p); err != nil {
			t.Errorf("%s: config snippet: %v", where, err)
		}
	case "test":
		var f ruletest.File
		if err := yamlfile.Decode("snippet_test.yaml", []byte(text), &f); err != nil {
			t.Errorf("%s: rule test snippet: %v", where, err)
		}
	default:
		t.Errorf("%s: a yaml block that is neither rules, a config nor a rule test", where)
	}
}

var goName = regexp.MustCompile(`\b(rules|cep|event|sequence|window|sinks|store|sources)\.([A-Z]\w*)`)
var goMethod = regexp.MustCompile(`\b(?:eng|eng2|in|rs)\.([A-Z]\w*)\(`)

// checkGo: a block copied from an Example must match it; a sketch may only
// name what exists.
func checkGo(t *testing.T, where string, b doctest.Block) {
	if from, ok := strings.CutPrefix(b.Marker, "from: "); ok {
		src, err := os.ReadFile(filepath.Join("../..", from))
		if err != nil {
			t.Errorf("%s: %v", where, err)
			return
		}
		if !strings.Contains(string(src), b.Text) {
			t.Errorf("%s: the code shown is not in %s as it is: copy it again", where, from)
		}
		return
	}
	var all strings.Builder
	for _, dir := range []string{"cep", "rules", "event", "patterns/sequence", "patterns/window", "sinks", "store", "sources"} {
		files, _ := filepath.Glob(filepath.Join("../..", dir, "*.go"))
		for _, f := range files {
			if !strings.HasSuffix(f, "_test.go") {
				data, _ := os.ReadFile(f)
				all.Write(data)
			}
		}
	}
	src := all.String()
	for _, m := range goName.FindAllStringSubmatch(b.Text, -1) {
		if !regexp.MustCompile(`(?m)^(func|type|var|const)?\s*(\([^)]*\)\s*)?` + m[2] + `\b`).MatchString(src) {
			t.Errorf("%s: %s.%s does not exist", where, m[1], m[2])
		}
	}
	for _, m := range goMethod.FindAllStringSubmatch(b.Text, -1) {
		if !strings.Contains(src, ") "+m[1]+"(") {
			t.Errorf("%s: no method %s", where, m[1])
		}
	}
}

// TestTutorial runs docs/tutorial.md in a fresh directory: its files are
// written as it writes them, its commands run in order, and each output it
// shows must appear.
func TestTutorial(t *testing.T) {
	d, err := doctest.Parse("../../docs/tutorial.md")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	ran := 0
	for i, b := range d.Blocks {
		where := fmt.Sprintf("%s:%d", d.Path, b.Line)
		if path, ok := strings.CutPrefix(b.Marker, "file: "); ok {
			os.MkdirAll(filepath.Dir(path), 0o755)
			if err := os.WriteFile(path, []byte(b.Text), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if b.Marker != "run" {
			continue
		}
		var out strings.Builder
		for _, line := range strings.Split(strings.TrimSpace(b.Text), "\n") {
			args := strings.Fields(line)
			if len(args) == 0 || args[0] != "vigil" {
				t.Fatalf("%s: a run block holds vigil commands only, got %q", where, line)
			}
			code, stdout, stderr := vigil(t, args[1:]...)
			out.WriteString(stdout + stderr)
			if code != 0 {
				t.Errorf("%s: %s: exit %d\n%s%s", where, line, code, stdout, stderr)
			}
			ran++
		}
		if i+1 < len(d.Blocks) && d.Blocks[i+1].Lang == "text" {
			for _, want := range strings.Split(strings.TrimSpace(d.Blocks[i+1].Text), "\n") {
				if !strings.Contains(out.String(), want) {
					t.Errorf("%s: the output lacks %q:\n%s", where, want, out.String())
				}
			}
		}
	}
	if ran < 5 {
		t.Errorf("the tutorial ran only %d commands", ran)
	}
}

// TestQuickStart runs the README's quick start as a user would: the
// service in the background, the other blocks in a shell, on a free port.
func TestQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the service")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("the quick start needs curl")
	}
	d, err := doctest.Parse("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin", "vigil")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	examples, _ := filepath.Abs("../../examples")
	if err := os.Symlink(examples, filepath.Join(dir, "examples")); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	local := func(s string) string { return strings.ReplaceAll(s, "8080", port) }

	var script, want strings.Builder
	var service *exec.Cmd
	var serviceOut bytes.Buffer
	for _, b := range d.Blocks {
		switch {
		case b.Marker == "quickstart: service":
			for _, line := range strings.Split(b.Text, "\n") {
				if f := strings.Fields(local(line)); len(f) > 0 && f[0] == "bin/vigil" {
					service = exec.Command(filepath.Join(dir, f[0]), f[1:]...)
				}
			}
		case b.Marker == "quickstart" || strings.HasPrefix(b.Marker, "quickstart: check "):
			script.WriteString(local(b.Text))
			if w, ok := strings.CutPrefix(b.Marker, "quickstart: check "); ok {
				want.WriteString(w)
			}
		}
	}
	if service == nil || script.Len() == 0 || want.String() == "" {
		t.Fatal("README.md has no quick start marked for the test")
	}
	service.Dir, service.Stdout, service.Stderr = dir, &serviceOut, &serviceOut
	if err := service.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		service.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- service.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the service did not stop cleanly: %v\n%s", err, serviceOut.String())
			}
		case <-time.After(20 * time.Second):
			service.Process.Kill()
			t.Errorf("the service did not stop on SIGINT")
		}
	}()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service did not listen:\n%s", serviceOut.String())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sh := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script.String())
	sh.Dir = dir
	sh.Env = append(os.Environ(), "VIGIL_URL=http://localhost:"+port)
	out, err := sh.CombinedOutput()
	if err != nil {
		t.Fatalf("the quick start failed: %v\n%s\nservice:\n%s", err, out, serviceOut.String())
	}
	for _, w := range []string{want.String(), `{"accepted":5,"rejected":[]}`, "events: t1 t2 t3 t4 t5", "card c1: 5 declines totalling 150 in 10m"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("the quick start's output lacks %q:\n%s", w, out)
		}
	}
}
