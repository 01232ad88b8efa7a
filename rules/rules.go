// Package rules holds Vigil's built-in detection rules: YAML files in the
// rule language of package detect (docs/rules.md), one file per rule,
// embedded into the binary. They cover the threats of a mail service run
// on Exchange behind an nginx proxy: password guessing (brute force,
// spraying, lockouts, a login after a burst of failures), logins from new
// countries or at impossible speed, unregistered ActiveSync devices,
// sensitive Exchange admin cmdlets, Windows privileged group and account
// changes, cleared event logs and audit turned off, request floods,
// exploitation attempts and scanners, and log sources that fell silent.
//
// docs/rule-pack.md describes each rule, its tuning knobs and its false
// positives. A user rule with the same id replaces a built-in one
// (detect.Merge), which is how a rule is tuned; `disabled: true` turns it
// off.
package rules

import "embed"

// FS holds the built-in rule files (*.yaml) at its root; load them with
// detect.LoadRules(rules.FS, ".").
//
//go:embed *.yaml
var FS embed.FS
