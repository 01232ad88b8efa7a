package parse

import "github.com/vigil-soc/vigil/internal/parse/format"

// DefaultFormats returns the built-in formats in detection order: text
// formats are tried on a message's text, JSON formats on the fields of a
// JSON payload. More specific formats come first.
func DefaultFormats() ([]format.Text, []format.JSON) {
	texts := []format.Text{}
	jsons := []format.JSON{}
	return texts, jsons
}
