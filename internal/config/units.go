package config

import "github.com/vigil-soc/vigil/internal/units"

// ByteSize and Duration are the configuration's sizes (64MiB) and
// durations (30d, 2w); package units defines them so that the packages
// whose settings config embeds (notify, ...) can use them too.
type (
	ByteSize = units.ByteSize
	Duration = units.Duration
)
