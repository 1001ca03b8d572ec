package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vigilhq/vigil/internal/reload"
	"github.com/vigilhq/vigil/rules"
	"github.com/vigilhq/vigil/store"
)

// RulesAdmin changes and shows the running rules and lists: a
// reload.Manager.
type RulesAdmin interface {
	Running() (*rules.Ruleset, []store.RulesFile)
	Validate(files []store.RulesFile) (reload.Result, error)
	Apply(ctx context.Context, files []store.RulesFile, actor, source string) (reload.Result, error)
	ReloadConfigured(ctx context.Context, actor, source string) (reload.Result, error)
	Rollback(ctx context.Context, v int64, actor string) (reload.Result, error)
	Versions(ctx context.Context) ([]store.RulesVersion, error)
	Version(ctx context.Context, v int64) (store.RulesVersion, bool, error)
	PutList(ctx context.Context, name string, set map[any]struct{}, actor string) (reload.ListInfo, error)
	DeleteList(ctx context.Context, name, actor string) error
	Lists() []reload.ListInfo
	List(name string) (reload.ListInfo, bool)
	ListHistory(ctx context.Context, name string) ([]store.ListVersion, error)
}

func (s *Server) routeRules(mux *http.ServeMux) {
	if s.Rules == nil {
		return
	}
	mux.HandleFunc("GET /v1/rules", s.listRules)
	mux.HandleFunc("PUT /v1/rules", s.putRules)
	mux.HandleFunc("GET /v1/rules/{name}", s.getRule)
	mux.HandleFunc("POST /v1/rules/validate", s.validateRules)
	mux.HandleFunc("POST /v1/rules/reload", s.reloadRules)
	mux.HandleFunc("GET /v1/rules/versions", s.listVersions)
	mux.HandleFunc("GET /v1/rules/versions/{v}", s.getVersion)
	mux.HandleFunc("POST /v1/rules/rollback/{v}", s.rollback)
	mux.HandleFunc("GET /v1/lists", s.listLists)
	mux.HandleFunc("GET /v1/lists/{name}", s.getList)
	mux.HandleFunc("PUT /v1/lists/{name}", s.putList)
	mux.HandleFunc("DELETE /v1/lists/{name}", s.deleteList)
}

// ruleInfo is a running rule as GET /v1/rules shows it.
type ruleInfo struct {
	Name      string            `json:"name"`
	Version   int64             `json:"version"`
	Kind      string            `json:"kind"`
	Hash      string            `json:"hash"`
	MatchHash string            `json:"match_hash"`
	Mode      string            `json:"mode"`
	Severity  string            `json:"severity"`
	Labels    map[string]string `json:"labels,omitempty"`
	File      string            `json:"file"`
	Line      int               `json:"line"`
	Text      string            `json:"text"`
}

func describeRule(rs *rules.Ruleset, r *rules.Rule) ruleInfo {
	ri := ruleInfo{Name: r.Name, Version: rs.Version, Kind: "threshold", Hash: r.Hash, MatchHash: r.MatchHash,
		Mode: "live", Severity: r.Severity, Labels: r.Labels, File: r.File, Line: r.Line, Text: r.Text}
	if r.Sequence != nil {
		ri.Kind = "sequence"
	}
	if r.Shadow {
		ri.Mode = "shadow"
	}
	return ri
}

func (s *Server) listRules(w http.ResponseWriter, _ *http.Request) {
	rs, files := s.Rules.Running()
	out := make([]ruleInfo, 0, len(rs.Rules))
	for _, r := range rs.Rules {
		out = append(out, describeRule(rs, r))
	}
	names := make([]string, 0, len(files))
	for _, f := range files {
		names = append(names, f.Name)
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": rs.Version, "files": names, "rules": out})
}

func (s *Server) getRule(w http.ResponseWriter, r *http.Request) {
	rs, _ := s.Rules.Running()
	name := r.PathValue("name")
	rule := rs.Rule(name)
	if rule == nil {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no running rule named %q", name))
		return
	}
	writeJSON(w, http.StatusOK, describeRule(rs, rule))
}

func (s *Server) putRules(w http.ResponseWriter, r *http.Request) {
	files, ok := s.readRulesBody(w, r)
	if !ok {
		return
	}
	res, err := s.Rules.Apply(r.Context(), files, actorOf(r), "api")
	if err != nil {
		s.rulesError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) validateRules(w http.ResponseWriter, r *http.Request) {
	files, ok := s.readRulesBody(w, r)
	if !ok {
		return
	}
	res, err := s.Rules.Validate(files)
	if err != nil {
		s.rulesError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"valid": true, "diff": res.Diff})
}

func (s *Server) reloadRules(w http.ResponseWriter, r *http.Request) {
	res, err := s.Rules.ReloadConfigured(r.Context(), actorOf(r), "reload")
	if err != nil {
		s.rulesError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) listVersions(w http.ResponseWriter, r *http.Request) {
	vs, err := s.Rules.Versions(r.Context())
	if err != nil {
		s.internal(w, "rules versions", err)
		return
	}
	if vs == nil {
		vs = []store.RulesVersion{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": vs})
}

// versionBody is a version with its files' text.
type versionBody struct {
	store.RulesVersion
	Files []fileBody `json:"files"`
}

type fileBody struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

func (s *Server) getVersion(w http.ResponseWriter, r *http.Request) {
	v, ok := parseVersion(w, r)
	if !ok {
		return
	}
	rv, found, err := s.Rules.Version(r.Context(), v)
	if err != nil {
		s.internal(w, "rules version", err)
		return
	}
	if !found {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no rules version %d", v))
		return
	}
	body := versionBody{RulesVersion: rv, Files: make([]fileBody, 0, len(rv.Files))}
	for _, f := range rv.Files {
		body.Files = append(body.Files, fileBody{Name: f.Name, Text: string(f.Data)})
	}
	body.RulesVersion.Files = nil
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) rollback(w http.ResponseWriter, r *http.Request) {
	v, ok := parseVersion(w, r)
	if !ok {
		return
	}
	res, err := s.Rules.Rollback(r.Context(), v, actorOf(r))
	if err != nil {
		s.rulesError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func parseVersion(w http.ResponseWriter, r *http.Request) (int64, bool) {
	v, err := strconv.ParseInt(r.PathValue("v"), 10, 64)
	if err != nil || v <= 0 {
		writeError(w, http.StatusBadRequest, "invalid_argument", fmt.Sprintf("version %q: want a positive integer", r.PathValue("v")))
		return 0, false
	}
	return v, true
}

func (s *Server) listLists(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"lists": s.Rules.Lists()})
}

func (s *Server) getList(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	li, ok := s.Rules.List(name)
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no list named %q", name))
		return
	}
	body := map[string]any{"list": li}
	if li.Origin == "api" {
		hist, err := s.Rules.ListHistory(r.Context(), name)
		if err != nil {
			s.internal(w, "list history", err)
			return
		}
		body["history"] = hist
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) deleteList(w http.ResponseWriter, r *http.Request) {
	err := s.Rules.DeleteList(r.Context(), r.PathValue("name"), actorOf(r))
	var conflict *reload.ConflictError
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]any{"deleted": r.PathValue("name")})
	case errors.As(err, &conflict):
		writeError(w, http.StatusConflict, "conflict", conflict.Error())
	case errors.Is(err, reload.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	default:
		s.internal(w, "list removal", err)
	}
}

func (s *Server) putList(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBodyUpTo(w, r, s.maxList())
	if !ok {
		return
	}
	set, err := reload.ParseList(body)
	if err == nil {
		var li reload.ListInfo
		if li, err = s.Rules.PutList(r.Context(), r.PathValue("name"), set, actorOf(r)); err == nil {
			writeJSON(w, http.StatusOK, li)
			return
		}
	}
	var bad *reload.BadListError
	var conflict *reload.ConflictError
	switch {
	case errors.As(err, &bad):
		writeError(w, http.StatusBadRequest, "bad_list", bad.Error())
	case errors.As(err, &conflict):
		writeError(w, http.StatusConflict, "conflict", conflict.Error())
	default:
		s.internal(w, "list update", err)
	}
}

// ruleErrorDetail is one positioned error of an invalid ruleset.
type ruleErrorDetail struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Rule    string `json:"rule,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (s *Server) rulesError(w http.ResponseWriter, err error) {
	var invalid *reload.InvalidError
	switch {
	case errors.As(err, &invalid):
		details := make([]any, 0, len(invalid.Errors))
		for _, e := range invalid.Errors {
			details = append(details, ruleErrorDetail{File: e.File, Line: e.Line, Column: e.Column, Rule: e.Rule, Field: e.Field, Message: e.Msg})
		}
		writeError(w, http.StatusUnprocessableEntity, "invalid_rules", invalid.Error()+"; the running rules are unchanged", details...)
	case errors.Is(err, reload.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	default:
		s.internal(w, "rules change", err)
	}
}

func (s *Server) internal(w http.ResponseWriter, what string, err error) {
	s.log().Error(what, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", what+" failed: "+err.Error())
}

// readBody reads a request body within the size limit, answering the
// error itself.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	return s.readBodyUpTo(w, r, s.maxBody())
}

func (s *Server) readBodyUpTo(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large",
				fmt.Sprintf("request body is over the limit of %d bytes", limit))
			return nil, false
		}
		writeError(w, http.StatusBadRequest, "bad_body", "reading the request body: "+err.Error())
		return nil, false
	}
	return body, true
}

// readRulesBody reads the files of PUT /v1/rules and POST
// /v1/rules/validate: multipart/form-data with one part per file (named by
// its filename, or else its form name), or one file as the whole body
// (named by ?name=, default rules.yaml).
func (s *Server) readRulesBody(w http.ResponseWriter, r *http.Request) ([]store.RulesFile, bool) {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		body, ok := s.readBody(w, r)
		if !ok {
			return nil, false
		}
		name := r.URL.Query().Get("name")
		if name == "" {
			name = "rules.yaml"
		}
		return []store.RulesFile{{Name: name, Data: body}}, true
	}
	mr := multipart.NewReader(http.MaxBytesReader(w, r.Body, s.maxBody()), params["boundary"])
	var files []store.RulesFile
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body is over the limit of %d bytes", s.maxBody()))
			} else {
				writeError(w, http.StatusBadRequest, "bad_body", "reading the multipart body: "+err.Error())
			}
			return nil, false
		}
		name := partFileName(part)
		if name == "" {
			name = part.FormName()
		}
		data, err := io.ReadAll(part)
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body is over the limit of %d bytes", s.maxBody()))
			} else {
				writeError(w, http.StatusBadRequest, "bad_body", fmt.Sprintf("reading part %q: %v", name, err))
			}
			return nil, false
		}
		if strings.TrimSpace(name) == "" {
			writeError(w, http.StatusBadRequest, "bad_body", "a multipart part has no file name: name each file")
			return nil, false
		}
		files = append(files, store.RulesFile{Name: name, Data: data})
	}
	if len(files) == 0 {
		writeError(w, http.StatusBadRequest, "bad_body", "the multipart body holds no files")
		return nil, false
	}
	return files, true
}

// partFileName is a part's file name as the client sent it, directories
// included (mime/multipart's FileName keeps only the base name, and two
// files named rules.yaml in two directories would clash).
func partFileName(p *multipart.Part) string {
	_, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil {
		return p.FileName()
	}
	name := filepath.ToSlash(filepath.Clean(params["filename"]))
	if params["filename"] == "" {
		return ""
	}
	return name
}

// maxList bounds a PUT /v1/lists body: lists are larger than rules (a
// million card numbers is some 20 MB of JSON).
func (s *Server) maxList() int64 {
	if s.MaxListSize > 0 {
		return s.MaxListSize
	}
	return 256 << 20
}

func (s *Server) maxBody() int64 {

	if s.MaxBodySize > 0 {
		return s.MaxBodySize
	}
	return 16 << 20
}
