package main

import (
	"time"

	"github.com/vigil-soc/vigil/internal/detect"
	"github.com/vigil-soc/vigil/internal/service"
)

// ruleEngine adapts the detector to service.RuleEngine (package service
// cannot import detect).
type ruleEngine struct{ d *detect.Detector }

func (e ruleEngine) Pack() ([]service.PackRule, []string, time.Time) {
	p := e.d.Pack()
	if p == nil {
		return nil, nil, time.Time{}
	}
	out := make([]service.PackRule, len(p.Rules))
	for i, r := range p.Rules {
		out[i] = service.PackRule{ID: r.ID, Title: r.Title, Description: r.Description, Type: r.Type, Threat: r.Threat,
			Level: r.Level, File: r.File, Source: r.Source, Requires: r.Requires, Enabled: r.Enabled, State: r.State}
		for lang, t := range r.Translations {
			if out[i].Translations == nil {
				out[i].Translations = make(map[string]service.RuleText, len(r.Translations))
			}
			out[i].Translations[lang] = service.RuleText{Title: t.Title, Description: t.Description}
		}
	}
	return out, p.Errors, p.Loaded
}

func (e ruleEngine) RuleStats() map[string]service.RuleStats {
	in := e.d.RuleStats()
	out := make(map[string]service.RuleStats, len(in))
	for id, s := range in {
		out[id] = service.RuleStats(s)
	}
	return out
}

func (e ruleEngine) SetEnabled(m map[string]bool) { e.d.SetEnabled(m) }
