package format

import "strings"

// Normalized field names (ECS style), documented in docs/schema.md. Every
// format uses these names for these meanings, so that rules, searches and
// outputs see one schema whatever the source.
const (
	FieldDataset        = "event.dataset"  // nginx.access, iis.access, exchange.imap, exchange.pop3, exchange.httpproxy, exchange.messagetracking, exchange.admin_audit, windows.security, kv
	FieldKind           = "event.kind"     // event, state (a header line)
	FieldCategory       = "event.category" // authentication, session, web, email, iam, configuration, process, network
	FieldType           = "event.type"     // start, end, info, denied, allowed, change, creation, deletion, access
	FieldAction         = "event.action"   // e.g. logon-failed, account-locked, Sync, New-MailboxExportRequest
	FieldOutcome        = "event.outcome"  // success, failure, unknown
	FieldReason         = "event.reason"   // why, in words: "bad password (0xC000006A)"
	FieldCode           = "event.code"     // the source's event ID: 4625
	FieldDuration       = "event.duration" // nanoseconds
	FieldSourceIP       = "source.ip"
	FieldSourcePort     = "source.port"
	FieldDestIP         = "destination.ip"
	FieldDestPort       = "destination.port"
	FieldUserName       = "user.name"     // normalized: lowercase, no domain
	FieldUserDomain     = "user.domain"   // canonical domain (Users.Domains)
	FieldUserOriginal   = "user.original" // as the source wrote it
	FieldUserTarget     = "user.target.name"
	FieldHostName       = "host.name" // the host the event happened on (not the syslog relay)
	FieldProtocol       = "network.protocol"
	FieldDeviceID       = "device.id"
	FieldDeviceType     = "device.type"
	FieldMethod         = "http.request.method"
	FieldStatus         = "http.response.status_code"
	FieldBytes          = "http.response.bytes"
	FieldURLPath        = "url.path"
	FieldURLQuery       = "url.query"
	FieldUserAgent      = "user_agent.original"
	FieldReferrer       = "http.request.referrer"
	FieldForwardedFor   = "http.request.forwarded_for" // X-Forwarded-For as sent
	FieldSessionID      = "session.id"
	FieldLogonType      = "winlog.logon.type"
	FieldStatusCode     = "winlog.status"     // NTSTATUS, hex
	FieldSubStatusCode  = "winlog.sub_status" // NTSTATUS, hex
	FieldProcessName    = "process.name"
	FieldEmailFrom      = "email.from.address"
	FieldEmailTo        = "email.to.address"
	FieldEmailSubject   = "email.subject"
	FieldEmailMessageID = "email.message_id"
	FieldCmdlet         = "exchange.cmdlet"
	FieldCmdletParams   = "exchange.parameters"
	FieldTargetObject   = "exchange.object"
	FieldModified       = "exchange.modified_properties" // "Name: old -> new; ..." (EAC export)
	FieldExternalAccess = "exchange.external_access"     // "true": a change by Microsoft's datacenter staff
	FieldOriginal       = "log.original"
	FieldSourceAddress  = "source.address" // when not an IP
	FieldDestAddress    = "destination.address"
	FieldSourceNATIP    = "source.nat.ip" // the proxy/load balancer a client came through
	FieldSourceNATPort  = "source.nat.port"
	FieldDestDomain     = "destination.domain"
	FieldURLDomain      = "url.domain"
	FieldHTTPVersion    = "http.version"
	FieldRequestBytes   = "http.request.bytes"
	FieldRequestID      = "http.request.id"
	FieldSourceDomain   = "source.domain" // the client's host name (NetBIOS or DNS)
	FieldHostIP         = "host.ip"
	FieldTargetDomain   = "user.target.domain"
	FieldGroupName      = "group.name"
	FieldGroupDomain    = "group.domain"
	FieldExecutable     = "process.executable"
	FieldNetworkBytes   = "network.bytes"
	FieldEmailLocalID   = "email.local_id"

	// Windows: the group's SID, the log a 1102/104 cleared (and where it
	// was saved), and the audit policy a 4719 changed.
	FieldGroupID              = "group.id"
	FieldClearedChannel       = "winlog.cleared_channel"
	FieldBackupPath           = "winlog.backup_path"
	FieldAuditCategory        = "winlog.audit_policy.category"
	FieldAuditSubcategory     = "winlog.audit_policy.subcategory"
	FieldAuditSubcategoryGUID = "winlog.audit_policy.subcategory_guid"
	FieldAuditChanges         = "winlog.audit_policy.changes"

	// The account a process runs as (4648's Subject).
	FieldProcessUser       = "process.user.name"
	FieldProcessUserDomain = "process.user.domain"

	// sshd and PAM.
	FieldSSHMethod = "ssh.method" // password, publickey, keyboard-interactive/pam, none, ...
	FieldSSHKey    = "ssh.key"    // the key's type and fingerprint: "RSA SHA256:..."
	FieldPAMModule = "pam.module" // pam_unix, pam_sss, pam_faillock

	// Error logs (nginx, Apache).
	FieldLogLevel     = "log.level"     // error, warn, crit, ...
	FieldErrorMessage = "error.message" // the message without its context
	FieldErrorCode    = "error.code"    // Apache's AH00126
	FieldProcessPID   = "process.pid"
	FieldThreadID     = "process.thread.id"  // Apache's tid
	FieldApacheModule = "apache.module"      // core, proxy_fcgi, ssl, ...
	FieldLimitZone    = "nginx.limit.zone"   // the limit_req/limit_conn zone
	FieldLimitExcess  = "nginx.limit.excess" // limit_req's excess over the rate
	FieldUpstream     = "nginx.upstream"     // the upstream URL a request was passed to
)

// normalized is the set of normalized names: a payload key with one of
// these names is renamed (see package parse) so that it cannot forge them.
var normalized = map[string]bool{}

func init() {
	for _, n := range []string{FieldDataset, FieldKind, FieldCategory, FieldType, FieldAction, FieldOutcome,
		FieldReason, FieldCode, FieldDuration, FieldSourceIP, FieldSourcePort, FieldDestIP, FieldDestPort,
		FieldUserName, FieldUserDomain, FieldUserOriginal, FieldUserTarget, FieldHostName, FieldProtocol,
		FieldDeviceID, FieldDeviceType, FieldMethod, FieldStatus, FieldBytes, FieldURLPath, FieldURLQuery,
		FieldUserAgent, FieldReferrer, FieldForwardedFor, FieldSessionID, FieldLogonType, FieldStatusCode,
		FieldSubStatusCode, FieldProcessName, FieldEmailFrom, FieldEmailTo, FieldEmailSubject,
		FieldEmailMessageID, FieldCmdlet, FieldCmdletParams, FieldTargetObject, FieldModified, FieldExternalAccess, FieldOriginal,
		FieldSourceAddress, FieldDestAddress, FieldSourceNATIP, FieldSourceNATPort, FieldDestDomain,
		FieldURLDomain, FieldHTTPVersion, FieldRequestBytes, FieldRequestID, FieldSourceDomain, FieldHostIP,
		FieldTargetDomain, FieldGroupName, FieldGroupDomain, FieldExecutable, FieldNetworkBytes, FieldEmailLocalID,
		FieldGroupID, FieldClearedChannel, FieldBackupPath, FieldAuditCategory, FieldAuditSubcategory,
		FieldAuditSubcategoryGUID, FieldAuditChanges, FieldProcessUser, FieldProcessUserDomain,
		FieldSSHMethod, FieldSSHKey, FieldPAMModule, FieldLogLevel, FieldErrorMessage, FieldErrorCode,
		FieldProcessPID, FieldThreadID, FieldApacheModule, FieldLimitZone, FieldLimitExcess, FieldUpstream} {
		normalized[n] = true
	}
}

// IsNormalized reports whether name is one of the normalized field names.
// Every one has a dot (TestNormalizedNames), so a payload's plain keys
// are told apart without a map lookup.
func IsNormalized(name string) bool {
	return strings.IndexByte(name, '.') > 0 && normalized[name]
}

// Outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeUnknown = "unknown"
)
