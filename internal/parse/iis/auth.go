package iis

import (
	"strconv"

	"github.com/vigil-soc/vigil/internal/parse/format"
)

// Win32 and SSPI status codes that IIS writes in sc-win32-status with a
// 401.1 (decimal, as logged).
const (
	secNoCredentials = 2148074254 // 0x8009030E SEC_E_NO_CREDENTIALS: NTLM/Negotiate challenge leg
	secLogonDenied   = 2148074252 // 0x8009030C SEC_E_LOGON_DENIED
	secInvalidToken  = 2148074248 // 0x80090308 SEC_E_INVALID_TOKEN
)

// logonErrors explains the sc-win32-status of a 401.1 that rejected the
// credentials themselves.
var logonErrors = map[int64]string{
	1326:            "bad user name or password (401.1, win32 1326 ERROR_LOGON_FAILURE)",
	1327:            "account restriction (401.1, win32 1327 ERROR_ACCOUNT_RESTRICTION)",
	1328:            "logon outside the allowed hours (401.1, win32 1328 ERROR_INVALID_LOGON_HOURS)",
	1329:            "logon not allowed from this workstation (401.1, win32 1329 ERROR_INVALID_WORKSTATION)",
	1330:            "password expired (401.1, win32 1330 ERROR_PASSWORD_EXPIRED)",
	1331:            "account disabled (401.1, win32 1331 ERROR_ACCOUNT_DISABLED)",
	1385:            "logon type not granted (401.1, win32 1385 ERROR_LOGON_TYPE_NOT_GRANTED)",
	1793:            "account expired (401.1, win32 1793 ERROR_ACCOUNT_EXPIRED)",
	1907:            "password must be changed (401.1, win32 1907 ERROR_PASSWORD_MUST_CHANGE)",
	1909:            "account locked out (401.1, win32 1909 ERROR_ACCOUNT_LOCKED_OUT)",
	secLogonDenied:  "logon denied (401.1, SEC_E_LOGON_DENIED 0x8009030C)",
	secInvalidToken: "invalid authentication token (401.1, SEC_E_INVALID_TOKEN 0x80090308): a broken NTLM/Negotiate handshake, e.g. its legs split over load-balanced connections",
}

// iisAuth refines the outcome format.AddHTTP gave a 401 (added to ev at or
// after from) with what IIS adds: the sub-status and the Win32 status.
//
// Every Windows-authenticated client starts with an anonymous request that
// IIS answers "401 2 5", and NTLM answers its first credential leg with
// "401 1 2148074254" (SEC_E_NO_CREDENTIALS); both are the normal
// handshake, not failed logons (Microsoft: "Windows Authentication HTTP
// Request Flow in IIS"; David Wang, "HOWTO: Diagnose 401.x HTTP errors on
// IIS"). Outlook repeats them for every new HTTP session. They get outcome
// unknown so that failure counts stay failures. A 401.1 with a logon error
// (1326 bad password, 1909 locked out, ...) is a failure with that reason.
func iisAuth(ev *format.Event, from, status int, sub, win32 []byte) {
	if status != 401 || getField(ev, from, format.FieldCategory) != "authentication" {
		return
	}
	subN, subOK := atoi(sub)
	w, wOK := atoi(win32)
	switch {
	case subOK && subN == 2:
		setField(ev, from, format.FieldOutcome, format.OutcomeUnknown)
		setField(ev, from, format.FieldReason, "HTTP 401.2: request without credentials (the anonymous first leg of an authentication challenge)")
	case subOK && subN == 1 && wOK && w == secNoCredentials:
		setField(ev, from, format.FieldOutcome, format.OutcomeUnknown)
		setField(ev, from, format.FieldReason, "HTTP 401.1 SEC_E_NO_CREDENTIALS (0x8009030E): NTLM/Negotiate handshake in progress")
	case subOK && subN == 1 && wOK && logonErrors[w] != "":
		setField(ev, from, format.FieldOutcome, format.OutcomeFailure)
		setField(ev, from, format.FieldReason, logonErrors[w])
	case subOK && wOK:
		r := getField(ev, from, format.FieldReason)
		if r == "" {
			r = "HTTP 401"
		}
		setField(ev, from, format.FieldReason, r+" (IIS "+strconv.Itoa(status)+"."+strconv.FormatInt(subN, 10)+", win32 "+strconv.FormatInt(w, 10)+")")
	}
}

// httpProxyAuth refines the outcome format.AddHTTP gave an HttpProxy
// request (fields added to ev at or after from) with the front end's own
// verdict, IsAuthenticated:
//
//   - IsAuthenticated true with an AuthenticatedUser, on a protocol that
//     authenticates every request (not OWA/ECP, whose requests carry a
//     session cookie from an earlier forms logon), and HttpStatus not 401:
//     success, whatever the back end answered (the front end did
//     authenticate the user).
//   - IsAuthenticated false and HttpStatus 401, except ActiveSync:
//     unknown. The log cannot tell a rejected password from the anonymous
//     first leg of a Negotiate/NTLM/Basic challenge, which Outlook sends for
//     every new HTTP session (Microsoft: "Repeated status codes 401 and 200
//     when using MAPI over HTTP"); the IIS log's 401.x sub-status can.
//     ActiveSync clients send Basic credentials with every request, so an
//     ActiveSync 401 stays a failure.
//   - Everything else is as format.AddHTTP decides (OWA logon page with
//     reason=2: failure, and so on).
func httpProxyAuth(ev *format.Event, from int, proto string, authenticated bool, user string, status int) {
	switch {
	case authenticated && user != "" && proto != "owa" && proto != "ecp" && status != 401:
		setField(ev, from, format.FieldCategory, "authentication")
		setField(ev, from, format.FieldOutcome, format.OutcomeSuccess)
	case !authenticated && status == 401 && proto != "activesync":
		setField(ev, from, format.FieldCategory, "authentication")
		setField(ev, from, format.FieldOutcome, format.OutcomeUnknown)
		setField(ev, from, format.FieldReason, "HTTP 401, not authenticated: a rejected logon or the anonymous first leg of an authentication challenge (the IIS log's 401.x tells them apart)")
	}
}
