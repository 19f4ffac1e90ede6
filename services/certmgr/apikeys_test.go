package certmgr_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/certbind/certbind/internal/auth"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

func (s *server) keys() certmgrv1.ApiKeyServiceClient {
	return certmgrv1.NewApiKeyServiceClient(s.conn)
}

func (s *server) issue(req *certmgrv1.CreateApiKeyRequest) *certmgrv1.CreateApiKeyResponse {
	s.t.Helper()
	resp, err := s.keys().CreateApiKey(as(adminKey), req)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp
}

// TestAPIKeyListShowsNoSecret lists keys as the admin and as account keys:
// names, scope and expiry are there, the secret and its hash are not, and an
// account key sees only its own account.
func TestAPIKeyListShowsNoSecret(t *testing.T) {
	s := startServer(t)
	acme := s.issue(&certmgrv1.CreateApiKeyRequest{Account: "acme", Name: "ci", ExpiresIn: "90d"})
	edge := s.issue(&certmgrv1.CreateApiKeyRequest{Account: "acme", Role: "edge", Project: "shop", EnvironmentTypes: []string{"production"}, Name: "edge-eu-1"})
	globex := s.issue(&certmgrv1.CreateApiKeyRequest{Account: "globex"})
	if got := acme.GetExpiresAt().AsTime().Sub(acme.GetCreatedAt().AsTime()); got != 90*24*time.Hour {
		t.Fatalf("expires 90d after creation: got %v", got)
	}

	all, err := s.keys().ListApiKeys(as(adminKey), &certmgrv1.ListApiKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	text, _ := protojson.Marshal(all)
	for _, k := range []*certmgrv1.CreateApiKeyResponse{acme, edge, globex} {
		if strings.Contains(string(text), k.GetKey()) || strings.Contains(string(text), auth.Hash(k.GetKey())) {
			t.Fatalf("the listing holds a secret or its hash:\n%s", text)
		}
	}
	if len(all.GetApiKeys()) != 3 {
		t.Fatalf("admin lists %d keys, want 3:\n%s", len(all.GetApiKeys()), text)
	}
	byID := map[string]*certmgrv1.ApiKey{}
	for _, k := range all.GetApiKeys() {
		byID[k.GetId()] = k
	}
	if k := byID[edge.GetId()]; k.GetName() != "edge-eu-1" || k.GetRole() != "edge" || k.GetProject() != "shop" || k.GetState() != "active" || k.GetExpiresAt() != nil {
		t.Fatalf("edge key listed as %v", k)
	}
	if k := byID[acme.GetId()]; k.GetName() != "ci" || !k.GetExpiresAt().AsTime().Equal(acme.GetExpiresAt().AsTime()) {
		t.Fatalf("acme key listed as %v", k)
	}

	// An account key lists its own account's keys only.
	own, err := s.keys().ListApiKeys(as(acme.GetKey()), &certmgrv1.ListApiKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(own.GetApiKeys()) != 2 {
		t.Fatalf("acme's key lists %d keys, want acme's 2: %v", len(own.GetApiKeys()), own)
	}
	for _, k := range own.GetApiKeys() {
		if k.GetAccount() != "acme" {
			t.Fatalf("acme's key sees %v", k)
		}
	}
	_, err = s.keys().ListApiKeys(as(acme.GetKey()), &certmgrv1.ListApiKeysRequest{Account: "globex"})
	wantCode(t, err, codes.PermissionDenied, `account "globex"`)
	_, err = s.keys().ListApiKeys(as(edge.GetKey()), &certmgrv1.ListApiKeysRequest{})
	wantCode(t, err, codes.PermissionDenied, "admin key or an account key")
	one, err := s.keys().ListApiKeys(as(adminKey), &certmgrv1.ListApiKeysRequest{Account: "globex"})
	if err != nil || len(one.GetApiKeys()) != 1 || one.GetApiKeys()[0].GetId() != globex.GetId() {
		t.Fatalf("admin lists globex: %v %v", one, err)
	}

	// Another account's key is not found, exactly as a missing one.
	_, errOther := s.keys().RevokeApiKey(as(acme.GetKey()), &certmgrv1.RevokeApiKeyRequest{Id: globex.GetId()})
	_, errMissing := s.keys().RevokeApiKey(as(acme.GetKey()), &certmgrv1.RevokeApiKeyRequest{Id: "key_aaaaaaaaaaaaaaaa"})
	wantCode(t, errOther, codes.NotFound, "no API key with that id")
	if errOther.Error() != errMissing.Error() {
		t.Fatalf("answers differ: %q vs %q", errOther, errMissing)
	}
	if _, err := s.certs().ListCertificates(as(globex.GetKey()), &certmgrv1.ListCertificatesRequest{Account: "globex", Project: "shop"}); err != nil {
		t.Fatalf("globex's key after acme tried to revoke it: %v", err)
	}
	_, err = s.keys().RevokeApiKey(as(edge.GetKey()), &certmgrv1.RevokeApiKeyRequest{Id: edge.GetId()})
	wantCode(t, err, codes.PermissionDenied, "")

	// acme's key may revoke acme's edge key.
	r, err := s.keys().RevokeApiKey(as(acme.GetKey()), &certmgrv1.RevokeApiKeyRequest{Id: edge.GetId()})
	if err != nil || r.GetApiKey().GetState() != "revoked" || r.GetApiKey().GetRevokedAt() == nil {
		t.Fatalf("acme revokes its edge key: %v %v", r, err)
	}
}

// TestAPIKeyBadCreateChangesNothing: a bad name or expiry says what to
// write instead and issues no key.
func TestAPIKeyBadCreateChangesNothing(t *testing.T) {
	s := startServer(t)
	for _, tc := range []struct {
		req  *certmgrv1.CreateApiKeyRequest
		want string
	}{
		{&certmgrv1.CreateApiKeyRequest{Account: "acme", ExpiresIn: "90 days"}, `"90d", "12h"`},
		{&certmgrv1.CreateApiKeyRequest{Account: "acme", ExpiresIn: "3 months"}, `"90d"`},
		{&certmgrv1.CreateApiKeyRequest{Account: "acme", ExpiresIn: "-1h"}, "more than zero"},
		{&certmgrv1.CreateApiKeyRequest{Account: "acme", ExpiresIn: "0d"}, "more than zero"},
		{&certmgrv1.CreateApiKeyRequest{Account: "acme", ExpiresIn: "99999d"}, "ten years"},
		{&certmgrv1.CreateApiKeyRequest{Account: "acme", Name: strings.Repeat("n", 65)}, "at most 64"},
		{&certmgrv1.CreateApiKeyRequest{Account: "acme", Name: "ci\x1b[2J"}, "control"},
	} {
		_, err := s.keys().CreateApiKey(as(adminKey), tc.req)
		wantCode(t, err, codes.InvalidArgument, tc.want)
	}
	all, err := s.keys().ListApiKeys(as(adminKey), &certmgrv1.ListApiKeysRequest{})
	if err != nil || len(all.GetApiKeys()) != 0 {
		t.Fatalf("after refused creates: %v %v", all, err)
	}
}

// watchCertificates opens a distribution stream with key and reads until
// the snapshot is complete.
func watchCertificates(t *testing.T, s *server, key string) certmgrv1.DistributionService_WatchCertificatesClient {
	t.Helper()
	stream, err := certmgrv1.NewDistributionServiceClient(s.conn).WatchCertificates(as(key), &certmgrv1.WatchCertificatesRequest{Account: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("first message of the stream: %v", err)
	}
	return stream
}

// streamEnd reads stream until it fails, in the background; the channel
// gets the error.
func streamEnd(stream interface {
	Recv() (*certmgrv1.WatchCertificatesResponse, error)
}) <-chan error {
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := stream.Recv(); err != nil {
				done <- err
				return
			}
		}
	}()
	return done
}

// TestRevokeEndsOpenStream revokes an edge key while its distribution
// stream is open: the stream ends Unauthenticated at once, the key is
// refused on every call, and that lasts across a restart.
func TestRevokeEndsOpenStream(t *testing.T) {
	s := startServer(t)
	edge := s.issue(&certmgrv1.CreateApiKeyRequest{Account: "acme", Role: "edge"})
	other := s.issue(&certmgrv1.CreateApiKeyRequest{Account: "acme", Role: "edge"})
	ended := streamEnd(watchCertificates(t, s, edge.GetKey()))
	otherEnded := streamEnd(watchCertificates(t, s, other.GetKey()))

	start := time.Now()
	if _, err := s.keys().RevokeApiKey(as(adminKey), &certmgrv1.RevokeApiKeyRequest{Id: edge.GetId()}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		took := time.Since(start)
		wantCode(t, err, codes.Unauthenticated, "revoked")
		t.Logf("the stream ended %v after the revocation began", took)
		if took > time.Second {
			t.Fatalf("the stream ended %v after the revocation, want under 1s", took)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the revoked key's stream is still open after 5s")
	}
	select {
	case err := <-otherEnded:
		t.Fatalf("another key's stream ended too: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	stream, err := certmgrv1.NewDistributionServiceClient(s.conn).WatchCertificates(as(edge.GetKey()), &certmgrv1.WatchCertificatesRequest{Account: "acme"})
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, err, codes.Unauthenticated, "expired or was revoked")

	// Revoking again changes nothing; after a restart the key stays revoked.
	again, err := s.keys().RevokeApiKey(as(adminKey), &certmgrv1.RevokeApiKeyRequest{Id: edge.GetId()})
	if err != nil || again.GetApiKey().GetState() != "revoked" {
		t.Fatalf("second revoke: %v %v", again, err)
	}
	s.restart()
	stream, err = certmgrv1.NewDistributionServiceClient(s.conn).WatchCertificates(as(edge.GetKey()), &certmgrv1.WatchCertificatesRequest{Account: "acme"})
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, err, codes.Unauthenticated, "expired or was revoked")
	list, err := s.keys().ListApiKeys(as(adminKey), &certmgrv1.ListApiKeysRequest{Account: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range list.GetApiKeys() {
		if want := map[bool]string{true: "revoked", false: "active"}[k.GetId() == edge.GetId()]; k.GetState() != want {
			t.Fatalf("after restart %s is %s, want %s", k.GetId(), k.GetState(), want)
		}
	}
}

// TestExpiredKey issues a key that expires in a second: it works, then it
// is refused like a revoked one and its open stream ends.
func TestExpiredKey(t *testing.T) {
	s := startServer(t)
	edge := s.issue(&certmgrv1.CreateApiKeyRequest{Account: "acme", Role: "edge", ExpiresIn: "1s"})
	ended := streamEnd(watchCertificates(t, s, edge.GetKey()))
	expires := edge.GetExpiresAt().AsTime()
	select {
	case err := <-ended:
		wantCode(t, err, codes.Unauthenticated, "expired")
		if late := time.Since(expires); late < 0 || late > time.Second {
			t.Fatalf("the stream ended %v after the key expired", late)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream of an expired key is still open")
	}
	stream, err := certmgrv1.NewDistributionServiceClient(s.conn).WatchCertificates(as(edge.GetKey()), &certmgrv1.WatchCertificatesRequest{Account: "acme"})
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, err, codes.Unauthenticated, "expired or was revoked")
	list, err := s.keys().ListApiKeys(as(adminKey), &certmgrv1.ListApiKeysRequest{})
	if err != nil || list.GetApiKeys()[0].GetState() != "expired" {
		t.Fatalf("list: %v %v", list, err)
	}
}

// TestLastUsedSurvivesRestart uses a key, restarts certmgr and finds when
// it was used in the listing.
func TestLastUsedSurvivesRestart(t *testing.T) {
	s := startServer(t)
	acme := s.issue(&certmgrv1.CreateApiKeyRequest{Account: "acme"})
	unused := s.issue(&certmgrv1.CreateApiKeyRequest{Account: "acme"})
	before := time.Now()
	if _, err := s.certs().ListCertificates(as(acme.GetKey()), &certmgrv1.ListCertificatesRequest{Account: "acme", Project: "shop"}); err != nil {
		t.Fatal(err)
	}
	s.restart()
	list, err := s.keys().ListApiKeys(as(adminKey), &certmgrv1.ListApiKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range list.GetApiKeys() {
		switch k.GetId() {
		case acme.GetId():
			if k.GetLastUsedAt() == nil || k.GetLastUsedAt().AsTime().Before(before.Add(-time.Second)) {
				t.Fatalf("used key after restart: last used %v, want after %v", k.GetLastUsedAt(), before)
			}
		case unused.GetId():
			if k.GetLastUsedAt() != nil {
				t.Fatalf("unused key has last used %v", k.GetLastUsedAt())
			}
		}
	}
}
