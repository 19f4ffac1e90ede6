package state

import (
	"sync"
	"testing"
)

// TestUpdateIsAtomic has readers check that two entries written together are
// always seen together: a reader never sees half an update.
func TestUpdateIsAtomic(t *testing.T) {
	s := NewStore()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				snap := s.Load()
				d := snap.Deployment(Key{"acme", "shop", "prod"})
				if d == nil {
					continue
				}
				c := snap.Certificate(d.Routes[0].MTLSCertificateID)
				if c == nil || c.Version != d.Generation {
					t.Errorf("deployment generation %d sees certificate %v", d.Generation, c)
					return
				}
			}
		})
	}
	for i := int32(1); i <= 2000; i++ {
		s.Update(func(next *Snapshot) {
			id := "crt_" + string(rune('a'+i%26))
			next.Certificates[id] = &Certificate{ID: id, Version: i}
			next.Deployments[Key{"acme", "shop", "prod"}] = &Deployment{Generation: i, Routes: []Route{{MTLSCertificateID: id}}}
		})
	}
	close(stop)
	wg.Wait()
	if got := s.Load().Deployment(Key{"acme", "shop", "prod"}).Generation; got != 2000 {
		t.Fatalf("last generation %d", got)
	}
}

func TestCertificateByName(t *testing.T) {
	s := NewStore()
	s.Update(func(n *Snapshot) {
		n.Certificates["a"] = &Certificate{ID: "a", Account: "acme", Project: "shop", Name: "one"}
		n.Certificates["b"] = &Certificate{ID: "b", Account: "globex", Project: "shop", Name: "one"}
	})
	if c := s.Load().CertificateByName("globex", "shop", "one"); c == nil || c.ID != "b" {
		t.Fatalf("got %v", c)
	}
	if c := s.Load().CertificateByName("acme", "web", "one"); c != nil {
		t.Fatalf("found across projects: %v", c)
	}
}

func TestRouteBase(t *testing.T) {
	r := Route{BaseURL: "https://backend:8443/v1"}
	fresh, err := r.Base()
	if err != nil || fresh.String() != r.BaseURL {
		t.Fatalf("unprepared Base() = %v, %v; want %s parsed", fresh, err, r.BaseURL)
	}
	if again, _ := r.Base(); again == fresh {
		t.Error("an unprepared route handed out the same URL twice; it has nothing cached to share")
	}
	r.Prepare()
	first, err := r.Base()
	if err != nil || first.String() != r.BaseURL {
		t.Fatalf("prepared Base() = %v, %v; want %s parsed", first, err, r.BaseURL)
	}
	if again, _ := r.Base(); again != first {
		t.Error("a prepared route parsed its BaseURL again")
	}

	bad := Route{BaseURL: "https://backend:port/"}
	bad.Prepare()
	if u, err := bad.Base(); err == nil {
		t.Errorf("Base() of %q = %v, want the parse error", bad.BaseURL, u)
	}
}
