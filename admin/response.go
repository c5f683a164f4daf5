package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/sync/model"
)

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Error string `json:"error"` // one line, meant for the user
}

// statusOf chooses the HTTP status for an error.
func statusOf(err error) int {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, model.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, model.ErrExists):
		return http.StatusConflict
	case errors.Is(err, model.ErrInvalid), errors.Is(err, identity.ErrInvalidID):
		return http.StatusBadRequest
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// oneLine folds a message onto one line of bounded length.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return truncate(s, 1000)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if status == http.StatusNoContent || body == nil {
		w.WriteHeader(status)
		return
	}
	b, err := json.Marshal(body)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(ErrorBody{Error: "encoding response: " + oneLine(err.Error())})
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorBody{Error: oneLine(msg)})
}

// serveAPI adapts an apiFunc to an http.Handler.
func (s *Server) serveAPI(fn apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		}
		status, body, err := fn(r)
		if err != nil {
			status = statusOf(err)
			msg := err.Error()
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				msg = fmt.Sprintf("request body larger than %d bytes", mbe.Limit)
			}
			if status == http.StatusInternalServerError {
				s.log.ErrorContext(r.Context(), "Admin request failed", slog.String("method", r.Method),
					slog.String("path", r.URL.Path), slog.String("error", err.Error()))
			}
			writeError(w, status, msg)
			return
		}
		writeJSON(w, status, body)
	})
}

// newHandler builds the mux and wraps it: cross-origin protection, then
// logging, then JSON errors for unknown routes; each route adds auth.
func (s *Server) newHandler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		h := s.serveAPI(rt.fn)
		if !rt.public {
			h = s.requireToken(h)
		}
		mux.Handle(rt.pattern, h)
	}
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "cross-origin request rejected")
	}))
	return cop.Handler(s.logRequests(jsonFallback(mux)))
}

// jsonFallback turns the mux's plain-text 404 and 405 answers into JSON
// error bodies, keeping their status and Allow header.
func jsonFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(&fallbackWriter{ResponseWriter: w, r: r}, r)
	})
}

type fallbackWriter struct {
	http.ResponseWriter
	r     *http.Request
	wrote bool
}

func (w *fallbackWriter) WriteHeader(status int) {
	if w.wrote {
		return
	}
	w.wrote = true
	var msg string
	switch status {
	case http.StatusNotFound:
		msg = fmt.Sprintf("no such API route: %s", w.r.URL.Path)
	case http.StatusMethodNotAllowed:
		msg = fmt.Sprintf("method %s not allowed on %s", w.r.Method, w.r.URL.Path)
	default:
		msg = strings.ToLower(http.StatusText(status))
	}
	w.Header().Del("Content-Length")
	writeError(w.ResponseWriter, status, msg)
}

// Write discards the mux's plain-text body; WriteHeader wrote ours.
func (w *fallbackWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return len(b), nil
}

// statusRecorder remembers the status a handler wrote, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		s.log.DebugContext(r.Context(), "Admin request", slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.Int("status", rec.status),
			slog.Duration("duration", time.Since(start)))
	})
}
