package yamlfile

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

type dur time.Duration

func (d *dur) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	*d = dur(v)
	return err
}

type conf struct {
	Name  string                  `yaml:"name"`
	Count int                     `yaml:"count"`
	On    bool                    `yaml:"on"`
	Wait  dur                     `yaml:"wait"`
	Tags  []string                `yaml:"tags"`
	HTTP  struct{ Listen string } `yaml:"http"`
	Free  map[string]any          `yaml:"free"`
	Items []struct {
		ID string `yaml:"id"`
	} `yaml:"items"`
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"name: a\ncount: 3\n", ""},
		{"", ""},
		{"nmae: a\n", `f.yaml:1:1: unknown key "nmae" (did you mean "name"?)`},
		{"listen: x\n", `f.yaml:1:1: unknown key "listen" here (it belongs under http: http.listen)`},
		{"count: many\n", `f.yaml:1:8: count: want a whole number, got "many"`},
		{"on: perhaps\n", `f.yaml:1:5: on: want true or false, got "perhaps"`},
		{"wait: soon\n", `f.yaml:1:7: wait: time: invalid duration "soon"`},
		{"tags: a\n", `f.yaml:1:7: tags: want a list, got "a" (write [a])`},
		{"items:\n  - id: 1\n    idd: 2\n", `f.yaml:3:5: items[0]: unknown key "idd" (did you mean "id"?)`},
		{"free: {anything: [1, 2]}\n", ""},
		{"name: a\nname: b\n", `f.yaml:2:1: duplicate key "name"`},
		{"name: [a\n", "f.yaml:1:7: invalid YAML: sequence end token ']' not found"},
	} {
		var c conf
		err := Decode("f.yaml", []byte(tc.in), &c)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if tc.want == "" && got != "" || !strings.HasPrefix(got, tc.want) {
			t.Errorf("Decode(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestKind(t *testing.T) {
	for in, want := range map[string]string{
		"rules: [a.yaml]\ntests: []\n": "test",
		"rules: [./rules]\nhttp: {}\n": "config",
		"rules:\n  - name: x\n":        "rules",
		"defaults: {key: k}\n":         "rules",
		"[1, 2]\n":                     "",
	} {
		if got := Kind([]byte(in)); got != want {
			t.Errorf("Kind(%q) = %q; want %q", in, got, want)
		}
	}
}
