// Package metrics holds what Vigil's packages share for their Prometheus
// metrics.
package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers *c with reg (nil: nothing). If an equal collector is
// already registered, for example by another input or an earlier instance
// of the same component, *c becomes that one, so both count into the same
// series. The first error is kept in *errp and later calls do nothing.
func Register[C prometheus.Collector](reg prometheus.Registerer, c *C, errp *error) {
	if reg == nil || *errp != nil {
		return
	}
	err := reg.Register(*c)
	if err == nil {
		return
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if ex, ok := are.ExistingCollector.(C); ok {
			*c = ex
			return
		}
	}
	*errp = err
}
