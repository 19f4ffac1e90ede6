package integration

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const servicesPrefix = "github.com/certbind/certbind/services/"

// service names the service a package belongs to ("" for none).
func service(pkg string) string {
	rest, ok := strings.CutPrefix(pkg, servicesPrefix)
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// workspace returns the directory of the go.work file the tests run under.
func workspace(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOWORK").Output()
	gowork := strings.TrimSpace(string(out))
	if err != nil || gowork == "" || gowork == "off" {
		t.Fatalf("these checks need the go.work workspace (go env GOWORK: %q, %v)", gowork, err)
	}
	return filepath.Dir(gowork)
}

// goList runs go list with args in dir and returns its output lines.
func goList(t *testing.T, dir string, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("go list %s in %s: %v\n%s", strings.Join(args, " "), dir, err, msg)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// TestNoServiceImportsAnother: no package of a service, its tests
// included, imports a package of another service. Tests that need more
// than one service belong here, in the CLI module.
func TestNoServiceImportsAnother(t *testing.T) {
	lines := goList(t, workspace(t), "-f",
		"{{.ImportPath}}{{range .Imports}} {{.}}{{end}}{{range .TestImports}} {{.}}{{end}}{{range .XTestImports}} {{.}}{{end}}", "work")
	services := map[string]bool{}
	for _, line := range lines {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		from := service(fields[0])
		if from == "" {
			continue
		}
		services[from] = true
		for _, imp := range fields[1:] {
			if to := service(imp); to != "" && to != from {
				t.Errorf("%s (service %s, tests included) imports %s (service %s): move the test to cmd/certbind/internal/integration", fields[0], from, imp, to)
			}
		}
	}
	for _, s := range []string{"certmgr", "deploytracker", "edge", "restapi"} {
		if !services[s] {
			t.Errorf("go list listed no package of service %s (listed %v): the check looked at the wrong workspace", s, services)
		}
	}
}

// TestEdgeBuildsWithoutStorage: the edge keeps nothing on disk and never
// reads PKCS#12, so neither it nor its tests depend on bbolt or go-pkcs12,
// nor on another service.
func TestEdgeBuildsWithoutStorage(t *testing.T) {
	deps := goList(t, filepath.Join(workspace(t), "services", "edge"), "-deps", "-test", "./...")
	seenEdge := false
	for _, line := range deps {
		// A test variant reads "pkg [pkg.test]"; the test main, "pkg.test".
		pkg := strings.TrimSuffix(strings.Fields(line)[0], ".test")
		switch {
		case strings.HasPrefix(pkg, "go.etcd.io/bbolt"), strings.HasPrefix(pkg, "software.sslmate.com/src/go-pkcs12"):
			t.Errorf("the edge (tests included) depends on %s", pkg)
		case service(pkg) == "edge":
			seenEdge = true
		case service(pkg) != "":
			t.Errorf("the edge (tests included) depends on %s of another service", pkg)
		}
	}
	if !seenEdge {
		t.Errorf("go list -deps -test listed no edge package: %v", deps)
	}
}

// TestServiceModulesRequireNoOtherService: no service's go.mod requires or
// replaces another service's module, nor does the edge's require bbolt or
// go-pkcs12.
func TestServiceModulesRequireNoOtherService(t *testing.T) {
	root := workspace(t)
	for _, svc := range []string{"certmgr", "deploytracker", "edge", "restapi"} {
		cmd := exec.Command("go", "mod", "edit", "-json")
		cmd.Dir = filepath.Join(root, "services", svc)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go mod edit -json in services/%s: %v", svc, err)
		}
		var mod struct {
			Module  struct{ Path string }
			Require []struct{ Path string }
			Replace []struct{ Old struct{ Path string } }
		}
		if err := json.Unmarshal(out, &mod); err != nil {
			t.Fatalf("services/%s/go.mod as JSON: %v", svc, err)
		}
		if service(mod.Module.Path) != svc {
			t.Fatalf("services/%s/go.mod is module %q", svc, mod.Module.Path)
		}
		paths := make([]string, 0, len(mod.Require)+len(mod.Replace))
		for _, r := range mod.Require {
			paths = append(paths, r.Path)
		}
		for _, r := range mod.Replace {
			paths = append(paths, r.Old.Path)
		}
		for _, p := range paths {
			if other := service(p); other != "" && other != svc {
				t.Errorf("services/%s/go.mod names the module of service %s (%s)", svc, other, p)
			}
			if svc == "edge" && (p == "go.etcd.io/bbolt" || p == "software.sslmate.com/src/go-pkcs12") {
				t.Errorf("services/edge/go.mod requires %s", p)
			}
		}
	}
}

// TestBinariesCarryNoEmbeddedEtcd: the services reach etcd through its
// client; the embedded etcd server (tens of MB, and a second store nobody
// asked for) is only for tests and tools, never in a binary users run.
func TestBinariesCarryNoEmbeddedEtcd(t *testing.T) {
	root := workspace(t)
	for _, dir := range []string{"services/certmgr", "services/deploytracker", "services/edge", "services/restapi", "cmd/certbind"} {
		deps := goList(t, filepath.Join(root, dir), "-deps", "./...")
		seen := false
		for _, pkg := range deps {
			if strings.HasPrefix(pkg, "go.etcd.io/etcd/server/") || pkg == "github.com/certbind/certbind/internal/testetcd" {
				t.Errorf("%s (tests excluded) depends on %s: import the embedded etcd server only from tests", dir, pkg)
			}
			seen = seen || strings.HasPrefix(pkg, "github.com/certbind/certbind/")
		}
		if !seen {
			t.Errorf("go list -deps listed no certbind package in %s: %v", dir, deps)
		}
	}
}
