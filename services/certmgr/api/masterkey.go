package api

import (
	"context"
	"log/slog"
	"math"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/certbind/certbind/internal/audit"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/certs"
	"github.com/certbind/certbind/services/certmgr/masterkey"
)

// MasterKey serves MasterKeyService.
type MasterKey struct {
	certmgrv1.UnimplementedMasterKeyServiceServer
	rotator masterkey.Rotation
	trail   *certs.Manager
	audit   *slog.Logger
	log     *slog.Logger
}

// NewMasterKey returns the MasterKeyService handlers.
// A rotation's start is kept in trail's audit trail, under the system
// account.
func NewMasterKey(r masterkey.Rotation, trail *certs.Manager, audit, log *slog.Logger) *MasterKey {
	return &MasterKey{rotator: r, trail: trail, audit: audit, log: log}
}

// RotateMasterKey starts a rotation. Admin only.
func (s *MasterKey) RotateMasterKey(ctx context.Context, _ *certmgrv1.RotateMasterKeyRequest) (*certmgrv1.RotateMasterKeyResponse, error) {
	p, err := adminOnly(ctx, "rotate the master key")
	if err != nil {
		return nil, toStatus(ctx, s.log, "RotateMasterKey", err)
	}
	st, started, err := s.rotator.Start()
	if err != nil {
		return nil, toStatus(ctx, s.log, "RotateMasterKey", err)
	}
	if started {
		s.audit.Info("audit", slog.String("action", "masterkey.rotate"), slog.String("actor", p.KeyID),
			slog.String("fromKeyId", st.PreviousKeyID), slog.String("toKeyId", st.KeyID))
		res := audit.Resource{Kind: audit.KindMasterKey, ID: st.KeyID}
		if err := s.trail.Record(audit.Actor{KeyID: p.KeyID, Role: string(p.Role)}, "masterkey.rotate", res); err != nil {
			s.log.ErrorContext(ctx, "cannot record a master-key rotation in the audit trail", slog.String("error", err.Error()))
		}
	}
	return &certmgrv1.RotateMasterKeyResponse{Started: started, Status: masterKeyStatus(st)}, nil
}

// GetMasterKeyStatus reports the rotation's state. Admin only.
func (s *MasterKey) GetMasterKeyStatus(ctx context.Context, _ *certmgrv1.GetMasterKeyStatusRequest) (*certmgrv1.GetMasterKeyStatusResponse, error) {
	if _, err := adminOnly(ctx, "read the master key's status"); err != nil {
		return nil, toStatus(ctx, s.log, "GetMasterKeyStatus", err)
	}
	return &certmgrv1.GetMasterKeyStatusResponse{Status: masterKeyStatus(s.rotator.Status())}, nil
}

func masterKeyStatus(st masterkey.Status) *certmgrv1.MasterKeyStatus {
	ts := func(t time.Time) *timestamppb.Timestamp {
		if t.IsZero() {
			return nil
		}
		return timestamppb.New(t)
	}
	return &certmgrv1.MasterKeyStatus{
		State:          st.State,
		KeyId:          st.KeyID,
		PreviousKeyId:  st.PreviousKeyID,
		Rewrapped:      int32(min(st.Rewrapped, math.MaxInt32)),
		Damaged:        int32(min(st.Damaged, math.MaxInt32)),
		StartedAt:      ts(st.StartedAt),
		FinishedAt:     ts(st.FinishedAt),
		RetiredKeyFile: st.RetiredKeyFile,
		LastError:      st.LastError,
	}
}
