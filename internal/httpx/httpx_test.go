package httpx

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/vigil-soc/vigil/internal/search"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/store"
)

func TestStatus(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int
	}{
		{fmt.Errorf("alert x: %w", service.ErrNotFound), http.StatusNotFound},
		{service.Actor{Name: "v", Role: service.RoleViewer}.Check(service.PermTriage), http.StatusForbidden},
		{service.Invalidf("bad status %q", "x"), http.StatusBadRequest},
		{&store.QueryError{Msg: "unexpected token"}, http.StatusBadRequest},
		{&search.LimitError{Reason: search.ReasonBusy}, http.StatusServiceUnavailable},
		{&search.LimitError{Reason: search.ReasonTooLarge}, http.StatusBadRequest},
		{fmt.Errorf("disk on fire"), http.StatusInternalServerError},
	} {
		if code, _ := Status(c.err); code != c.code {
			t.Errorf("Status(%v) = %d, want %d", c.err, code, c.code)
		}
	}
}
