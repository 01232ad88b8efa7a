package detect

// words are the engine's own words in alert texts, in one language.
type words struct {
	// followUp is a follow-up alert's message: the first alert's message
	// (%[1]s) and the number of events since (%[2]d).
	followUp string
	// templateFailed is the message when a rule's message template fails:
	// the rule's title (%[1]s) and the error (%[2]v).
	templateFailed string
	// defaultMessage is the message template of a rule without one.
	defaultMessage string
}

// engineWords are the engine's words by language (every one of
// locale.Languages; words_test.go checks).
var engineWords = map[string]words{
	"en": {
		followUp:       "%[1]s (follow-up: %[2]d more events since the previous alert)",
		templateFailed: "%[1]s (message template failed: %[2]v)",
		defaultMessage: `{{.Rule.Title}}: {{.Count}} events{{if .Group}} for {{.Group}}{{end}}`,
	},
	"zh-CN": {
		followUp:       "%[1]s（后续告警：上次告警后又有 %[2]d 个事件）",
		templateFailed: "%[1]s（消息模板出错：%[2]v）",
		defaultMessage: `{{.Rule.Title}}：{{.Count}} 个事件{{if .Group}}（{{.Group}}）{{end}}`,
	},
}

// wordsIn returns the engine's words in lang (English for a language it
// does not know).
func wordsIn(lang string) words {
	if w, ok := engineWords[lang]; ok {
		return w
	}
	return engineWords["en"]
}
