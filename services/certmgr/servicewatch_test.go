package certmgr_test

import (
	"testing"

	"google.golang.org/grpc/codes"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr"
)

// TestServiceKeyMayNotWatch: the service key, which certbind's services
// use to call each other's internal services, receives no private keys:
// only admin and edge keys may open the certificate stream.
func TestServiceKeyMayNotWatch(t *testing.T) {
	const serviceKey = "watch-test-service-0123456789abcdef0123456"
	s := startServer(t, func(c *certmgr.Config) { c.ServiceKey = serviceKey })
	create(t, s, "secret")
	stream, err := certmgrv1.NewDistributionServiceClient(s.conn).WatchCertificates(as(serviceKey), &certmgrv1.WatchCertificatesRequest{})
	if err == nil {
		for {
			var ev *certmgrv1.WatchCertificatesResponse
			if ev, err = stream.Recv(); err != nil {
				break
			}
			if item := ev.GetSnapshotItem(); item != nil {
				t.Fatalf("the service key received %s with its private key", item.GetCertificate().GetName())
			}
		}
	}
	wantCode(t, err, codes.PermissionDenied, "only edge and admin keys may receive private keys")
}
