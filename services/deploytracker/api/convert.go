package api

import (
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
	"github.com/certbind/certbind/services/deploytracker/store"
)

// URLs says where the edge serves a deployment.
type URLs func(d *store.Deployment) string

func toProto(d *store.Deployment, url URLs) *deploytrackerv1.Deployment {
	out := &deploytrackerv1.Deployment{
		Id: d.ID, Account: d.Account, Project: d.Project, Environment: d.Environment, EnvironmentType: d.EnvironmentType,
		Generation: d.Generation, Revision: d.Revision, Url: url(d), Variables: d.Variables,
		CreatedAt: timestamppb.New(d.CreatedAt), UpdatedAt: timestamppb.New(d.UpdatedAt), Damaged: d.Damaged,
	}
	var cfg structpb.Struct
	if err := protojson.Unmarshal(d.Config, &cfg); err == nil {
		out.Config = &cfg
	}
	for _, r := range d.Routes {
		out.Routes = append(out.Routes, &deploytrackerv1.Route{
			Path: r.Path, Methods: r.Methods, Handler: r.Handler, BaseUrl: r.BaseURL, RewritePattern: r.RewritePattern,
			MtlsCertificateId: r.MTLSCertificateID, MtlsCertificateName: r.MTLSCertificateName,
			CaCertificateId: r.CACertificateID, CaCertificateName: r.CACertificateName,
		})
	}
	for _, r := range d.References {
		out.References = append(out.References, &deploytrackerv1.CertificateReference{
			CertificateId: r.CertificateID, CertificateName: r.CertificateName, Kind: r.Kind, RoutePath: r.RoutePath, Option: r.Option,
		})
	}
	return out
}
