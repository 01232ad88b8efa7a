package exchange

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// AdminAuditXML returns the format of the administrator audit log as the
// EAC exports it (the XML attachment that New-AdminAuditLogSearch mails),
// named "exchange-admin-audit-xml":
//
//	<SearchResults>
//	  <Event Caller="corp.example/Users/Admin" Cmdlet="Set-Mailbox" ObjectModified="corp.example/Users/ZhangWei"
//	         RunDate="2026-11-28T09:00:00+01:00" Succeeded="true" Error="None" OriginatingServer="EXCH01 (15.02.1258.012)">
//	    <CmdletParameters>
//	      <Parameter Name="Identity" Value="zhangwei" />
//	      <Parameter Name="ForwardingSmtpAddress" Value="smtp:x@example.org" />
//	    </CmdletParameters>
//	    <ModifiedProperties>
//	      <Property Name="ForwardingSmtpAddress" OldValue="" NewValue="smtp:x@example.org" />
//	    </ModifiedProperties>
//	  </Event>
//	</SearchResults>
//
// A file shipped line by line (nxlog im_file, rsyslog imfile) spreads one
// <Event> over several messages: the lines up to </Event> are kept as state
// of their source (event.kind "state") and the line that closes the element
// carries the event. An <Event> on one line (a shipper that joins the
// element) is read the same way.
func AdminAuditXML() format.Text { return auditXML{} }

const auditXMLName = "exchange-admin-audit-xml"

type auditXML struct{}

// Limits on one exported event, against hostile input.
const (
	maxAuditParams = 64
	maxAuditValue  = 4096
)

// auditXMLEvent is an <Event> being read.
type auditXMLEvent struct {
	attrs  map[string]string
	params []string // -Name "Value"
	props  []string // Name: old -> new
}

func (auditXML) Name() string { return auditXMLName }

// Detect reports whether msg is an element of the export: the root, an
// <Event> with a Cmdlet and a RunDate, or any element inside an <Event>
// that its source has open.
func (auditXML) Detect(msg []byte, src *format.Source) bool {
	msg = bytes.TrimSpace(trimLine(msg))
	if len(msg) < 3 || msg[0] != '<' {
		return false
	}
	switch {
	case bytes.HasPrefix(msg, []byte("<SearchResults")), bytes.HasPrefix(msg, []byte("</SearchResults")),
		bytes.Equal(msg, []byte("</Event>")): // a stray one gets its error from Parse
		return true
	case bytes.HasPrefix(msg, []byte("<Event ")):
		return bytes.Contains(msg, []byte("Cmdlet=")) && bytes.Contains(msg, []byte("RunDate="))
	}
	_, open := src.State(auditXMLName).(*auditXMLEvent)
	return open
}

// Parse reads the elements on one line; the line that closes an <Event>
// gets the event's fields.
func (auditXML) Parse(msg []byte, src *format.Source, ev *format.Event) error {
	if src == nil {
		src = &format.Source{}
	}
	dec := xml.NewDecoder(bytes.NewReader(trimLine(msg)))
	dec.Strict = false
	cur, _ := src.State(auditXMLName).(*auditXMLEvent)
	var done *auditXMLEvent
	for {
		// RawToken: a line is a fragment of the document, so end tags
		// whose start is on an earlier line must not be errors.
		tok, err := dec.RawToken()
		if err == io.EOF || isSyntaxEOF(err) {
			break
		}
		if err != nil {
			return fmt.Errorf("not XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "Event":
				cur = &auditXMLEvent{attrs: map[string]string{}}
				for _, a := range t.Attr {
					cur.attrs[a.Name.Local] = clipString(a.Value)
				}
			case "Parameter":
				if cur != nil && len(cur.params) < maxAuditParams {
					name, value := attr(t, "Name"), attr(t, "Value")
					if name != "" {
						// As the management shell writes them: -Name "Value",
						// quotes doubled.
						cur.params = append(cur.params, "-"+name+` "`+strings.ReplaceAll(clipString(value), `"`, `""`)+`"`)
					}
				}
			case "Property":
				if cur != nil && len(cur.props) < maxAuditParams {
					cur.props = append(cur.props, attr(t, "Name")+": "+clipString(attr(t, "OldValue"))+" -> "+clipString(attr(t, "NewValue")))
				}
			}
		case xml.EndElement:
			if t.Name.Local == "Event" {
				if cur == nil {
					return errors.New("</Event> without its <Event> line (lost, or sent by another source)")
				}
				done, cur = cur, nil
			}
		}
	}
	if cur != nil {
		src.SetState(auditXMLName, cur)
	} else {
		src.SetState(auditXMLName, nil)
	}
	if done == nil {
		return format.ErrSkip
	}
	return done.emit(src, ev)
}

// isSyntaxEOF reports whether err is the decoder's complaint about a line
// that ends inside an element (expected for a fragment of the file).
func isSyntaxEOF(err error) bool {
	var se *xml.SyntaxError
	return errors.As(err, &se) && strings.Contains(se.Msg, "unexpected EOF")
}

func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func clipString(s string) string {
	if len(s) > maxAuditValue {
		return strings.ToValidUTF8(s[:maxAuditValue], "")
	}
	return s
}

// emit adds the fields of a complete <Event>, as the CSV export does.
func (x *auditXMLEvent) emit(src *format.Source, ev *format.Event) error {
	a := x.attrs
	t, ok := parseLocalDate(a["RunDate"], src.Location)
	if !ok {
		return fmt.Errorf("RunDate %q is not a date", clipString(a["RunDate"]))
	}
	name := a["Cmdlet"]
	if !isCmdletName(name) {
		return fmt.Errorf("Cmdlet %q is not a cmdlet name", clipString(name))
	}
	ev.Time = t
	ev.Add(format.FieldDataset, "exchange.admin_audit")
	// The decoder's strings are its own, not views of the message.
	addCmdlet(ev, src, name, strings.Join(x.params, " "), a["ObjectModified"])
	switch s := a["Succeeded"]; {
	case strings.EqualFold(s, "true"):
		ev.Add(format.FieldOutcome, format.OutcomeSuccess)
	case strings.EqualFold(s, "false"):
		ev.Add(format.FieldOutcome, format.OutcomeFailure)
		ev.Add(format.FieldReason, firstLine(a["Error"]))
	default:
		ev.Add(format.FieldOutcome, format.OutcomeUnknown)
	}
	if len(x.props) > 0 {
		ev.Add(format.FieldModified, strings.Join(x.props, "; "))
	}
	if strings.EqualFold(a["ExternalAccess"], "true") {
		ev.Add(format.FieldExternalAccess, "true")
	}
	setUser(ev, src, a["Caller"])
	server, _, _ := strings.Cut(a["OriginatingServer"], " (")
	ev.Add(format.FieldHostName, strings.TrimSpace(server))
	return nil
}
