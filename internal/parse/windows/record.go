package windows

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/syslog"
)

// Field names this package sets beyond format's (ECS names; listed in the
// report for fields.go).
const (
	fieldSourceDomain = "source.domain"      // NetBIOS name of the machine an attempt came from
	fieldDestDomain   = "destination.domain" // 4648: the server the credentials were used for
	fieldTargetDomain = "user.target.domain"
	fieldGroupName    = "group.name"
	fieldGroupDomain  = "group.domain"
	fieldExecutable   = "process.executable" // full path; process.name is its base name

	fieldGroupID              = format.FieldGroupID        // the group's SID (4728 and kin, JSON form)
	fieldClearedChannel       = format.FieldClearedChannel // 1102: Security; 104: the log named
	fieldBackupPath           = format.FieldBackupPath     // 104: where the cleared events were saved
	fieldAuditCategory        = format.FieldAuditCategory
	fieldAuditSubcategory     = format.FieldAuditSubcategory
	fieldAuditSubcategoryGUID = format.FieldAuditSubcategoryGUID
	fieldAuditChanges         = format.FieldAuditChanges
)

// securityProvider is the provider (SourceName) of Security audit events.
const securityProvider = "Microsoft-Windows-Security-Auditing"

// eventlogProvider is the provider of the event log service's own events
// (1102 in the Security log, 104 in the System log: a log was cleared).
const eventlogProvider = "Microsoft-Windows-Eventlog"

// record holds the values of one event that the mapping reads, under the
// names nxlog's im_msvistalog gives them (the EventData names). Both forms
// fill it: JSON from its keys, Snare from its header and message labels.
type record struct {
	eventID, channel, provider, eventType, keywords, computer, message string
	subjectUser, subjectDomain, subjectSID                             string
	targetUser, targetDomain, targetSID                                string
	memberName, memberSID                                              string
	ip, port, workstation                                              string
	logonType, logonProcess, authPackage, lmPackage                    string
	status, subStatus, failureReason                                   string
	process, targetServer, service                                     string
	clearedChannel, backupPath, headerUser                             string
	category, subcategory, subcategoryGUID, policyChanges              string
}

// set stores the value of an nxlog key; it reports whether the key is
// one the mapping reads. The first non-empty value of a field wins.
func (r *record) set(key, v string) bool {
	var p *string
	switch key {
	case "EventID":
		p = &r.eventID
	case "Channel":
		// 104 names the cleared log in its UserData's Channel; a record
		// that carries both keeps the event's own first.
		if r.channel != "" && v != "" && !strings.EqualFold(r.channel, strings.TrimSpace(v)) {
			p = &r.clearedChannel
		} else {
			p = &r.channel
		}
	case "SourceName", "ProviderName":
		p = &r.provider
	case "EventType":
		p = &r.eventType
	case "Keywords":
		p = &r.keywords
	case "Hostname", "Computer":
		p = &r.computer
	case "Message":
		p = &r.message
	case "SubjectUserName":
		p = &r.subjectUser
	case "SubjectDomainName":
		p = &r.subjectDomain
	case "SubjectUserSid":
		p = &r.subjectSID
	case "TargetUserName":
		p = &r.targetUser
	case "TargetDomainName":
		p = &r.targetDomain
	case "TargetUserSid", "TargetSid":
		p = &r.targetSID
	case "MemberName":
		p = &r.memberName
	case "MemberSid":
		p = &r.memberSID
	case "IpAddress":
		p = &r.ip
	case "IpPort":
		p = &r.port
	case "WorkstationName", "Workstation":
		p = &r.workstation
	case "LogonType":
		p = &r.logonType
	case "LogonProcessName":
		p = &r.logonProcess
	case "AuthenticationPackageName", "PackageName":
		p = &r.authPackage
	case "LmPackageName":
		p = &r.lmPackage
	case "Status", "FailureCode":
		p = &r.status
	case "SubStatus":
		p = &r.subStatus
	case "FailureReason":
		p = &r.failureReason
	case "ProcessName":
		p = &r.process
	case "TargetServerName":
		p = &r.targetServer
	case "ServiceName":
		p = &r.service
	case "BackupPath":
		p = &r.backupPath
	case "CategoryId":
		p = &r.category
	case "SubcategoryId":
		p = &r.subcategory
	case "SubcategoryGuid":
		p = &r.subcategoryGUID
	case "AuditPolicyChanges":
		p = &r.policyChanges
	default:
		return false
	}
	if *p == "" {
		*p = strings.TrimSpace(v)
	}
	return true
}

// security reports whether the record is a Security audit event.
func (r *record) security() bool {
	return strings.EqualFold(r.channel, "Security") || r.provider == securityProvider
}

// eventlog reports whether the record is an event of the event log
// service itself.
func (r *record) eventlog() bool { return strings.EqualFold(r.provider, eventlogProvider) }

// def returns how the event maps onto the schema: the event log
// service's events by provider, Security events by channel or provider,
// nothing for the rest. A 1102 in the Security log whose provider was not
// kept (some exports drop SourceName) is the event log service's: no
// other provider writes 1102 there.
func (r *record) def(id int) eventDef {
	if r.eventlog() || id == 1102 && r.provider == "" && strings.EqualFold(r.channel, "Security") {
		if d, ok := eventlogEvents[id]; ok {
			return d
		}
	}
	if r.security() {
		return events[id]
	}
	return eventDef{}
}

// known reports whether the record's event ID has a mapping.
func (r *record) known() bool {
	id, err := strconv.Atoi(r.eventID)
	return err == nil && r.def(id).kind != kindOther
}

// fillFromMessage reads the rendered Message of a JSON record that lacks
// the event's data (a collector that sent the text but not EventData or
// UserData): its "Label: value" pairs, as in the Snare form.
func (r *record) fillFromMessage() {
	if r.message == "" || r.subjectUser != "" || r.targetUser != "" || !r.known() {
		return
	}
	scanLabels(r.message, func(key, value string) { r.set(key, value) })
}

// logCleared settles the channel of a cleared-log event: 1102 clears the
// Security log; 104 is logged in the System log and names the log it
// cleared in its UserData's Channel, which collectors that flatten
// UserData into the record write over (or next to) the event's own
// Channel, and in its rendered message ("The Application log file was
// cleared.").
func (r *record) logCleared(id int) {
	if id == 1102 {
		r.clearedChannel = "Security"
		return
	}
	if r.clearedChannel == "" {
		line := r.message
		if i := strings.IndexAny(line, "\r\n"); i >= 0 {
			line = line[:i]
		}
		if c, ok := strings.CutPrefix(line, "The "); ok {
			if c, ok = strings.CutSuffix(strings.TrimSpace(c), " log file was cleared."); ok {
				r.clearedChannel = c
			}
		}
	}
	switch {
	case r.channel != "" && !strings.EqualFold(r.channel, "System"):
		// The event's Channel was replaced by the cleared one.
		if r.clearedChannel == "" {
			r.clearedChannel = r.channel
		}
		r.channel = "System"
	case r.clearedChannel == "" && r.subjectUser != "":
		// UserData was flattened (its subject is there) and its Channel
		// is the one left: the System log itself was cleared.
		r.clearedChannel = r.channel
	}
}

// summary collects what the JSON summary (_msg) shows.
type summary struct {
	user, target, group, ip, workstation, logonType, reason string
	channel, subcategory, changes                           string
}

// apply adds the normalized fields of r to ev. It returns an error when
// the event ID is missing or not a number, or the time cannot be read.
// With summarize, ev.Message gets a one-line summary of the event.
func apply(r *record, ev *format.Event, src *format.Source, when string, layout timeLayout, summarize bool) error {
	if r.eventID == "" {
		return fmt.Errorf("no EventID")
	}
	id, err := strconv.Atoi(r.eventID)
	if err != nil || id < 0 || id > 65535 {
		return fmt.Errorf("EventID %q is not a number from 0 to 65535", r.eventID)
	}
	if when != "" {
		t, err := parseTime(when, layout, src.Location, src.Received)
		if err != nil {
			return err
		}
		ev.Time = t
	}
	def := r.def(id)
	if def.kind == kindLogCleared {
		r.logCleared(id)
	}
	ev.Add(format.FieldDataset, dataset(r.channel, r.security()))
	ev.Add(format.FieldCode, r.eventID)
	ev.Add(format.FieldHostName, r.computer)

	var s summary
	if def.kind != kindOther {
		ev.Add(format.FieldCategory, def.category)
		ev.Add(format.FieldType, def.typ)
		ev.Add(format.FieldAction, def.action)
	}
	outcome := auditOutcome(r.eventType, r.keywords)
	switch def.kind {
	case kindLogon, kindLogonFailed, kindLogoff:
		s.user = setUser(ev, src, r.targetUser, r.targetDomain)
		if r.logonType != "" {
			ev.Add(format.FieldLogonType, r.logonType)
			s.logonType = r.logonType
		}
		if def.kind != kindLogoff {
			ev.Add(format.FieldProtocol, protocolFor(r.logonType, r.authPackage, r.lmPackage))
			s.ip = addSource(ev, r.ip, r.port)
			s.workstation = addWorkstation(ev, r.workstation)
			addProcess(ev, r.process)
		}
		switch def.kind {
		case kindLogon, kindLogoff:
			outcome = format.OutcomeSuccess
		case kindLogonFailed:
			outcome = format.OutcomeFailure
			s.reason = addNTStatus(ev, r.status, r.subStatus, r.failureReason)
		}
	case kindExplicit:
		// 4648 records that a process used an account's credentials
		// explicitly (runas, a service connecting with a stored password);
		// it is logged as Audit Success whether or not the logon it leads
		// to succeeds, which a 4624 or 4625 then records.
		s.user = setUser(ev, src, r.targetUser, r.targetDomain)
		s.ip = addSource(ev, r.ip, r.port)
		ev.Add(fieldDestDomain, r.targetServer)
		addProcess(ev, r.process)
		setProcessUser(ev, src, r.subjectUser, r.subjectDomain)
		outcome = format.OutcomeUnknown
	case kindKerberos:
		ev.Add(format.FieldProtocol, def.protocol)
		s.user = setUser(ev, src, r.targetUser, r.targetDomain)
		s.ip = addSource(ev, r.ip, r.port)
		code, norm, ok := hexCode(r.status)
		ev.Add(format.FieldStatusCode, norm)
		switch {
		case id == 4771 || ok && code != 0:
			outcome = format.OutcomeFailure
			s.reason = reason(kerberosStatus, code, norm, ok, "")
			ev.Add(format.FieldReason, s.reason)
		case ok:
			outcome = format.OutcomeSuccess
		}
	case kindNTLM:
		ev.Add(format.FieldProtocol, def.protocol)
		s.user = setUser(ev, src, r.targetUser, "")
		s.workstation = addWorkstation(ev, r.workstation)
		code, norm, ok := hexCode(r.status)
		ev.Add(format.FieldStatusCode, norm)
		switch {
		case ok && code != 0:
			outcome = format.OutcomeFailure
			s.reason = reason(ntStatus, code, norm, ok, "")
			ev.Add(format.FieldReason, s.reason)
		case ok:
			outcome = format.OutcomeSuccess
		}
	case kindLockout:
		// The locked account is the user (never the Subject, the DC's
		// machine account that recorded the lockout); TargetDomainName
		// holds the caller computer (where the bad passwords came from),
		// not a domain, so the user has no domain here. A Snare message
		// without the account's name names it in its resolved Security ID
		// ("CORP\zhangwei").
		locked := r.targetUser
		if (locked == "" || locked == "-") && strings.Contains(r.targetSID, `\`) {
			locked = r.targetSID
		}
		s.user = setUser(ev, src, locked, "")
		setTarget(ev, src, locked, "")
		s.workstation = addWorkstation(ev, r.targetDomain)
		ev.Add(format.FieldReason, "account locked out")
	case kindAccount:
		s.user = setUser(ev, src, r.subjectUser, r.subjectDomain)
		s.target = setTarget(ev, src, r.targetUser, r.targetDomain)
	case kindMember:
		s.user = setUser(ev, src, r.subjectUser, r.subjectDomain)
		s.target = setTarget(ev, src, memberAccount(r.memberName, r.memberSID), "")
		if r.targetUser != "-" {
			ev.Add(fieldGroupName, r.targetUser)
			ev.Add(fieldGroupDomain, r.targetDomain)
			s.group = r.targetUser
		}
		if isSID(r.targetSID) {
			// Well-known groups keep their SID in every language:
			// S-1-5-32-544 is Administrators whatever its name.
			ev.Add(fieldGroupID, strings.ToUpper(r.targetSID))
		}
	case kindLogCleared:
		// The subject who cleared the log; Snare names it only in its
		// header's user field for 104, whose message has no Subject.
		user, domain := r.subjectUser, r.subjectDomain
		if user == "" && r.headerUser != "N/A" {
			user = r.headerUser
		}
		s.user = setUser(ev, src, user, domain)
		ev.Add(fieldClearedChannel, r.clearedChannel)
		if r.backupPath != "-" {
			ev.Add(fieldBackupPath, r.backupPath)
		}
		s.channel = r.clearedChannel
		outcome = format.OutcomeSuccess
	case kindAuditPolicy:
		s.user = setUser(ev, src, r.subjectUser, r.subjectDomain)
		cat, sub, guid, changes := auditPolicy(r)
		ev.Add(fieldAuditCategory, cat)
		ev.Add(fieldAuditSubcategory, sub)
		ev.Add(fieldAuditSubcategoryGUID, guid)
		ev.Add(fieldAuditChanges, changes)
		s.subcategory, s.changes = sub, changes
		outcome = format.OutcomeSuccess
	}
	if outcome == "" && (def.kind == kindAccount || def.kind == kindMember || def.kind == kindLockout) {
		outcome = format.OutcomeSuccess
	}
	ev.Add(format.FieldOutcome, outcome)
	if summarize {
		ev.Message = message(r, def, id, &s)
	}
	return nil
}

// isSID reports whether s looks like a security identifier ("S-1-5-...").
func isSID(s string) bool { return len(s) > 4 && (s[0] == 'S' || s[0] == 's') && s[1:4] == "-1-" }

// auditPolicy decodes a 4719 record: the category and subcategory names,
// the subcategory GUID (lower case, in braces) and the changes ("Success
// removed, Failure removed"). The JSON form carries message-table
// references (%%8273, %%12544, %%8448); the Snare form the rendered
// English names, which are kept as they are.
func auditPolicy(r *record) (category, subcategory, guid, changes string) {
	category = r.category
	if n, ok := auditCategories[category]; ok {
		category = n
	}
	guid = strings.ToLower(r.subcategoryGUID)
	if guid != "" && guid[0] != '{' {
		guid = "{" + guid + "}"
	}
	subcategory = r.subcategory
	if n, ok := subcategoryByID[subcategory]; ok {
		subcategory = n
	} else if n, ok := subcategoryByGUID[guid]; ok && (subcategory == "" || strings.HasPrefix(subcategory, "%%")) {
		subcategory = n
	}
	if strings.Contains(r.policyChanges, "%%") {
		var b strings.Builder
		for item := range strings.SplitSeq(r.policyChanges, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			if n, ok := auditChanges[item]; ok {
				item = n
			}
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			b.WriteString(item)
		}
		changes = b.String()
	} else {
		changes = strings.TrimSpace(r.policyChanges)
	}
	return category, subcategory, guid, changes
}

// dataset is event.dataset for a channel.
func dataset(channel string, security bool) string {
	if security {
		return "windows.security"
	}
	if channel == "" {
		return "windows"
	}
	b := []byte("windows.")
	for _, c := range []byte(channel) {
		switch {
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b = append(b, c)
		default:
			if b[len(b)-1] != '_' && b[len(b)-1] != '.' {
				b = append(b, '_')
			}
		}
	}
	return strings.TrimRight(string(b), "_.")
}

// auditOutcome is the outcome an audit event's EventType ("AUDIT_SUCCESS",
// Snare's "Success Audit") or Keywords (0x8020000000000000 success,
// 0x8010000000000000 failure) says, or "".
func auditOutcome(eventType, keywords string) string {
	switch eventType {
	case "AUDIT_SUCCESS", "Success Audit", "Audit Success":
		return format.OutcomeSuccess
	case "AUDIT_FAILURE", "Failure Audit", "Audit Failure":
		return format.OutcomeFailure
	}
	if keywords == "" {
		return ""
	}
	var k uint64
	if h, ok := strings.CutPrefix(strings.ToLower(keywords), "0x"); ok {
		v, err := strconv.ParseUint(h, 16, 64)
		if err != nil {
			return ""
		}
		k = v
	} else if v, err := strconv.ParseInt(keywords, 10, 64); err == nil {
		k = uint64(v)
	} else if v, err := strconv.ParseUint(keywords, 10, 64); err == nil {
		k = v
	} else {
		return ""
	}
	const auditSuccess, auditFailure = 0x0020000000000000, 0x0010000000000000
	switch {
	case k&auditSuccess != 0:
		return format.OutcomeSuccess
	case k&auditFailure != 0:
		return format.OutcomeFailure
	}
	return ""
}

// setUser sets user.* from an account name and its domain and returns
// the name as written (user.original), or "".
func setUser(ev *format.Event, src *format.Source, name, domain string) string {
	raw := account(name, domain)
	ev.SetUser(src, raw)
	if raw == "-" {
		return ""
	}
	return raw
}

// setTarget sets user.target.name and user.target.domain and returns the
// account as written.
func setTarget(ev *format.Event, src *format.Source, name, domain string) string {
	raw := account(name, domain)
	if raw == "" || raw == "-" {
		return ""
	}
	n, d := src.Users.Normalize(raw)
	ev.Add(format.FieldUserTarget, n)
	ev.Add(fieldTargetDomain, d)
	return raw
}

// account joins a name and its domain as DOMAIN\name, unless the name
// already has one (a UPN or DOMAIN\name) or the domain is empty or "-".
func account(name, domain string) string {
	name = strings.TrimSpace(name)
	domain = strings.TrimSpace(domain)
	if name == "" || name == "-" || domain == "" || domain == "-" || strings.ContainsAny(name, `\@`) {
		return name
	}
	return domain + `\` + name
}

// memberAccount is the group member of 4728 and kin: its account name
// where the source resolved the SID (Snare's "CORP\zhangwei"), else the
// common name of its distinguished name, else the SID.
func memberAccount(name, sid string) string {
	if strings.Contains(sid, `\`) {
		return sid
	}
	if len(name) > 3 && strings.EqualFold(name[:3], "CN=") {
		cn := name[3:]
		// The CN ends at the first comma not escaped by a backslash.
		for i := 0; i < len(cn); i++ {
			if cn[i] == '\\' {
				i++
				continue
			}
			if cn[i] == ',' {
				cn = cn[:i]
				break
			}
		}
		if strings.Contains(cn, `\`) {
			var b strings.Builder
			for i := 0; i < len(cn); i++ {
				if cn[i] == '\\' && i+1 < len(cn) {
					i++
				}
				b.WriteByte(cn[i])
			}
			cn = b.String()
		}
		return cn
	}
	if name != "" && name != "-" {
		return name
	}
	return sid
}

// addSource sets source.ip and source.port and returns the IP. An
// IPv4-mapped IPv6 address ("::ffff:10.1.2.3", as the KDC writes) becomes
// the IPv4 address; "-" and values that are no IP address are left out,
// as is port 0 (local requests).
func addSource(ev *format.Event, ip, port string) string {
	if len(ip) > 7 && strings.EqualFold(ip[:7], "::ffff:") {
		ip = ip[7:]
	}
	if ip == "" || ip == "-" {
		return ""
	}
	if _, err := netip.ParseAddr(ip); err != nil {
		return ""
	}
	ev.Add(format.FieldSourceIP, ip)
	if port != "0" && port != "" {
		if n, err := strconv.Atoi(port); err == nil && n > 0 && n < 65536 {
			ev.Add(format.FieldSourcePort, port)
		}
	}
	return ip
}

// Fields of the account a process runs as (4648's Subject).
const (
	fieldProcessUser       = format.FieldProcessUser
	fieldProcessUserDomain = format.FieldProcessUserDomain
)

// setProcessUser sets process.user.name and process.user.domain, the
// account the process that used explicit credentials runs as (4648's
// Subject), normalized like user.name: a tool spraying credentials from a
// server is one group of host, executable and this account.
func setProcessUser(ev *format.Event, src *format.Source, name, domain string) {
	raw := account(name, domain)
	if raw == "" || raw == "-" {
		return
	}
	n, d := src.Users.Normalize(raw)
	ev.Add(fieldProcessUser, n)
	ev.Add(fieldProcessUserDomain, d)
}

// addWorkstation sets source.domain, the NetBIOS name of the machine an
// attempt came from.
func addWorkstation(ev *format.Event, name string) string {
	name = strings.TrimPrefix(strings.TrimSpace(name), `\\`)
	if name == "-" {
		return ""
	}
	ev.Add(fieldSourceDomain, name)
	return name
}

// addProcess sets process.executable (the full path) and process.name
// (its base name).
func addProcess(ev *format.Event, path string) {
	if path == "" || path == "-" {
		return
	}
	ev.Add(fieldExecutable, path)
	if i := strings.LastIndexAny(path, `\/`); i >= 0 {
		ev.Add(format.FieldProcessName, path[i+1:])
	} else {
		ev.Add(format.FieldProcessName, path)
	}
}

// protocolFor is network.protocol of a logon: "rdp" for logon types 10
// and 12 (RemoteInteractive, CachedRemoteInteractive), else the
// authentication package's protocol (authPackages), else "ntlm" when the
// NTLM sub-package is named.
func protocolFor(logonType, pkg, lmPkg string) string {
	if logonType == "10" || logonType == "12" {
		return "rdp"
	}
	p := authPackage(pkg)
	if p != "" && p != "negotiate" {
		return p
	}
	if hasPrefixFold(lmPkg, "NTLM") || hasPrefixFold(lmPkg, "LM") {
		return "ntlm"
	}
	return p
}

// authPackage looks a package name up in authPackages, ignoring case.
func authPackage(pkg string) string {
	pkg = strings.TrimSpace(pkg)
	var buf [64]byte
	if len(pkg) > len(buf) {
		return ""
	}
	for i := 0; i < len(pkg); i++ {
		c := pkg[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return authPackages[string(buf[:len(pkg)])]
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// addNTStatus sets winlog.status, winlog.sub_status and event.reason of a
// failed logon and returns the reason. The SubStatus is decoded when the
// Status is a generic one (0xC000006D, 0xC000006E) and the SubStatus is
// set; otherwise the Status.
func addNTStatus(ev *format.Event, status, subStatus, failureReason string) string {
	code, norm, ok := hexCode(status)
	sub, subNorm, subOK := hexCode(subStatus)
	ev.Add(format.FieldStatusCode, norm)
	if subNorm != "0x0" {
		ev.Add(format.FieldSubStatusCode, subNorm)
	}
	text := failureReason
	if strings.HasPrefix(text, "%%") {
		text = ""
	}
	var r string
	if subOK && sub != 0 && (!ok || genericStatus[code]) {
		r = reason(ntStatus, sub, subNorm, true, text)
	} else {
		r = reason(ntStatus, code, norm, ok, text)
	}
	ev.Add(format.FieldReason, r)
	return r
}

// reason is event.reason for a status code: "bad password (0xC000006A)";
// for a code not in table, the source's own text or "status 0x...".
func reason(table map[uint32]string, code uint32, norm string, ok bool, text string) string {
	if ok {
		if s := table[code]; s != "" {
			return s + " (" + norm + ")"
		}
		if text != "" {
			return strings.TrimSuffix(text, ".") + " (" + norm + ")"
		}
		return "status " + norm
	}
	if text != "" {
		return strings.TrimSuffix(text, ".")
	}
	return ""
}

// hexCode reads a status code ("0xc000006a", "0x18", "0") and returns it
// with its normalized text: "0x" and upper-case hex digits. A value that
// is not hex is returned as it is, with ok false.
func hexCode(s string) (code uint32, norm string, ok bool) {
	s = strings.TrimSpace(s)
	if s == "" || s == "-" {
		return 0, "", false
	}
	h := s
	if len(h) > 2 && h[0] == '0' && (h[1] == 'x' || h[1] == 'X') {
		h = h[2:]
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return 0, s, false
	}
	canonical := len(s) == len(h)+2 && s[1] == 'x' && (len(h) == 1 || h[0] != '0')
	for i := 0; canonical && i < len(h); i++ {
		canonical = h[i] < 'a'
	}
	if canonical {
		return uint32(v), s, true
	}
	buf := strconv.AppendUint(append(make([]byte, 0, 10), "0x"...), v, 16)
	for i := 2; i < len(buf); i++ {
		if buf[i] >= 'a' {
			buf[i] -= 'a' - 'A'
		}
	}
	return uint32(v), string(buf), true
}

// message is the one-line summary of a JSON event, which stands in _msg
// for the JSON text: the event's title, then who, from where, and why.
func message(r *record, def eventDef, id int, s *summary) string {
	var b strings.Builder
	b.Grow(200)
	switch {
	case def.title != "":
		b.WriteString(def.title)
	case r.message != "":
		line := r.message
		if i := strings.IndexAny(line, "\r\n"); i >= 0 {
			line = line[:i]
		}
		b.WriteString(line)
	default:
		b.WriteString("Windows event ")
		b.WriteString(strconv.Itoa(id))
	}
	kv := func(k, v string) {
		if v != "" {
			b.WriteString(" ")
			b.WriteString(k)
			b.WriteString("=")
			b.WriteString(v)
		}
	}
	kv("user", s.user)
	kv("target", s.target)
	kv("group", s.group)
	kv("source", s.ip)
	kv("workstation", s.workstation)
	if s.logonType != "" {
		kv("logon_type", s.logonType)
		if n := logonTypes[s.logonType]; n != "" {
			b.WriteString(" (" + n + ")")
		}
	}
	kv("reason", s.reason)
	kv("channel", s.channel)
	kv("subcategory", s.subcategory)
	if s.changes != "" {
		b.WriteString(" changes=\"" + s.changes + "\"")
	}
	return b.String()
}

// timeLayout says how an event time is written.
type timeLayout uint8

const (
	timeNXLog timeLayout = iota // nxlog EventTime: RFC 3339, "2006-01-02 15:04:05", or epoch
	timeSnare                   // Snare: "Mon Jan _2 15:04:05 2006"
)

// parseTime reads an event time. Times without a zone are in loc.
// received is when the event arrived, for a Snare date without a year.
func parseTime(s string, layout timeLayout, loc *time.Location, received time.Time) (time.Time, error) {
	if loc == nil {
		loc = time.Local
	}
	s = strings.TrimSpace(s)
	if layout == timeSnare {
		// Snare writes the year; nxlog's Snare output may leave it out and
		// add milliseconds ("Sun May 21 12:00:01.123"). time.Parse takes
		// a fraction after the seconds without it being in the layout.
		t, err := time.ParseInLocation("Mon Jan _2 15:04:05 2006", s, loc)
		if err == nil {
			return t, nil
		}
		if t, err := time.ParseInLocation("Mon Jan _2 15:04:05", s, loc); err == nil && !received.IsZero() {
			return syslog.InLatestYear(t, received), nil
		}
		return time.Time{}, fmt.Errorf("date %q is not like \"Thu Nov 28 09:00:00 2026\"", s)
	}
	if s != "" && s[0] >= '0' && s[0] <= '9' && !strings.ContainsAny(s, "-:") {
		// integer($EventTime): microseconds since the epoch (nxlog's
		// datetime), or seconds or milliseconds.
		n, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			switch {
			case n > 1e15:
				return time.UnixMicro(n), nil
			case n > 1e12:
				return time.UnixMilli(n), nil
			default:
				return time.Unix(n, 0), nil
			}
		}
	}
	if len(s) >= 19 && s[4] == '-' && (s[10] == 'T' || s[10] == ' ') {
		// Pick the layout first: a failed time.Parse allocates its error.
		zoned := s[len(s)-1] == 'Z' || strings.ContainsAny(s[19:], "+-")
		switch {
		case zoned && s[10] == 'T':
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return t, nil
			}
		case zoned:
			if t, err := time.Parse("2006-01-02 15:04:05Z07:00", s); err == nil {
				return t, nil
			}
		case s[10] == 'T':
			if t, err := time.ParseInLocation("2006-01-02T15:04:05", s, loc); err == nil {
				return t, nil
			}
		default:
			if t, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc); err == nil {
				return t, nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("EventTime %q is not like 2026-11-28T09:00:00Z or 2026-11-28 09:00:00", s)
}
