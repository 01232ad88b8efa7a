package windows

import "strconv"

// The decode tables of this package. They are data, read only after
// package initialization; docs/schema.md ("Windows Security events")
// documents the same tables for analysts.

// kind says how an event's fields are read: which account is the user,
// where the outcome comes from.
type kind uint8

const (
	kindOther       kind = iota // no per-event mapping: only the common fields
	kindLogon                   // 4624: a logon session was created
	kindLogonFailed             // 4625: a logon failed
	kindLogoff                  // 4634, 4647: a logon session ended
	kindExplicit                // 4648: a process used explicit credentials
	kindKerberos                // 4768, 4769, 4771: the KDC answered a ticket request
	kindNTLM                    // 4776: a DC or the local SAM validated NTLM credentials
	kindLockout                 // 4740: an account was locked out
	kindAccount                 // 4720-4726, 4738, 4767: a subject changed a user account
	kindMember                  // 4728/4729, 4732/4733, 4756/4757: group membership changed
	kindLogCleared              // 1102 (Security), 104 (System): an event log was cleared
	kindAuditPolicy             // 4719: the system audit policy was changed
)

// eventDef is how one event ID maps onto the normalized schema.
type eventDef struct {
	kind     kind
	category string // event.category
	typ      string // event.type
	action   string // event.action
	protocol string // network.protocol fixed by the event, or "" (see protocolFor)
	title    string // the event's title, as Windows renders it in English
}

// events maps the Security event IDs this package understands. Other IDs
// get the common fields only (dataset, code, host, time, and the outcome
// of the audit when EventType says it).
var events = map[int]eventDef{
	4624: {kindLogon, "authentication", "start", "logged-in", "", "An account was successfully logged on."},
	4625: {kindLogonFailed, "authentication", "start", "logon-failed", "", "An account failed to log on."},
	4634: {kindLogoff, "authentication", "end", "logged-out", "", "An account was logged off."},
	4647: {kindLogoff, "authentication", "end", "logged-out", "", "User initiated logoff."},
	4648: {kindExplicit, "authentication", "start", "logged-in-explicit", "", "A logon was attempted using explicit credentials."},
	4768: {kindKerberos, "authentication", "start", "kerberos-authentication-ticket-requested", "kerberos", "A Kerberos authentication ticket (TGT) was requested."},
	4769: {kindKerberos, "authentication", "start", "kerberos-service-ticket-requested", "kerberos", "A Kerberos service ticket was requested."},
	4771: {kindKerberos, "authentication", "start", "kerberos-preauth-failed", "kerberos", "Kerberos pre-authentication failed."},
	4776: {kindNTLM, "authentication", "start", "credential-validated", "ntlm", "The computer attempted to validate the credentials for an account."},
	4740: {kindLockout, "iam", "change", "account-locked", "", "A user account was locked out."},
	4767: {kindAccount, "iam", "change", "account-unlocked", "", "A user account was unlocked."},
	4720: {kindAccount, "iam", "creation", "user-created", "", "A user account was created."},
	4722: {kindAccount, "iam", "change", "user-enabled", "", "A user account was enabled."},
	4723: {kindAccount, "iam", "change", "password-changed", "", "An attempt was made to change an account's password."},
	4724: {kindAccount, "iam", "change", "password-reset", "", "An attempt was made to reset an account's password."},
	4725: {kindAccount, "iam", "change", "user-disabled", "", "A user account was disabled."},
	4726: {kindAccount, "iam", "deletion", "user-deleted", "", "A user account was deleted."},
	4738: {kindAccount, "iam", "change", "user-changed", "", "A user account was changed."},
	4728: {kindMember, "iam", "change", "member-added-to-group", "", "A member was added to a security-enabled global group."},
	4729: {kindMember, "iam", "change", "member-removed-from-group", "", "A member was removed from a security-enabled global group."},
	4732: {kindMember, "iam", "change", "member-added-to-group", "", "A member was added to a security-enabled local group."},
	4733: {kindMember, "iam", "change", "member-removed-from-group", "", "A member was removed from a security-enabled local group."},
	4756: {kindMember, "iam", "change", "member-added-to-group", "", "A member was added to a security-enabled universal group."},
	4757: {kindMember, "iam", "change", "member-removed-from-group", "", "A member was removed from a security-enabled universal group."},
	4719: {kindAuditPolicy, "configuration", "change", "audit-policy-changed", "", "System audit policy was changed."},
}

// eventlogEvents maps the events of the provider Microsoft-Windows-Eventlog
// (the event log service itself), whatever their channel: 1102 is in the
// Security log, 104 in the System log.
var eventlogEvents = map[int]eventDef{
	1102: {kindLogCleared, "configuration", "deletion", "log-cleared", "", "The audit log was cleared."},
	104:  {kindLogCleared, "configuration", "deletion", "log-cleared", "", "An event log was cleared."},
}

// auditCategories decodes 4719's CategoryId (a message-table reference
// such as "%%8273") into the audit policy category's English name.
// Source: the rendered messages of 4719 events (OTRF Security-Datasets,
// auditpol_system_user_auditpolicy_modification), which name each.
var auditCategories = map[string]string{
	"%%8272": "System",
	"%%8273": "Logon/Logoff",
	"%%8274": "Object Access",
	"%%8275": "Privilege Use",
	"%%8276": "Detailed Tracking",
	"%%8277": "Policy Change",
	"%%8278": "Account Management",
	"%%8279": "DS Access",
	"%%8280": "Account Logon",
}

// auditChanges decodes the items of 4719's AuditPolicyChanges ("%%8448,
// %%8450"). A removal turns auditing off: the suspicious direction.
var auditChanges = map[string]string{
	"%%8448": "Success removed",
	"%%8449": "Success added",
	"%%8450": "Failure removed",
	"%%8451": "Failure added",
}

// auditSubcategory is one advanced audit policy subcategory: its
// message-table number (4719's SubcategoryId "%%12544"), the first
// group of its GUID (all share the rest, -69ae-11d9-bed3-505054503030),
// and its English name as auditpol and the rendered event show it.
type auditSubcategory struct {
	id   int
	guid string
	name string
}

// auditSubcategoryGUIDTail ends every subcategory GUID of auditSubcategories.
const auditSubcategoryGUIDTail = "-69ae-11d9-bed3-505054503030}"

// auditSubcategories lists the subcategories (same source as
// auditCategories).
var auditSubcategories = []auditSubcategory{
	// System
	{12288, "0cce9210", "Security State Change"},
	{12289, "0cce9211", "Security System Extension"},
	{12290, "0cce9212", "System Integrity"},
	{12291, "0cce9213", "IPsec Driver"},
	{12292, "0cce9214", "Other System Events"},
	// Logon/Logoff
	{12544, "0cce9215", "Logon"},
	{12545, "0cce9216", "Logoff"},
	{12546, "0cce9217", "Account Lockout"},
	{12547, "0cce9218", "IPsec Main Mode"},
	{12548, "0cce921b", "Special Logon"},
	{12549, "0cce9219", "IPsec Quick Mode"},
	{12550, "0cce921a", "IPsec Extended Mode"},
	{12551, "0cce921c", "Other Logon/Logoff Events"},
	{12552, "0cce9243", "Network Policy Server"},
	{12553, "0cce9247", "User / Device Claims"},
	{12554, "0cce9249", "Group Membership"},
	// Object Access
	{12800, "0cce921d", "File System"},
	{12801, "0cce921e", "Registry"},
	{12802, "0cce921f", "Kernel Object"},
	{12803, "0cce9220", "SAM"},
	{12804, "0cce9227", "Other Object Access Events"},
	{12805, "0cce9221", "Certification Services"},
	{12806, "0cce9222", "Application Generated"},
	{12807, "0cce9223", "Handle Manipulation"},
	{12808, "0cce9224", "File Share"},
	{12809, "0cce9225", "Filtering Platform Packet Drop"},
	{12810, "0cce9226", "Filtering Platform Connection"},
	{12811, "0cce9244", "Detailed File Share"},
	{12812, "0cce9245", "Removable Storage"},
	{12813, "0cce9246", "Central Policy Staging"},
	// Privilege Use
	{13056, "0cce9228", "Sensitive Privilege Use"},
	{13057, "0cce9229", "Non Sensitive Privilege Use"},
	{13058, "0cce922a", "Other Privilege Use Events"},
	// Detailed Tracking
	{13312, "0cce922b", "Process Creation"},
	{13313, "0cce922c", "Process Termination"},
	{13314, "0cce922d", "DPAPI Activity"},
	{13315, "0cce922e", "RPC Events"},
	{13316, "0cce9248", "Plug and Play Events"},
	{13317, "0cce924a", "Token Right Adjusted Events"},
	// Policy Change
	{13568, "0cce922f", "Audit Policy Change"},
	{13569, "0cce9230", "Authentication Policy Change"},
	{13570, "0cce9231", "Authorization Policy Change"},
	{13571, "0cce9232", "MPSSVC Rule-Level Policy Change"},
	{13572, "0cce9233", "Filtering Platform Policy Change"},
	{13573, "0cce9234", "Other Policy Change Events"},
	// Account Management
	{13824, "0cce9235", "User Account Management"},
	{13825, "0cce9236", "Computer Account Management"},
	{13826, "0cce9237", "Security Group Management"},
	{13827, "0cce9238", "Distribution Group Management"},
	{13828, "0cce9239", "Application Group Management"},
	{13829, "0cce923a", "Other Account Management Events"},
	// DS Access
	{14080, "0cce923b", "Directory Service Access"},
	{14081, "0cce923c", "Directory Service Changes"},
	{14082, "0cce923d", "Directory Service Replication"},
	{14083, "0cce923e", "Detailed Directory Service Replication"},
	// Account Logon
	{14336, "0cce923f", "Credential Validation"},
	{14337, "0cce9240", "Kerberos Service Ticket Operations"},
	{14338, "0cce9241", "Other Account Logon Events"},
	{14339, "0cce9242", "Kerberos Authentication Service"},
}

// subcategoryByID and subcategoryByGUID index auditSubcategories by
// "%%12544" and by the lower-case GUID with braces. Read only.
var subcategoryByID, subcategoryByGUID = func() (map[string]string, map[string]string) {
	byID := make(map[string]string, len(auditSubcategories))
	byGUID := make(map[string]string, len(auditSubcategories))
	for _, s := range auditSubcategories {
		byID["%%"+strconv.Itoa(s.id)] = s.name
		byGUID["{"+s.guid+auditSubcategoryGUIDTail] = s.name
	}
	return byID, byGUID
}()

// ntStatus decodes the NTSTATUS codes of failed logons (4625 Status and
// SubStatus, 4776 Status) into event.reason. Source: Microsoft's
// documentation of events 4625 and 4776.
var ntStatus = map[uint32]string{
	0xC000006A: "bad password",
	0xC0000064: "no such user",
	0xC0000234: "account locked out",
	0xC0000072: "account disabled",
	0xC000006F: "outside logon hours",
	0xC0000070: "workstation restriction",
	0xC0000071: "password expired",
	0xC0000193: "account expired",
	0xC0000133: "clock skew",
	0xC0000224: "must change password",
	0xC000015B: "logon type not granted",
	0xC000006D: "bad user name or password",
	0xC000006E: "account restriction",
	0xC0000413: "authentication firewall: machine not allowed",
	0xC000005E: "no logon servers available",
	0xC000018C: "trust relationship failed",
	0xC0000192: "Netlogon service not started",
	0xC00000DC: "SAM server in wrong state",
	0xC0000371: "local account store has no secret for the account",
	0xC000009A: "insufficient system resources",
}

// genericStatus are the NTSTATUS codes whose SubStatus says the actual
// cause: 0xC000006D "bad user name or password" and 0xC000006E "account
// restriction" come with SubStatus 0xC000006A, 0xC0000064, 0xC0000072...
var genericStatus = map[uint32]bool{0xC000006D: true, 0xC000006E: true}

// kerberosStatus decodes Kerberos result codes (4768 and 4769 Status,
// 4771 Status/FailureCode, RFC 4120 section 7.5.9) into event.reason.
// 0x0 is success.
var kerberosStatus = map[uint32]string{
	0x1:  "client entry expired in KDC database",
	0x2:  "service entry expired in KDC database",
	0x6:  "no such user",
	0x7:  "unknown service principal",
	0xC:  "logon restriction (workstation or hours)",
	0xD:  "KDC cannot accommodate requested option",
	0xE:  "encryption type not supported",
	0x10: "pre-authentication type not supported (smart card logon without DC certificate)",
	0x12: "account disabled, expired or locked out",
	0x17: "password expired",
	0x18: "bad password",
	0x1B: "server principal valid for user-to-user only",
	0x1F: "integrity check failed",
	0x20: "ticket expired",
	0x25: "clock skew",
	0x29: "message stream modified",
	0x3C: "generic Kerberos error",
	0x44: "wrong realm",
}

// logonTypes names the LogonType values (winlog.logon.type keeps the
// number); the names appear in the summary of JSON events.
var logonTypes = map[string]string{
	"0":  "system",
	"2":  "interactive",
	"3":  "network",
	"4":  "batch",
	"5":  "service",
	"7":  "unlock",
	"8":  "network cleartext",
	"9":  "new credentials",
	"10": "remote interactive (RDP)",
	"11": "cached interactive",
	"12": "cached remote interactive (RDP)",
	"13": "cached unlock",
}

// authPackages maps AuthenticationPackageName (and 4776's PackageName),
// lowercased, to network.protocol. Logon types 10 and 12 give "rdp"
// first; an "NTLM ..." LmPackageName gives "ntlm".
var authPackages = map[string]string{
	"kerberos":                              "kerberos",
	"ntlm":                                  "ntlm",
	"microsoft_authentication_package_v1_0": "ntlm",
	"negotiate":                             "negotiate",
}

// Snare messages (the event's rendered text, with tabs and line breaks
// turned into spaces) are read as "Label: value" pairs. snareLabels lists
// every label of the supported events' English message texts, so that a
// value ends where the next label starts; section headers change the
// current section, whose name qualifies the labels after it ("New
// Logon" / "Account Name" is the logged-on account, "Subject" /
// "Account Name" the one that asked).
var snareLabels = map[string]bool{ // true: section header
	// Sections.
	"Subject": true, "New Logon": true, "Account For Which Logon Failed": true,
	"Account Whose Credentials Were Used": true, "Account That Was Locked Out": true,
	"Target Account": true, "New Account": true, "Account Information": true,
	"Member": true, "Group": true, "Logon Information": true, "Network Information": true,
	"Process Information": true, "Detailed Authentication Information": true,
	"Failure Information": true, "Target Server": true, "Service Information": true,
	"Additional Information": true, "Certificate Information": true, "Attributes": true,
	"Changed Attributes": true, "Application Information": true, "Audit Policy Change": true,
	// Labels.
	"Security ID": false, "Account Name": false, "Account Domain": false, "Logon ID": false,
	"Logon GUID": false, "Logon Type": false, "Restricted Admin Mode": false,
	"Remote Credential Guard": false, "Virtual Account": false, "Elevated Token": false,
	"Impersonation Level": false, "Linked Logon ID": false, "Network Account Name": false,
	"Network Account Domain": false, "Process ID": false, "Process Name": false,
	"Workstation Name": false, "Source Network Address": false, "Source Port": false,
	"Logon Process": false, "Authentication Package": false, "Transited Services": false,
	"Package Name (NTLM only)": false, "Key Length": false, "Failure Reason": false,
	"Status": false, "Sub Status": false, "Caller Process ID": false, "Caller Process Name": false,
	"Target Server Name": false, "Network Address": false, "Port": false,
	"Caller Computer Name": false, "Supplied Realm Name": false, "User ID": false,
	"Service Name": false, "Service ID": false, "Client Address": false, "Client Port": false,
	"Ticket Options": false, "Result Code": false, "Failure Code": false,
	"Ticket Encryption Type": false, "Pre-Authentication Type": false,
	"Certificate Issuer Name": false, "Certificate Serial Number": false,
	"Certificate Thumbprint": false, "Logon Account": false, "Source Workstation": false,
	"Error Code": false, "Group Name": false, "Group Domain": false, "Privileges": false,
	"SAM Account Name": false, "Display Name": false, "User Principal Name": false,
	"Home Directory": false, "Home Drive": false, "Script Path": false, "Profile Path": false,
	"User Workstations": false, "Password Last Set": false, "Account Expires": false,
	"Primary Group ID": false, "Allowed To Delegate To": false, "Old UAC Value": false,
	"New UAC Value": false, "User Account Control": false, "User Parameters": false,
	"SID History": false, "Logon Hours": false, "Domain Name": false, "Category": false,
	"Subcategory": false, "Subcategory GUID": false, "Changes": false,
}

// snareKey is a label in a section ("" for any section).
type snareKey struct{ section, label string }

// snareKeys maps a Snare message's labels to the nxlog/EventData field
// names that hold the same value in the JSON form, so both forms share one
// mapping. A label is looked up in its section first, then alone.
var snareKeys = map[snareKey]string{
	{"Subject", "Security ID"}:    "SubjectUserSid",
	{"Subject", "Account Name"}:   "SubjectUserName",
	{"Subject", "Account Domain"}: "SubjectDomainName",
	{"Subject", "Domain Name"}:    "SubjectDomainName", // 1102

	{"Audit Policy Change", "Category"}:         "CategoryId",
	{"Audit Policy Change", "Subcategory"}:      "SubcategoryId",
	{"Audit Policy Change", "Subcategory GUID"}: "SubcategoryGuid",
	{"Audit Policy Change", "Changes"}:          "AuditPolicyChanges",

	{"New Logon", "Security ID"}:                              "TargetUserSid",
	{"New Logon", "Account Name"}:                             "TargetUserName",
	{"New Logon", "Account Domain"}:                           "TargetDomainName",
	{"Account For Which Logon Failed", "Security ID"}:         "TargetUserSid",
	{"Account For Which Logon Failed", "Account Name"}:        "TargetUserName",
	{"Account For Which Logon Failed", "Account Domain"}:      "TargetDomainName",
	{"Account Whose Credentials Were Used", "Account Name"}:   "TargetUserName",
	{"Account Whose Credentials Were Used", "Account Domain"}: "TargetDomainName",
	{"Account That Was Locked Out", "Security ID"}:            "TargetSid",
	{"Account That Was Locked Out", "Account Name"}:           "TargetUserName",
	{"Target Account", "Security ID"}:                         "TargetSid",
	{"Target Account", "Account Name"}:                        "TargetUserName",
	{"Target Account", "Account Domain"}:                      "TargetDomainName",
	{"New Account", "Security ID"}:                            "TargetSid",
	{"New Account", "Account Name"}:                           "TargetUserName",
	{"New Account", "Account Domain"}:                         "TargetDomainName",
	{"Account Information", "Security ID"}:                    "TargetSid",
	{"Account Information", "User ID"}:                        "TargetSid",
	{"Account Information", "Account Name"}:                   "TargetUserName",
	{"Account Information", "Account Domain"}:                 "TargetDomainName",
	{"Member", "Security ID"}:                                 "MemberSid",
	{"Member", "Account Name"}:                                "MemberName",
	{"Group", "Security ID"}:                                  "TargetSid",

	{"", "Group Name"}:               "TargetUserName",
	{"", "Group Domain"}:             "TargetDomainName",
	{"", "Supplied Realm Name"}:      "TargetDomainName",
	{"", "Caller Computer Name"}:     "TargetDomainName", // 4740 keeps the caller in TargetDomainName
	{"", "Logon Account"}:            "TargetUserName",
	{"", "Logon Type"}:               "LogonType",
	{"", "Source Network Address"}:   "IpAddress",
	{"", "Network Address"}:          "IpAddress",
	{"", "Client Address"}:           "IpAddress",
	{"", "Source Port"}:              "IpPort",
	{"", "Port"}:                     "IpPort",
	{"", "Client Port"}:              "IpPort",
	{"", "Workstation Name"}:         "WorkstationName",
	{"", "Source Workstation"}:       "Workstation",
	{"", "Failure Reason"}:           "FailureReason",
	{"", "Status"}:                   "Status",
	{"", "Result Code"}:              "Status",
	{"", "Failure Code"}:             "Status",
	{"", "Error Code"}:               "Status",
	{"", "Sub Status"}:               "SubStatus",
	{"", "Process Name"}:             "ProcessName",
	{"", "Caller Process Name"}:      "ProcessName",
	{"", "Logon Process"}:            "LogonProcessName",
	{"", "Authentication Package"}:   "AuthenticationPackageName",
	{"", "Package Name (NTLM only)"}: "LmPackageName",
	{"", "Target Server Name"}:       "TargetServerName",
	{"", "Service Name"}:             "ServiceName",
}

// snareTokens are the keys whose values are one word: only the first word
// after the label is taken, so that trailing free text (the explanation
// Windows appends to some messages) stays out.
var snareTokens = map[string]bool{
	"LogonType": true, "IpAddress": true, "IpPort": true, "Status": true, "SubStatus": true,
	"WorkstationName": true, "Workstation": true, "LogonProcessName": true,
	"AuthenticationPackageName": true, "TargetServerName": true, "ServiceName": true,
	"SubcategoryGuid": true,
}
