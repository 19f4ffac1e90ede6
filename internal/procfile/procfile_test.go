package procfile

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	procs, err := Parse(strings.NewReader("# the cluster\netcd1: bin/etcd --name m1\n\n  web :  run --port 80:81  \n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Process{{Name: "etcd1", Command: "bin/etcd --name m1", Line: 2}, {Name: "web", Command: "run --port 80:81", Line: 4}}
	if len(procs) != len(want) {
		t.Fatalf("got %d processes, want %d: %+v", len(procs), len(want), procs)
	}
	for i := range want {
		if procs[i] != want[i] {
			t.Errorf("process %d: got %+v, want %+v", i, procs[i], want[i])
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", "no process"},
		{"comments only", "# a\n\n", "no process"},
		{"no colon", "etcd1 bin/etcd\n", `line 1: "etcd1 bin/etcd" is not "name: command"`},
		{"no name", ": bin/etcd\n", "line 1: a process needs a name"},
		{"no command", "a: ok\nb:   \n", `line 2: process "b" has no command`},
		{"bad name", "my proc: x\n", `process name "my proc" may hold only`},
		{"slash in name", "a/b: x\n", `process name "a/b" may hold only`},
		{"duplicate", "a: x\nb: y\na: z\n", `line 3: process "a" is already named on line 1`},
		{"long name", strings.Repeat("n", 65) + ": x\n", "longer than 64 characters"},
		{"long line", "a: " + strings.Repeat("x", MaxLine) + "\n", "line 1: longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			procs, err := Parse(strings.NewReader(tc.in))
			if err == nil {
				t.Fatalf("got %+v, want an error with %q", procs, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add("etcd1: bin/etcd --name m1\n# c\n\nweb: run\n")
	f.Add("a: x\na: y\n")
	f.Add(":\n")
	f.Fuzz(func(t *testing.T, in string) {
		procs, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, p := range procs {
			if checkName(p.Name) != nil || p.Command == "" || seen[p.Name] {
				t.Fatalf("accepted a bad process %+v", p)
			}
			seen[p.Name] = true
		}
	})
}
