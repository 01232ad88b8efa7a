package detect

import "github.com/vigil-soc/vigil/internal/lists"

// ListsOf adapts a lists.Set to what rules ask of lists (nil stays nil).
func ListsOf(s *lists.Set) Lists {
	if s == nil {
		return nil
	}
	return setLists{s}
}

type setLists struct{ s *lists.Set }

func (l setLists) Contains(list, value string) bool { return l.s.Contains(list, value) }
func (l setLists) HasList(name string) bool         { return l.s.HasList(name) }

func (l setLists) Registered(user, deviceID string) bool {
	_, ok := l.s.Device(user, deviceID)
	return ok
}

func (l setLists) Allowed(rule, ip, user, deviceID string) (string, bool) {
	return l.s.Match(rule, lists.RoleAllow, ip, user, user, deviceID)
}

func (l setLists) Blocked(rule, ip, user, deviceID string) (string, bool) {
	return l.s.Match(rule, lists.RoleBlock, ip, user, user, deviceID)
}
