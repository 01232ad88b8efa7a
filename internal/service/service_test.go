package service

import (
	"errors"
	"testing"
)

func TestRoles(t *testing.T) {
	want := map[Role][]Perm{
		RoleAdmin:   {PermRead, PermTriage, PermLists, PermRules, PermUsers, PermAudit},
		RoleAnalyst: {PermRead, PermTriage, PermLists},
		RoleViewer:  {PermRead},
	}
	all := []Perm{PermRead, PermTriage, PermLists, PermRules, PermUsers, PermAudit}
	for role, perms := range want {
		for _, p := range all {
			has := false
			for _, q := range perms {
				has = has || q == p
			}
			if got := role.Can(p); got != has {
				t.Errorf("%s.Can(%s) = %v, want %v", role, p, got, has)
			}
			err := Actor{Name: "x", Role: role}.Check(p)
			if has != (err == nil) || (err != nil && !errors.Is(err, ErrForbidden)) {
				t.Errorf("%s Check(%s) = %v", role, p, err)
			}
		}
	}
	if Role("root").Can(PermRead) {
		t.Error("an unknown role may read")
	}
	if _, err := ParseRole("root"); !IsInvalid(err) {
		t.Errorf("ParseRole(root) = %v, want an invalid error", err)
	}
}
