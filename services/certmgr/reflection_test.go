package certmgr_test

import (
	"context"
	"slices"
	"testing"

	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
)

// TestReflectionListsServices is what `grpcurl 127.0.0.1:9090 list` does:
// it needs no key and shows the services.
func TestReflectionListsServices(t *testing.T) {
	s := startServer(t)
	stream, err := reflectionpb.NewServerReflectionClient(s.conn).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{"certbind.certmgr.v1.CertificateService", "certbind.certmgr.v1.DistributionService", "certbind.certmgr.v1.ApiKeyService", "grpc.health.v1.Health"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lacks %s: %v", want, names)
		}
	}
}
