package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// requireToken rejects requests without the API token with 401.
func (s *Server) requireToken(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="shoal"`)
			writeError(w, http.StatusUnauthorized, "missing or invalid API token (send 'Authorization: Bearer TOKEN' with the token from admin.json)")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// authorized reports whether r carries the token, in "Authorization: Bearer"
// or, when that header is absent, in "X-API-Key". Hashing both sides first
// makes the comparison constant-time whatever the lengths.
func (s *Server) authorized(r *http.Request) bool {
	var tok string
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return false
		}
		tok = strings.TrimSpace(rest)
	} else {
		tok = r.Header.Get("X-API-Key")
	}
	if tok == "" {
		return false
	}
	sum := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(sum[:], s.tokenHash[:]) == 1
}
