// Package rulescli is `vigil rules`: it pushes rules files to a running
// service, lists its versions, rolls back and diffs, through the rules
// API. Push validates locally first, with the positioned errors of vigil
// check.
package rulescli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigilhq/vigil/rules"
)

// Usage is the one-line usage of each subcommand.
const Usage = `vigil rules push FILES…            validate locally, then replace the service's rules; prints the version and the diff
vigil rules versions               list the service's rules versions, newest first
vigil rules rollback VERSION       re-apply a version's files as a new version
vigil rules diff [--against V] FILES…  what pushing FILES would change (against the running rules, or version V)
  flags: --server URL (env VIGIL_URL, default http://localhost:8080); the token comes from VIGIL_TOKEN`

// Run runs `vigil rules ARGS…` and returns the exit code: 0 ok, 1 the
// operation failed (invalid rules, a refused request), 2 a usage error.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "vigil rules: name a subcommand\n\nusage:\n%s\n", Usage)
		return 2
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("rules "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", envOr("VIGIL_URL", "http://localhost:8080"), "vigil service URL (env VIGIL_URL)")
	against := int64(0)
	if sub == "diff" {
		fs.Int64Var(&against, "against", 0, "diff against this version instead of the running rules")
	}
	fs.Usage = func() { fmt.Fprintf(stderr, "usage:\n%s\n", Usage) }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c := &client{base: strings.TrimRight(*server, "/"), token: os.Getenv("VIGIL_TOKEN"),
		http: &http.Client{Timeout: 60 * time.Second}}
	var err error
	switch sub {
	case "push":
		if fs.NArg() == 0 {
			fmt.Fprintln(stderr, "vigil rules push: name the rules files or directories to push")
			return 2
		}
		err = push(ctx, c, fs.Args(), stdout, stderr)
	case "versions":
		if fs.NArg() != 0 {
			fmt.Fprintf(stderr, "vigil rules versions: takes no arguments, got %q\n", fs.Args())
			return 2
		}
		err = versions(ctx, c, stdout)
	case "rollback":
		if fs.NArg() != 1 {
			fmt.Fprintln(stderr, "vigil rules rollback: name one version (see vigil rules versions)")
			return 2
		}
		v, perr := strconv.ParseInt(fs.Arg(0), 10, 64)
		if perr != nil || v <= 0 {
			fmt.Fprintf(stderr, "vigil rules rollback: version %q: want a positive integer\n", fs.Arg(0))
			return 2
		}
		err = rollback(ctx, c, v, stdout)
	case "diff":
		if fs.NArg() == 0 {
			fmt.Fprintln(stderr, "vigil rules diff: name the rules files or directories to compare")
			return 2
		}
		err = diff(ctx, c, fs.Args(), against, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "vigil rules: unknown subcommand %q\n\nusage:\n%s\n", sub, Usage)
		return 2
	}
	if err != nil {
		if !errors.Is(err, errReported) {
			fmt.Fprintf(stderr, "vigil rules %s: %v\n", sub, err)
		}
		return 1
	}
	return 0
}

// errReported is a failure already printed in full.
var errReported = errors.New("reported")

type file struct {
	name string
	data []byte
}

// readLocal reads rules files and directories as vigil check does.
func readLocal(paths []string) ([]file, error) {
	names, err := rules.ExpandPaths(paths)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no rules files in %s", strings.Join(paths, ", "))
	}
	var out []file
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, file{n, data})
	}
	return out, nil
}

// compileLocal compiles files as the service would, knowing the lists the
// service keeps through its API (by name: their values do not matter for
// validity).
func compileLocal(files []file, apiLists []string) (*rules.Ruleset, error) {
	sources := make([]rules.Source, 0, len(files))
	for _, f := range files {
		sources = append(sources, rules.Source{Name: f.name, Data: f.data, Dir: filepath.Dir(f.name)})
	}
	lists := map[string]map[any]struct{}{}
	for _, n := range apiLists {
		lists[n] = map[any]struct{}{}
	}
	return rules.LoadWith(sources, rules.LoadOptions{Lists: lists})
}

// printErrors prints a compile error as vigil check does.
func printErrors(w io.Writer, err error) {
	var list rules.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Fprintln(w, e)
		}
		fmt.Fprintf(w, "%d error(s)\n", len(list))
		return
	}
	fmt.Fprintln(w, err)
}

func push(ctx context.Context, c *client, paths []string, stdout, stderr io.Writer) error {
	files, err := readLocal(paths)
	if err != nil {
		return err
	}
	apiLists, err := c.apiLists(ctx)
	if err != nil {
		return err
	}
	if _, err := compileLocal(files, apiLists); err != nil {
		printErrors(stderr, err)
		fmt.Fprintln(stderr, "nothing pushed")
		return errReported
	}
	var res struct {
		Version int64      `json:"version"`
		Diff    rules.Diff `json:"diff"`
	}
	if err := c.sendFiles(ctx, "PUT", "/v1/rules", files, &res, stderr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied as version %d\n", res.Version)
	printDiff(stdout, res.Diff)
	return nil
}

func versions(ctx context.Context, c *client, stdout io.Writer) error {
	var res struct {
		Versions []struct {
			Version int64      `json:"version"`
			At      time.Time  `json:"at"`
			Actor   string     `json:"actor"`
			Source  string     `json:"source"`
			Diff    rules.Diff `json:"diff"`
		} `json:"versions"`
	}
	if err := c.do(ctx, "GET", "/v1/rules/versions", "", nil, &res); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tAPPLIED\tACTOR\tSOURCE\tCHANGES")
	for _, v := range res.Versions {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", v.Version, v.At.Format(time.RFC3339), v.Actor, v.Source, summary(v.Diff))
	}
	return tw.Flush()
}

func rollback(ctx context.Context, c *client, v int64, stdout io.Writer) error {
	var res struct {
		Version int64      `json:"version"`
		Diff    rules.Diff `json:"diff"`
	}
	if err := c.do(ctx, "POST", fmt.Sprintf("/v1/rules/rollback/%d", v), "", nil, &res); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "version %d's files applied as version %d\n", v, res.Version)
	printDiff(stdout, res.Diff)
	return nil
}

func diff(ctx context.Context, c *client, paths []string, against int64, stdout, stderr io.Writer) error {
	files, err := readLocal(paths)
	if err != nil {
		return err
	}
	apiLists, err := c.apiLists(ctx)
	if err != nil {
		return err
	}
	next, err := compileLocal(files, apiLists)
	if err != nil {
		printErrors(stderr, err)
		return errReported
	}
	if against == 0 {
		// Against the running rules: the service's own dry run.
		var res struct {
			Diff rules.Diff `json:"diff"`
		}
		if err := c.sendFiles(ctx, "POST", "/v1/rules/validate", files, &res, stderr); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "against the running rules:")
		printDiff(stdout, res.Diff)
		return nil
	}
	var old struct {
		Files []struct {
			Name string `json:"name"`
			Text string `json:"text"`
		} `json:"files"`
	}
	if err := c.do(ctx, "GET", fmt.Sprintf("/v1/rules/versions/%d", against), "", nil, &old); err != nil {
		return err
	}
	var oldFiles []file
	for _, f := range old.Files {
		oldFiles = append(oldFiles, file{f.Name, []byte(f.Text)})
	}
	prev, err := compileLocal(oldFiles, apiLists)
	if err != nil {
		return fmt.Errorf("version %d no longer compiles here: %w", against, err)
	}
	fmt.Fprintf(stdout, "against version %d:\n", against)
	printDiff(stdout, rules.Compare(prev, next))
	return nil
}

func summary(d rules.Diff) string {
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{{len(d.Added), "added"}, {len(d.Removed), "removed"}, {len(d.ChangedMatching), "changed (matching)"}, {len(d.ChangedPresentation), "changed (presentation)"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	if len(parts) == 0 {
		return "no rule changed"
	}
	return strings.Join(parts, ", ")
}

func printDiff(w io.Writer, d rules.Diff) {
	line := func(label string, names []string, note string) {
		if len(names) == 0 {
			return
		}
		fmt.Fprintf(w, "  %-24s %s%s\n", label, strings.Join(names, ", "), note)
	}
	if d.Empty() {
		fmt.Fprintf(w, "  no rule changed (%d unchanged)\n", d.Unchanged)
		return
	}
	line("added:", d.Added, "")
	line("removed:", d.Removed, "  (state released)")
	line("changed (matching):", d.ChangedMatching, "  (state starts fresh)")
	line("changed (presentation):", d.ChangedPresentation, "  (state and alert ids kept)")
	fmt.Fprintf(w, "  %-24s %d\n", "unchanged:", d.Unchanged)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// client talks to the rules API.
type client struct {
	base, token string
	http        *http.Client
}

// apiLists names the lists the service keeps through its API.
func (c *client) apiLists(ctx context.Context) ([]string, error) {
	var res struct {
		Lists []struct {
			Name   string `json:"name"`
			Origin string `json:"origin"`
		} `json:"lists"`
	}
	if err := c.do(ctx, "GET", "/v1/lists", "", nil, &res); err != nil {
		return nil, err
	}
	var names []string
	for _, l := range res.Lists {
		if l.Origin == "api" {
			names = append(names, l.Name)
		}
	}
	return names, nil
}

// sendFiles sends files as multipart/form-data; a 422 is printed as
// positioned errors.
func (c *client) sendFiles(ctx context.Context, method, path string, files []file, out any, stderr io.Writer) error {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, f := range files {
		w, err := mw.CreateFormFile("file", f.name)
		if err != nil {
			return err
		}
		w.Write(f.data)
	}
	if err := mw.Close(); err != nil {
		return err
	}
	err := c.do(ctx, method, path, mw.FormDataContentType(), body.Bytes(), out)
	var apiErr *apiError
	if errors.As(err, &apiErr) && apiErr.Code == "invalid_rules" {
		for _, d := range apiErr.Details {
			fmt.Fprintf(stderr, "%s:%d:%d: rule %q: %s: %s\n", d.File, d.Line, d.Column, d.Rule, d.Field, d.Message)
		}
		fmt.Fprintln(stderr, "the service refused the rules; its running rules are unchanged")
		return errReported
	}
	return err
}

// apiError is an error answer of the API.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Details []struct {
		File    string `json:"file"`
		Line    int    `json:"line"`
		Column  int    `json:"column"`
		Rule    string `json:"rule"`
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"details"`
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
	switch e.Status {
	case http.StatusUnauthorized:
		msg += " (set VIGIL_TOKEN to an API token)"
	case http.StatusForbidden:
		msg += " (this needs a token with scope admin)"
	}
	return msg
}

func (c *client) do(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w (is vigil serve running there? set --server or VIGIL_URL)", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error apiError `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error.Code == "" {
			return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
		}
		e.Error.Status = resp.StatusCode
		return &e.Error
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: the answer is not what vigil sends: %w", method, path, err)
		}
	}
	return nil
}
