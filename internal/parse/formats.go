package parse

import (
	"github.com/vigil-soc/vigil/internal/parse/authlog"
	"github.com/vigil-soc/vigil/internal/parse/exchange"
	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/parse/iis"
	"github.com/vigil-soc/vigil/internal/parse/kv"
	"github.com/vigil-soc/vigil/internal/parse/nginx"
	"github.com/vigil-soc/vigil/internal/parse/windows"
)

// DefaultFormats returns the built-in formats in detection order: text
// formats are tried on a message's text, JSON formats on the fields of a
// JSON payload. More specific formats come first; kv, the most generic,
// comes last.
func DefaultFormats() ([]format.Text, []format.JSON) {
	texts := []format.Text{
		iis.HTTPProxy(),
		iis.Text(),
		exchange.Protocol(),
		exchange.MessageTracking(),
		exchange.AdminAuditExport(),
		exchange.AdminAuditXML(),
		exchange.ECP(),
		exchange.AdminAuditText(),
		windows.Snare(),
		nginx.Combined(),
		nginx.Error(),
		nginx.ApacheError(),
		authlog.Text(),
		kv.Text(),
	}
	jsons := []format.JSON{
		windows.JSON(),
		exchange.AdminAuditJSON(),
		nginx.JSON(),
	}
	return texts, jsons
}
