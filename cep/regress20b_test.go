package cep

import "github.com/vigilhq/vigil/rules"

type rulesT = rules.Ruleset

func rulesLoad(y string) (*rules.Ruleset, error) {
	return rules.Load([]rules.Source{{Name: "t.yaml", Data: []byte(y)}})
}
