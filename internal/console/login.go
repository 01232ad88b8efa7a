package console

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/internal/auth"
	"github.com/vigil-soc/vigil/internal/httpx"
)

// loginView is the data of the login page.
type loginView struct {
	View
	LoginToken string
	Next, User string
	Error      string
}

// loginPage shows the login form; a signed-in user goes on to next.
func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	if _, err := c.o.Sessions.Authenticate(r); err == nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	c.showLogin(w, r, http.StatusOK, next, "", "")
}

func (c *Console) showLogin(w http.ResponseWriter, r *http.Request, code int, next, user, msg string) {
	v := c.view(r)
	// The login page has no user: its links and forms go to /login.
	v.Path = "/login?next=" + urlQueryEscape(next)
	data := loginView{View: v, LoginToken: c.o.Sessions.LoginToken(w, r), Next: next, User: user}
	if msg != "" {
		data.Error = v.T(msg)
	}
	c.renderStatus(w, r, code, "login", data)
}

// login checks the form and starts a session. Failures are counted per
// user name and per client address; past the limits the form answers 429
// with Retry-After until the minute is over.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	user := strings.TrimSpace(r.PostFormValue("user"))
	pass := r.PostFormValue("password")
	next := localPath(r.PostFormValue("next"))
	remote := httpx.ClientIP(r)
	if !auth.CheckLoginToken(r, r.PostFormValue("csrf")) {
		c.loginFailures.WithLabelValues("csrf").Inc()
		c.log.Warn("console login refused: the form's token does not match its cookie (an old page or a forged form)", "user", user, "remote", remote)
		c.showLogin(w, r, http.StatusForbidden, next, user, "shell.login.expired")
		return
	}
	userKey := strings.ToLower(user)
	blockedU, waitU := c.byUser.Blocked(userKey)
	blockedA, waitA := c.byAddr.Blocked(remote)
	if blockedU || blockedA {
		c.loginFailures.WithLabelValues("rate_limited").Inc()
		c.log.Warn("console login refused: too many failures", "user", user, "remote", remote,
			"user_blocked", blockedU, "address_blocked", blockedA)
		wait := max(waitU, waitA)
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		c.showLogin(w, r, http.StatusTooManyRequests, next, user, "shell.login.limited")
		return
	}
	old := ""
	if ck, err := r.Cookie(auth.SessionCookie); err == nil {
		old = ck.Value
	}
	id, ident, err := c.o.Sessions.Login(user, pass, old, remote)
	if errors.Is(err, auth.ErrBadLogin) {
		c.byUser.Fail(userKey)
		c.byAddr.Fail(remote)
		c.loginFailures.WithLabelValues("bad_credentials").Inc()
		c.log.Warn("console login failed: wrong user name or password", "user", user, "remote", remote)
		c.showLogin(w, r, http.StatusUnauthorized, next, user, "shell.login.failed")
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.byUser.Reset(userKey)
	c.o.Sessions.SetCookie(w, id)
	http.SetCookie(w, &http.Cookie{Name: auth.LoginCookie, Path: "/login", MaxAge: -1})
	c.log.Info("console login", "user", ident.User.Name, "role", ident.User.Role, "remote", remote)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if err := c.o.Sessions.Logout(r, httpx.ClientIP(r)); err != nil {
		c.fail(w, r, err)
		return
	}
	c.o.Sessions.ClearCookie(w)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
