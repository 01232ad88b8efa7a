// Package httpx holds what the JSON API and the console share about HTTP:
// one shape for answers and errors, the mapping of service errors to
// status codes, and the acting user a request carries.
package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"

	"github.com/vigil-soc/vigil/internal/search"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/store"
)

// JSON writes v as the JSON body of an answer with status code.
func JSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// ErrorBody is the body of every JSON error answer.
type ErrorBody struct {
	Error string `json:"error"`
}

// Error writes an error answer: {"error": msg} with status code.
func Error(w http.ResponseWriter, code int, msg string) {
	JSON(w, code, ErrorBody{Error: msg})
}

// Status returns the status code for err and the message to show: the
// error's own text for the caller's faults and refused limits, a generic
// one for server faults (logged by Fail).
func Status(err error) (int, string) {
	var limit *search.LimitError
	switch {
	case errors.Is(err, service.ErrNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, service.ErrForbidden):
		return http.StatusForbidden, err.Error()
	case service.IsInvalid(err):
		return http.StatusBadRequest, err.Error()
	case store.IsQueryError(err):
		return http.StatusBadRequest, "bad query: " + err.Error()
	case errors.As(err, &limit):
		if limit.Reason == search.ReasonTooLarge {
			return http.StatusBadRequest, err.Error()
		}
		return http.StatusServiceUnavailable, err.Error()
	case errors.Is(err, context.Canceled):
		return 499, "request canceled"
	}
	return http.StatusInternalServerError, "internal error: " + err.Error()
}

// Fail answers err with its status code (Status) as JSON, logging server
// faults on log.
func Fail(w http.ResponseWriter, log *slog.Logger, r *http.Request, err error) {
	code, msg := Status(err)
	var limit *search.LimitError
	if errors.As(err, &limit) && limit.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(limit.RetryAfter.Seconds())))
	}
	if code >= 500 && log != nil {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	Error(w, code, msg)
}

type actorKey struct{}

// WithActor returns r carrying the acting user a.
func WithActor(r *http.Request, a service.Actor) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), actorKey{}, a))
}

// Actor returns the acting user of r and whether the request was
// authenticated.
func Actor(r *http.Request) (service.Actor, bool) {
	a, ok := r.Context().Value(actorKey{}).(service.Actor)
	return a, ok
}

// ClientIP returns the address of the client that connected (Vigil does
// not trust forwarding headers).
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
