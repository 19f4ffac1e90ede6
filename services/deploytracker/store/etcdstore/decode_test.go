package etcdstore

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/etcdkv"
	"github.com/certbind/certbind/internal/testetcd"
	"github.com/certbind/certbind/services/deploytracker/store"
	"github.com/certbind/certbind/services/deploytracker/store/storetest"
)

// badValues are values a foreign or buggy writer could leave at an
// environment's deployment key: none of them is that deployment.
var badValues = map[string]string{
	"torn":              `{"id": "torn`,
	"empty":             ``,
	"null":              `null`,
	"empty object":      `{}`,
	"array":             `[]`,
	"wrong type":        `{"generation": "x"}`,
	"another env":       `{"id":"ID","account":"acme","project":"shop","environment":"dev"}`,
	"another account":   `{"id":"ID","account":"globex","project":"shop","environment":"prod"}`,
	"no id":             `{"account":"acme","project":"shop","environment":"prod"}`,
	"not UTF-8":         "{\"id\":\"\xff\xfe\"}",
	"trailing data":     `{"id":"ID","account":"acme","project":"shop","environment":"prod"} {}`,
	"references object": `{"id":"ID","account":"acme","project":"shop","environment":"prod","references":{}}`,
}

// TestBadValuesAreDamagedRecords: whatever an environment's key holds that
// is not its deployment reads as a damaged stand-in named by its key and
// the id index, the other environments read as they are, and References
// refuses to answer "not used".
func TestBadValuesAreDamagedRecords(t *testing.T) {
	for name, value := range badValues {
		t.Run(name, func(t *testing.T) {
			cli, prefix := testetcd.Client(t)
			s := open(t, cli, prefix)
			var prod store.Change
			for _, env := range []string{"dev", "prod"} {
				p := storetest.Pending("acme", env, "production", "crt-1")
				if err := s.BeginDeploy(p); err != nil {
					t.Fatal(err)
				}
				ch, err := s.CommitDeploy(p, storetest.Deployment(p, time.Now()), "dep-"+env)
				if err != nil {
					t.Fatal(err)
				}
				prod = ch
			}
			if _, err := cli.Put(t.Context(), s.envKey("acme", "shop", "prod"), strings.ReplaceAll(value, "ID", prod.DeploymentID)); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetDeployment("acme", "shop", prod.DeploymentID)
			if err != nil || got.Damaged == "" || got.ID != prod.DeploymentID || got.Environment != "prod" || len(got.Routes) != 0 {
				t.Errorf("Get = %+v, %v; want the damaged stand-in of %s", got, err, prod.DeploymentID)
			}
			list, err := s.ListDeployments("acme", "shop")
			if err != nil || len(list) != 2 || list[0].Environment != "dev" || list[0].Damaged != "" || list[1].Damaged == "" {
				t.Errorf("List = %+v, %v; want dev as it is and prod's stand-in", list, err)
			}
			if u, err := s.References("acme", "shop", "crt-1"); !errors.Is(err, store.ErrUndecodable) {
				t.Errorf("References = %+v, %v; want ErrUndecodable", u, err)
			}
		})
	}
}

// FuzzDecodeDeployment: decoding any key and value never panics, and what
// decodes is the deployment of the environment its key names, at the
// key's revision.
func FuzzDecodeDeployment(f *testing.F) {
	const prefix = "/p/deployments/"
	for _, v := range badValues {
		f.Add(prefix+"acme/shop/prod", []byte(strings.ReplaceAll(v, "ID", "dep-1")), int64(5))
	}
	f.Add(prefix+"acme/shop/prod", []byte(`{"id":"dep-1","account":"acme","project":"shop","environment":"prod","routes":[{"path":"/a"}]}`), int64(9))
	f.Add(prefix+"acme/shop", []byte(`{}`), int64(1))
	f.Add(prefix+"acme/shop/prod/x", []byte(`{"id":"d","account":"acme","project":"shop","environment":"prod/x"}`), int64(1))
	f.Fuzz(func(t *testing.T, key string, value []byte, rev int64) {
		d, err := decodeDeployment(prefix, &etcdkv.KeyValue{Key: []byte(key), Value: value, ModRevision: rev})
		if err != nil {
			return
		}
		account, project, env, ok := splitKey(prefix, key)
		if !ok || d.Account != account || d.Project != project || d.Environment != env || d.ID == "" || d.Revision != uint64(rev) {
			t.Fatalf("key %q decoded as %s of %s/%s/%s at revision %d", key, d.ID, d.Account, d.Project, d.Environment, d.Revision)
		}
		again, err := encode(d)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := decodeDeployment(prefix, &etcdkv.KeyValue{Key: []byte(key), Value: []byte(again), ModRevision: rev}); err != nil || back.ID != d.ID {
			t.Fatalf("a decoded record does not decode again: %v", err)
		}
	})
}
