// Package service holds what Vigil's front ends do: the read models and
// the changes behind the JSON API, the console and the shell commands.
// It knows nothing of HTTP. Every method takes a context and the acting
// Actor; a method that changes something checks the actor's role and
// records the change in the audit trail in the same transaction.
//
// Errors are in three kinds the front ends map to answers: ErrNotFound,
// ErrForbidden and *InvalidError (the request's own fault, in words);
// anything else is a server fault.
package service

import (
	"errors"
	"fmt"
)

// Role is what a user may do.
type Role string

// Roles, from most to least allowed.
const (
	// RoleAdmin may do everything: users, rules, the audit trail.
	RoleAdmin Role = "admin"
	// RoleAnalyst searches, triages alerts and edits lists and devices.
	RoleAnalyst Role = "analyst"
	// RoleViewer reads: search, alerts, entities, dashboards, lists.
	RoleViewer Role = "viewer"
)

// Roles lists the roles, most allowed first.
var Roles = []Role{RoleAdmin, RoleAnalyst, RoleViewer}

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", Invalidf("unknown role %q: want admin, analyst or viewer", s)
}

// Perm is one thing a role may or may not do.
type Perm int

// Permissions.
const (
	// PermRead: search events and alerts, see entities, dashboards,
	// lists, devices, rules and status.
	PermRead Perm = iota
	// PermTriage: change an alert's or incident's status, assignee and
	// comments.
	PermTriage
	// PermLists: add, remove and expire list entries and devices.
	PermLists
	// PermRules: enable and disable rules.
	PermRules
	// PermUsers: add, change and delete users and API tokens.
	PermUsers
	// PermAudit: read the audit trail.
	PermAudit
)

var permNames = [...]string{"read", "triage", "lists", "rules", "users", "audit"}

// permActs say what each permission allows, for error messages.
var permActs = [...]string{"read", "triage alerts", "change lists and devices", "turn rules on and off",
	"manage users", "read the audit trail"}

func (p Perm) String() string {
	if int(p) < len(permNames) {
		return permNames[p]
	}
	return fmt.Sprintf("perm(%d)", int(p))
}

// Can reports whether r has p.
func (r Role) Can(p Perm) bool {
	switch r {
	case RoleAdmin:
		return true
	case RoleAnalyst:
		return p == PermRead || p == PermTriage || p == PermLists
	case RoleViewer:
		return p == PermRead
	}
	return false
}

// Actor is who asks: a signed-in user, an API token or the shell.
type Actor struct {
	// Name is the user name; "token:<name>" for an API token, "cli" for
	// the shell commands.
	Name string
	Role Role
	// Via is "console", "api" or "cli"; Remote the client's address.
	Via    string
	Remote string
}

// Check returns ErrForbidden, wrapped with what was refused, when a
// cannot do p.
func (a Actor) Check(p Perm) error {
	if a.Role.Can(p) {
		return nil
	}
	act := p.String()
	if int(p) < len(permActs) {
		act = permActs[p]
	}
	return fmt.Errorf("%w: %s (role %s) may not %s", ErrForbidden, a.Name, a.Role, act)
}

// Errors the front ends answer with 404 and 403.
var (
	ErrNotFound  = errors.New("not found")
	ErrForbidden = errors.New("forbidden")
)

// InvalidError is a request the service refuses for its content; Msg says
// why, for the person who sent it.
type InvalidError struct {
	Msg string
}

func (e *InvalidError) Error() string { return e.Msg }

// Invalidf returns an *InvalidError.
func Invalidf(format string, args ...any) error {
	return &InvalidError{Msg: fmt.Sprintf(format, args...)}
}

// IsInvalid reports whether err is an *InvalidError.
func IsInvalid(err error) bool {
	var ie *InvalidError
	return errors.As(err, &ie)
}
