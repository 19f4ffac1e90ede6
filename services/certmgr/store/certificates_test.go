package store

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func names(certs []*Certificate) []string {
	out := []string{}
	for _, c := range certs {
		out = append(out, c.Name)
	}
	return out
}

func TestCreateGetList(t *testing.T) {
	s := openTestStore(t, Options{})

	// "alpha" is a prefix of "alphaB": paging after "alpha" must not skip it.
	created := map[string]*Certificate{}
	for _, name := range []string{"zeta", "alphaB", "beta", "alpha", "Mid", "_x", "$y"} {
		c := newCert("acme", "shop", name)
		mustCreate(t, s, c)
		created[name] = c
	}
	// The same names elsewhere are separate certificates.
	other := []*Certificate{
		newCert("acme", "shop2", "alpha"),
		newCert("acme", "sho", "alpha"),
		newCert("acmecorp", "shop", "alpha"),
		newCert("other", "shop", "beta"),
	}
	for _, c := range other {
		mustCreate(t, s, c)
	}

	t.Run("get", func(t *testing.T) {
		want := created["beta"]
		got, err := s.GetCertificate("acme", "shop", want.ID)
		if err != nil {
			t.Fatalf("GetCertificate: %v", err)
		}
		if got.Revision == 0 {
			t.Errorf("Revision = 0, want the revision of the create")
		}
		w := *want
		w.Revision = got.Revision
		if !reflect.DeepEqual(got, &w) {
			t.Errorf("GetCertificate =\n%+v\nwant\n%+v", got, &w)
		}
	})

	t.Run("get is scoped to the project", func(t *testing.T) {
		id := created["beta"].ID
		for _, p := range [][2]string{{"acme", "shop2"}, {"other", "shop"}, {"acme", ""}, {"", "shop"}} {
			if _, err := s.GetCertificate(p[0], p[1], id); !errors.Is(err, ErrNotFound) {
				t.Errorf("GetCertificate(%q, %q, %s) error = %v, want ErrNotFound", p[0], p[1], id, err)
			}
		}
	})

	tests := []struct {
		account, project, after string
		want                    []string
	}{
		{"acme", "shop", "", []string{"$y", "Mid", "_x", "alpha", "alphaB", "beta", "zeta"}},
		{"acme", "shop", "alpha", []string{"alphaB", "beta", "zeta"}},
		{"acme", "shop", "alphaB", []string{"beta", "zeta"}},
		{"acme", "shop", "alphaA", []string{"alphaB", "beta", "zeta"}}, // not a name: next one after it
		{"acme", "shop", "zeta", []string{}},
		{"acme", "shop", "zz", []string{}},
		{"acme", "shop2", "", []string{"alpha"}},
		{"acme", "sho", "", []string{"alpha"}},
		{"acmecorp", "shop", "", []string{"alpha"}},
		{"other", "shop", "", []string{"beta"}},
		{"other", "shop2", "", []string{}},
		{"nobody", "shop", "", []string{}},
	}
	for _, tt := range tests {
		got, err := s.ListCertificates(tt.account, tt.project, tt.after)
		if err != nil {
			t.Fatalf("ListCertificates(%s, %s, %q): %v", tt.account, tt.project, tt.after, err)
		}
		if !slices.Equal(names(got), tt.want) {
			t.Errorf("ListCertificates(%s, %s, %q) = %q, want %q", tt.account, tt.project, tt.after, names(got), tt.want)
		}
		for _, c := range got {
			if c.Account != tt.account || c.Project != tt.project {
				t.Errorf("ListCertificates(%s, %s) returned %s/%s/%s", tt.account, tt.project, c.Account, c.Project, c.Name)
			}
		}
	}

	// Paging one name at a time visits every certificate exactly once.
	var paged []string
	after := ""
	for {
		page, err := s.ListCertificates("acme", "shop", after)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page[0].Name)
		after = page[0].Name
	}
	if want := tests[0].want; !slices.Equal(paged, want) {
		t.Errorf("paging = %q, want %q", paged, want)
	}
}

func TestCreateNameTaken(t *testing.T) {
	s := openTestStore(t, Options{})
	first := newCert("acme", "shop", "myBackendCert")
	mustCreate(t, s, first)
	rev := mustRevision(t, s)

	_, err := s.CreateCertificate(newCert("acme", "shop", "myBackendCert"))
	if !errors.Is(err, ErrNameTaken) {
		t.Fatalf("second create error = %v, want ErrNameTaken", err)
	}
	if !strings.Contains(err.Error(), `"myBackendCert"`) {
		t.Errorf("error %q does not name the certificate", err)
	}
	if got := mustRevision(t, s); got != rev {
		t.Errorf("revision = %d after a refused create, want %d", got, rev)
	}
	list, err := s.ListCertificates("acme", "shop", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != first.ID {
		t.Errorf("list after refused create = %v, want only %s", names(list), first.ID)
	}

	// A duplicate id in the project is refused too, and leaves no name behind.
	dup := newCert("acme", "shop", "otherName")
	dup.ID = first.ID
	if _, err := s.CreateCertificate(dup); err == nil {
		t.Fatal("create with an existing id succeeded")
	}
	if got := mustRevision(t, s); got != rev {
		t.Errorf("revision = %d after a refused create, want %d", got, rev)
	}
	mustCreate(t, s, newCert("acme", "shop", "otherName"))
}

func TestNotFound(t *testing.T) {
	s := openTestStore(t, Options{})
	c := newCert("acme", "shop", "present")
	mustCreate(t, s, c)
	rev := mustRevision(t, s)

	if _, err := s.GetCertificate("acme", "shop", "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetCertificate error = %v, want ErrNotFound", err)
	}
	called := false
	_, _, err := s.UpdateCertificate("acme", "shop", "nope", func(*Certificate) (string, error) {
		called = true
		return ChangeUpdated, nil
	})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateCertificate error = %v, want ErrNotFound", err)
	}
	if called {
		t.Error("UpdateCertificate called fn for a missing certificate")
	}
	if _, err := s.DeleteCertificate("acme", "shop", "nope", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteCertificate error = %v, want ErrNotFound", err)
	}
	// The right id in the wrong project is not found either.
	if _, err := s.DeleteCertificate("acme", "shop2", c.ID, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteCertificate in another project error = %v, want ErrNotFound", err)
	}
	if got := mustRevision(t, s); got != rev {
		t.Errorf("revision = %d after failed writes, want %d", got, rev)
	}
}

func TestUpdate(t *testing.T) {
	s := openTestStore(t, Options{})
	rec := newRecorder(100)
	s.SetPublisher(rec.publish)
	c := newCert("acme", "shop", "myBackendCert")
	created := mustCreate(t, s, c)

	got, ch, err := s.UpdateCertificate("acme", "shop", c.ID, func(c *Certificate) (string, error) {
		c.State = StateDisabled
		c.EnvironmentTypes[0] = "staging"
		return ChangeDisabled, nil
	})
	if err != nil {
		t.Fatalf("UpdateCertificate: %v", err)
	}
	if ch.Revision != created.Revision+1 || ch.Type != ChangeDisabled || ch.CertificateID != c.ID {
		t.Errorf("change = rev %d type %q id %s, want rev %d %q %s", ch.Revision, ch.Type, ch.CertificateID, created.Revision+1, ChangeDisabled, c.ID)
	}
	if got.State != StateDisabled || got.Revision != ch.Revision {
		t.Errorf("updated record state %q revision %d, want %q %d", got.State, got.Revision, StateDisabled, ch.Revision)
	}
	if ch.Before == nil || ch.Before.State != StateActive || ch.Before.EnvironmentTypes[0] != "development" {
		t.Errorf("change.Before = %+v, want the active record with its original environment types", ch.Before)
	}
	if ch.After == nil || ch.After.State != StateDisabled {
		t.Errorf("change.After = %+v, want the disabled record", ch.After)
	}
	stored, err := s.GetCertificate("acme", "shop", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stored, got) {
		t.Errorf("stored record =\n%+v\nwant\n%+v", stored, got)
	}
	rec.drain()

	t.Run("no-op writes nothing", func(t *testing.T) {
		rev, tx, log := mustRevision(t, s), txID(t, s), allChanges(t, s)
		got, ch, err := s.UpdateCertificate("acme", "shop", c.ID, func(c *Certificate) (string, error) {
			c.State = "scribbled on, then declined"
			return "", nil
		})
		if err != nil {
			t.Fatalf("no-op UpdateCertificate: %v", err)
		}
		if !reflect.DeepEqual(ch, Change{}) {
			t.Errorf("no-op change = %+v, want the zero Change", ch)
		}
		if !reflect.DeepEqual(got, stored) {
			t.Errorf("no-op returned\n%+v\nwant the current record\n%+v", got, stored)
		}
		after, err := s.GetCertificate("acme", "shop", c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(after, stored) {
			t.Errorf("no-op changed the record to %+v", after)
		}
		if r := mustRevision(t, s); r != rev {
			t.Errorf("revision = %d after a no-op, want %d", r, rev)
		}
		if l := allChanges(t, s); len(l) != len(log) {
			t.Errorf("changelog has %d entries after a no-op, want %d", len(l), len(log))
		}
		if id := txID(t, s); id != tx {
			t.Errorf("bbolt committed a transaction for a no-op (tx id %d -> %d)", tx, id)
		}
		if p := rec.drain(); len(p) != 0 {
			t.Errorf("no-op published %d changes", len(p))
		}
	})

	t.Run("identity change refused", func(t *testing.T) {
		mutations := map[string]func(*Certificate){
			"id":      func(c *Certificate) { c.ID = "other" },
			"account": func(c *Certificate) { c.Account = "other" },
			"project": func(c *Certificate) { c.Project = "other" },
			"name":    func(c *Certificate) { c.Name = "other" },
		}
		for field, mutate := range mutations {
			rev := mustRevision(t, s)
			_, _, err := s.UpdateCertificate("acme", "shop", c.ID, func(c *Certificate) (string, error) {
				mutate(c)
				return ChangeUpdated, nil
			})
			if err == nil {
				t.Errorf("changing the %s was accepted", field)
			}
			if r := mustRevision(t, s); r != rev {
				t.Errorf("revision = %d after refusing a %s change, want %d", r, field, rev)
			}
			after, err := s.GetCertificate("acme", "shop", c.ID)
			if err != nil || !reflect.DeepEqual(after, stored) {
				t.Errorf("after refusing a %s change: record %+v, %v", field, after, err)
			}
		}
		if p := rec.drain(); len(p) != 0 {
			t.Errorf("refused updates published %d changes", len(p))
		}
		// The name is still the old one's.
		if _, err := s.CreateCertificate(newCert("acme", "shop", "other")); err != nil {
			t.Errorf("name %q was taken by a refused rename: %v", "other", err)
		}
	})

	t.Run("fn error", func(t *testing.T) {
		rev := mustRevision(t, s)
		veto := errors.New("not allowed")
		_, _, err := s.UpdateCertificate("acme", "shop", c.ID, func(c *Certificate) (string, error) {
			c.State = StateActive
			return ChangeEnabled, veto
		})
		if !errors.Is(err, veto) {
			t.Errorf("error = %v, want the fn's error", err)
		}
		if r := mustRevision(t, s); r != rev {
			t.Errorf("revision = %d after fn failed, want %d", r, rev)
		}
	})
}

func TestDelete(t *testing.T) {
	s := openTestStore(t, Options{})
	c := newCert("acme", "shop", "myBackendCert")
	mustCreate(t, s, c)
	rev := mustRevision(t, s)

	veto := errors.New("referenced by deployment d1")
	var seen *Certificate
	_, err := s.DeleteCertificate("acme", "shop", c.ID, func(c *Certificate) error {
		seen = c
		return veto
	})
	if !errors.Is(err, veto) {
		t.Fatalf("vetoed delete error = %v, want the veto", err)
	}
	if seen == nil || seen.ID != c.ID {
		t.Errorf("check saw %+v, want the current record", seen)
	}
	if r := mustRevision(t, s); r != rev {
		t.Errorf("revision = %d after a vetoed delete, want %d", r, rev)
	}
	if _, err := s.GetCertificate("acme", "shop", c.ID); err != nil {
		t.Errorf("certificate gone after a vetoed delete: %v", err)
	}
	if _, err := s.CreateCertificate(newCert("acme", "shop", c.Name)); !errors.Is(err, ErrNameTaken) {
		t.Errorf("name free after a vetoed delete: create error = %v", err)
	}

	ch, err := s.DeleteCertificate("acme", "shop", c.ID, func(*Certificate) error { return nil })
	if err != nil {
		t.Fatalf("DeleteCertificate: %v", err)
	}
	if ch.Type != ChangeDeleted || ch.Revision != rev+1 || ch.After != nil || ch.Before == nil || ch.Before.ID != c.ID {
		t.Errorf("delete change = %+v, want deleted at %d with Before and no After", ch, rev+1)
	}
	if _, err := s.GetCertificate("acme", "shop", c.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetCertificate after delete error = %v, want ErrNotFound", err)
	}
	if list, _ := s.ListCertificates("acme", "shop", ""); len(list) != 0 {
		t.Errorf("list after delete = %q", names(list))
	}
	again := newCert("acme", "shop", c.Name)
	if ch := mustCreate(t, s, again); ch.Revision != rev+2 {
		t.Errorf("re-create took revision %d, want %d", ch.Revision, rev+2)
	}
	if _, err := s.DeleteCertificate("acme", "shop", c.ID, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete error = %v, want ErrNotFound", err)
	}
}
