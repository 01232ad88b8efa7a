package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/storage"
)

// Cookie names.
const (
	// SessionCookie carries the session id.
	SessionCookie = "vigil_session"
	// LoginCookie carries the CSRF token of the login form (before a
	// session exists).
	LoginCookie = "vigil_login"
)

// Errors of Login and Authenticate.
var (
	// ErrBadLogin is a wrong user name or password; which of the two is
	// not said.
	ErrBadLogin = errors.New("wrong user name or password")
	// ErrNoSession is a request without a valid, unexpired session.
	ErrNoSession = errors.New("not signed in")
)

// Options configure Sessions.
type Options struct {
	// Idle ends a session unused this long (default 12h); Max ends any
	// session this long after login (default 7 days).
	Idle, Max time.Duration
	// Secure marks the cookies Secure (the console is served over TLS).
	Secure bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Sessions signs users in and out and finds the session of a request.
type Sessions struct {
	db *storage.DB
	o  Options
}

// NewSessions returns the session manager over db.
func NewSessions(db *storage.DB, o Options) *Sessions {
	if o.Idle <= 0 {
		o.Idle = 12 * time.Hour
	}
	if o.Max <= 0 {
		o.Max = 7 * 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Sessions{db: db, o: o}
}

// Identity is who a request's session belongs to.
type Identity struct {
	User    storage.User
	Session storage.Session
}

// Actor returns the identity as the acting user, with via ("console" or
// "api") and the client's address.
func (id Identity) Actor(via, remote string) service.Actor {
	return service.Actor{Name: id.User.Name, Role: service.Role(id.User.Role), Via: via, Remote: remote}
}

// Token returns a new random token: 32 bytes, base64url.
func Token() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand.Read never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// key is what the state file keeps of a session id.
func key(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// Login checks name and password and starts a session: it returns the
// new session id for the cookie. The session old (the request's previous
// session id, if any) ends: a login always gets a fresh id. Success and
// failure are audited (session.login, session.login_failed); a failure is
// ErrBadLogin whether the user exists or not.
func (s *Sessions) Login(name, password, old, remote string) (string, Identity, error) {
	now := s.o.Now()
	var u storage.User
	var found bool
	err := s.db.View(func(tx *storage.Tx) error {
		var err error
		u, found, err = tx.User(name)
		return err
	})
	if err != nil {
		return "", Identity{}, err
	}
	if !CheckPassword(u.Hash, password) || !found {
		actor := name
		if len(actor) > 64 || actor == "" {
			actor = fmt.Sprintf("%.64q", name)
		}
		err := s.db.Update(func(tx *storage.Tx) error {
			return tx.AppendAudit(&storage.AuditEntry{Time: now, Actor: actor, Via: "console", Remote: remote,
				Action: "session.login_failed", Target: "user " + actor})
		})
		return "", Identity{}, errors.Join(ErrBadLogin, err)
	}
	return s.start(u, old, remote, true)
}

// Start starts a session for the user called name without a password
// (for the tests of the console and the API): Login after its checks.
func (s *Sessions) Start(name, remote string) (string, Identity, error) {
	var u storage.User
	err := s.db.View(func(tx *storage.Tx) error {
		var ok bool
		var err error
		u, ok, err = tx.User(name)
		if err == nil && !ok {
			err = fmt.Errorf("auth: no user %q", name)
		}
		return err
	})
	if err != nil {
		return "", Identity{}, err
	}
	return s.start(u, "", remote, false)
}

func (s *Sessions) start(u storage.User, old, remote string, audit bool) (string, Identity, error) {
	now := s.o.Now()
	id := Token()
	sess := storage.Session{Key: key(id), User: u.Name, CSRF: Token(), Created: now, Seen: now, Remote: remote}
	err := s.db.Update(func(tx *storage.Tx) error {
		if old != "" {
			if err := tx.DeleteSession(key(old)); err != nil {
				return err
			}
		}
		// Logins are rare: a good moment to forget ended sessions.
		if _, err := tx.DeleteExpiredSessions(now.Add(-s.o.Max), now.Add(-s.o.Idle)); err != nil {
			return err
		}
		if err := tx.PutSession(&sess); err != nil {
			return err
		}
		if !audit {
			return nil
		}
		return tx.AppendAudit(&storage.AuditEntry{Time: now, Actor: u.Name, Role: u.Role, Via: "console", Remote: remote,
			Action: "session.login", Target: "user " + u.Name})
	})
	if err != nil {
		return "", Identity{}, err
	}
	return id, Identity{User: u, Session: sess}, nil
}

// Authenticate returns the identity of the request's session cookie, or
// ErrNoSession. It notes the session's use (at most once a minute).
func (s *Sessions) Authenticate(r *http.Request) (Identity, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return Identity{}, ErrNoSession
	}
	return s.lookup(c.Value)
}

func (s *Sessions) lookup(id string) (Identity, error) {
	now := s.o.Now()
	k := key(id)
	var ident Identity
	var ok, touch bool
	err := s.db.View(func(tx *storage.Tx) error {
		sess, found, err := tx.Session(k)
		if err != nil || !found {
			return err
		}
		if now.Sub(sess.Created) > s.o.Max || now.Sub(sess.Seen) > s.o.Idle {
			return nil
		}
		u, found, err := tx.User(sess.User)
		if err != nil || !found {
			return err
		}
		ident, ok = Identity{User: u, Session: sess}, true
		touch = now.Sub(sess.Seen) >= time.Minute
		return nil
	})
	if err != nil {
		return Identity{}, err
	}
	if !ok {
		return Identity{}, ErrNoSession
	}
	if touch {
		ident.Session.Seen = now
		err = s.db.Update(func(tx *storage.Tx) error {
			// Write only when the session still exists (a logout
			// in between must not bring it back).
			if _, found, err := tx.Session(k); err != nil || !found {
				return err
			}
			return tx.PutSession(&ident.Session)
		})
		if err != nil {
			return Identity{}, err
		}
	}
	return ident, nil
}

// Logout ends the request's session (if any) and audits it.
func (s *Sessions) Logout(r *http.Request, remote string) error {
	id, err := s.Authenticate(r)
	if err != nil {
		if errors.Is(err, ErrNoSession) {
			return nil
		}
		return err
	}
	return s.db.Update(func(tx *storage.Tx) error {
		if err := tx.DeleteSession(id.Session.Key); err != nil {
			return err
		}
		return tx.AppendAudit(&storage.AuditEntry{Time: s.o.Now(), Actor: id.User.Name, Role: id.User.Role,
			Via: "console", Remote: remote, Action: "session.logout", Target: "user " + id.User.Name})
	})
}

// SetCookie gives the browser the session id.
func (s *Sessions) SetCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true,
		Secure: s.o.Secure, SameSite: http.SameSiteLaxMode, MaxAge: int(s.o.Max / time.Second)})
}

// ClearCookie removes the session cookie from the browser.
func (s *Sessions) ClearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true,
		Secure: s.o.Secure, SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// LoginToken returns the CSRF token of the login form: the one in the
// request's login cookie, or a new one set in a new cookie
// (double-submit: the form must send back what the cookie holds).
func (s *Sessions) LoginToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(LoginCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	t := Token()
	http.SetCookie(w, &http.Cookie{Name: LoginCookie, Value: t, Path: "/login", HttpOnly: true,
		Secure: s.o.Secure, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	return t
}

// CheckLoginToken reports whether the login form's token matches the
// login cookie.
func CheckLoginToken(r *http.Request, token string) bool {
	c, err := r.Cookie(LoginCookie)
	return err == nil && len(c.Value) >= 32 && Equal(c.Value, token)
}

// Equal compares two secrets in constant time.
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// CSRFToken returns the CSRF token a change sent: the X-CSRF-Token header
// or the form field csrf.
func CSRFToken(r *http.Request) string {
	if t := r.Header.Get("X-CSRF-Token"); t != "" {
		return t
	}
	return r.PostFormValue("csrf")
}

// Unsafe reports whether the method changes something (anything but GET,
// HEAD, OPTIONS and TRACE).
func Unsafe(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}
