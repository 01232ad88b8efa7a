package detect

import "github.com/vigil-soc/vigil/internal/lists"

func loadLists(dir string) (Lists, error) {
	s, err := lists.Load(dir)
	if err != nil {
		return nil, err
	}
	return ListsOf(s), nil
}
