package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

// Token scopes.
const (
	ScopeAdmin  = "admin"  // everything
	ScopeRead   = "read"   // GET endpoints only
	ScopeIngest = "ingest" // POST /v1/events only
)

// Token is an API token as configured: its name (recorded as the actor
// of changes), scope, and the SHA-256 of the secret (the secret itself is
// never stored).
type Token struct {
	Name   string
	Scope  string
	SHA256 [32]byte
}

// ParseTokenHash reads a hex SHA-256.
func ParseTokenHash(s string) ([32]byte, error) {
	var h [32]byte
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("want the 64 hex digits of the token's SHA-256 (sha256sum of the token), got %d characters", len(s))
	}
	copy(h[:], b)
	return h, nil
}

type actorKey struct{}

// actorOf names who made a request: its token's name, or anonymous when
// the API has no tokens.
func actorOf(r *http.Request) string {
	if a, ok := r.Context().Value(actorKey{}).(string); ok {
		return a
	}
	return "anonymous"
}

// needed is the scope a request needs: reads need read, posting events
// ingest, every other write admin.
func needed(r *http.Request) string {
	switch {
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		return ScopeRead
	case r.Method == http.MethodPost && r.URL.Path == "/v1/events":
		return ScopeIngest
	}
	return ScopeAdmin
}

func allows(scope, need string) bool {
	return scope == ScopeAdmin || scope == need
}

// authenticate guards /v1/*: with tokens configured, a request needs a
// bearer token whose scope allows it (401 without one or with an unknown
// one, 403 when the scope does not allow it). /healthz, /readyz and
// /metrics stay open: they carry no customer data and probes and
// scrapers have no token.
func (s *Server) authenticate(next http.Handler) http.Handler {
	if len(s.Tokens) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/") {
			next.ServeHTTP(w, r)
			return
		}
		// The scheme is case-insensitive (RFC 9110 §11.1).
		scheme, secret, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
		secret = strings.TrimSpace(secret)
		if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "this endpoint needs Authorization: Bearer <token>")
			return
		}
		tok, found := s.lookup(secret)
		if !found {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vigil", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "unknown token")
			return
		}
		if need := needed(r); !allows(tok.Scope, need) {
			writeError(w, http.StatusForbidden, "forbidden",
				fmt.Sprintf("token %q has scope %s; %s %s needs %s", tok.Name, tok.Scope, r.Method, r.URL.Path, scopeNeeded(need)))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, tok.Name)))
	})
}

// lookup finds the token whose hash is the secret's, comparing with every
// configured hash in constant time, so timing tells nothing.
func (s *Server) lookup(secret string) (Token, bool) {
	h := sha256.Sum256([]byte(secret))
	var found Token
	ok := 0
	for _, t := range s.Tokens {
		if subtle.ConstantTimeCompare(h[:], t.SHA256[:]) == 1 {
			found, ok = t, 1
		}
	}
	return found, ok == 1
}

func scopeNeeded(need string) string {
	if need == ScopeAdmin {
		return "admin"
	}
	return need + " or admin"
}
