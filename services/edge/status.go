package edge

import (
	"context"
	"sort"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	edgev1 "github.com/certbind/certbind/proto/certbind/edge/v1"
	"github.com/certbind/certbind/services/certmgr/auth"
)

// Status reports what the edge serves.
func (e *Edge) Status() *edgev1.GetStatusResponse {
	out := &edgev1.GetStatusResponse{}
	for _, s := range e.streams() {
		var last int64
		if !s.LastEvent.IsZero() {
			last = s.LastEvent.UnixMilli()
		}
		out.Streams = append(out.Streams, &edgev1.StreamStatus{Name: s.Name, Revision: s.Revision, Connected: s.Connected, LastEventUnixMs: last, Resyncs: s.Resyncs})
	}
	snap := e.store.Load()
	for _, d := range snap.Deployments {
		out.Deployments = append(out.Deployments, &edgev1.DeploymentStatus{Id: d.ID, Account: d.Account, Project: d.Project,
			Environment: d.Environment, Generation: d.Generation, Revision: d.Revision,
			UrlPath: "/" + d.Account + "/" + d.Project + "/" + d.Environment, Routes: int32(len(d.Routes))})
	}
	for _, c := range snap.Certificates {
		out.Certificates = append(out.Certificates, &edgev1.CertificateStatus{Id: c.ID, Name: c.Name, Account: c.Account, Project: c.Project,
			Kind: c.Kind, State: c.State, Version: c.Version, FingerprintSha256: c.Fingerprint, Revision: c.Revision})
	}
	sort.Slice(out.Deployments, func(i, j int) bool { return out.Deployments[i].UrlPath < out.Deployments[j].UrlPath })
	sort.Slice(out.Certificates, func(i, j int) bool { return out.Certificates[i].Id < out.Certificates[j].Id })
	return out
}

// statusServer serves StatusService.
type statusServer struct {
	edgev1.UnimplementedStatusServiceServer
	e *Edge
}

// GetStatus answers admin and edge principals (when the server
// authenticates calls itself, as under `certbind dev`) and the status key.
func (s statusServer) GetStatus(ctx context.Context, _ *edgev1.GetStatusRequest) (*edgev1.GetStatusResponse, error) {
	if p, ok := auth.FromContext(ctx); ok {
		if p.Role != auth.RoleAdmin && p.Role != auth.RoleEdge {
			return nil, status.Error(codes.PermissionDenied, "only admin and edge keys may read the edge's status")
		}
		return s.e.Status(), nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("authorization"); len(v) == 0 || !s.e.statusKey(strings.TrimPrefix(v[0], "Bearer ")) {
		return nil, status.Error(codes.Unauthenticated, "send the edge's key as \"authorization: Bearer KEY\"")
	}
	return s.e.Status(), nil
}
