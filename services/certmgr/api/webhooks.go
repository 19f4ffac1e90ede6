package api

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/certbind/certbind/internal/audit"
	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/validate"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/certs"
	"github.com/certbind/certbind/services/certmgr/webhook"
)

// KindWebhook is the audit trail's kind for webhooks.
const KindWebhook = "webhook"

// Webhooks serves WebhookService, on every replica.
type Webhooks struct {
	certmgrv1.UnimplementedWebhookServiceServer
	d     *webhook.Dispatcher
	trail *certs.Manager
	log   *slog.Logger
}

// NewWebhooks returns the WebhookService handlers.
func NewWebhooks(d *webhook.Dispatcher, trail *certs.Manager, log *slog.Logger) *Webhooks {
	return &Webhooks{d: d, trail: trail, log: log}
}

// caller checks that the caller manages account and returns who it is.
func (s *Webhooks) caller(ctx context.Context, method, account string) (auth.Principal, error) {
	if err := validate.Account(account); err != nil {
		return auth.Principal{}, status.Error(codes.InvalidArgument, err.Error())
	}
	if _, err := auth.Manager(ctx, account); err != nil {
		return auth.Principal{}, toStatus(ctx, s.log, method, err)
	}
	p, err := auth.Caller(ctx)
	return p, err
}

// CreateWebhook registers a webhook and returns its secret, once.
func (s *Webhooks) CreateWebhook(ctx context.Context, req *certmgrv1.CreateWebhookRequest) (*certmgrv1.CreateWebhookResponse, error) {
	p, err := s.caller(ctx, "CreateWebhook", req.GetAccount())
	if err != nil {
		return nil, err
	}
	h, secret, err := s.d.Create(webhook.CreateRequest{Account: req.GetAccount(), Name: req.GetName(), URL: req.GetUrl(), Events: req.GetEvents()})
	if err != nil {
		return nil, webhookStatus(ctx, s.log, "CreateWebhook", err)
	}
	s.record(ctx, p, "webhook.create", h)
	s.log.InfoContext(ctx, "audit", slog.String("action", "webhook.create"), slog.String("actor", p.KeyID),
		slog.String("account", h.Account), slog.String("webhook", h.ID), slog.String("name", h.Name))
	return &certmgrv1.CreateWebhookResponse{Webhook: hookProto(h), Secret: secret}, nil
}

// ListWebhooks lists an account's webhooks, never their secrets.
func (s *Webhooks) ListWebhooks(ctx context.Context, req *certmgrv1.ListWebhooksRequest) (*certmgrv1.ListWebhooksResponse, error) {
	if _, err := s.caller(ctx, "ListWebhooks", req.GetAccount()); err != nil {
		return nil, err
	}
	hooks, err := s.d.List(req.GetAccount())
	if err != nil {
		return nil, webhookStatus(ctx, s.log, "ListWebhooks", err)
	}
	out := &certmgrv1.ListWebhooksResponse{}
	for _, h := range hooks {
		out.Webhooks = append(out.Webhooks, hookProto(h))
	}
	return out, nil
}

// DeleteWebhook deletes a webhook by id or name.
func (s *Webhooks) DeleteWebhook(ctx context.Context, req *certmgrv1.DeleteWebhookRequest) (*certmgrv1.DeleteWebhookResponse, error) {
	p, err := s.caller(ctx, "DeleteWebhook", req.GetAccount())
	if err != nil {
		return nil, err
	}
	h, err := s.d.Delete(req.GetAccount(), req.GetWebhook())
	if err != nil {
		return nil, webhookStatus(ctx, s.log, "DeleteWebhook", err)
	}
	s.record(ctx, p, "webhook.delete", h)
	s.log.InfoContext(ctx, "audit", slog.String("action", "webhook.delete"), slog.String("actor", p.KeyID),
		slog.String("account", h.Account), slog.String("webhook", h.ID), slog.String("name", h.Name))
	return &certmgrv1.DeleteWebhookResponse{}, nil
}

// ListWebhookDeliveries lists a webhook's deliveries, newest first.
func (s *Webhooks) ListWebhookDeliveries(ctx context.Context, req *certmgrv1.ListWebhookDeliveriesRequest) (*certmgrv1.ListWebhookDeliveriesResponse, error) {
	if _, err := s.caller(ctx, "ListWebhookDeliveries", req.GetAccount()); err != nil {
		return nil, err
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0 || size > 1000:
		return nil, status.Error(codes.InvalidArgument, "page_size must be between 0 and 1000 (0 means 100)")
	case size == 0:
		size = 100
	}
	dels, err := s.d.Deliveries(req.GetAccount(), req.GetWebhook(), size)
	if err != nil {
		return nil, webhookStatus(ctx, s.log, "ListWebhookDeliveries", err)
	}
	out := &certmgrv1.ListWebhookDeliveriesResponse{}
	for _, d := range dels {
		out.Deliveries = append(out.Deliveries, deliveryProto(d))
	}
	return out, nil
}

// RecordDeployRefused queues a deploy.refused event; only the services'
// key may call it.
func (s *Webhooks) RecordDeployRefused(ctx context.Context, req *certmgrv1.RecordDeployRefusedRequest) (*certmgrv1.RecordDeployRefusedResponse, error) {
	p, err := auth.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := auth.ServiceOnly(p); err != nil {
		return nil, toStatus(ctx, s.log, "RecordDeployRefused", err)
	}
	if s.d == nil {
		return &certmgrv1.RecordDeployRefusedResponse{}, nil
	}
	if validate.Account(req.GetAccount()) != nil || req.GetCertificateId() == "" {
		return nil, status.Error(codes.InvalidArgument, "a refused deploy needs a valid account and a certificate id")
	}
	err = s.d.DeployRefused(webhook.RefusedDeploy{Account: req.GetAccount(), Project: req.GetProject(), Environment: req.GetEnvironment(),
		CertificateID: req.GetCertificateId(), CertificateName: req.GetCertificateName(), Reason: req.GetReason()})
	if err != nil {
		return nil, toStatus(ctx, s.log, "RecordDeployRefused", err)
	}
	return &certmgrv1.RecordDeployRefusedResponse{}, nil
}

func (s *Webhooks) record(ctx context.Context, p auth.Principal, action string, h *webhook.Hook) {
	res := audit.Resource{Kind: KindWebhook, Account: h.Account, ID: h.ID, Name: h.Name}
	if err := s.trail.Record(audit.Actor{KeyID: p.KeyID, Role: string(p.Role)}, action, res); err != nil {
		s.log.ErrorContext(ctx, "cannot record a webhook write in the audit trail", slog.String("action", action), slog.String("error", err.Error()))
	}
}

func webhookStatus(ctx context.Context, log *slog.Logger, method string, err error) error {
	var invalid *webhook.InvalidError
	switch {
	case errors.As(err, &invalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, webhook.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, webhook.ErrNameTaken):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, webhook.ErrTooMany):
		return status.Error(codes.ResourceExhausted, err.Error())
	}
	return toStatus(ctx, log, method, err)
}

func hookProto(h *webhook.Hook) *certmgrv1.Webhook {
	return &certmgrv1.Webhook{Id: h.ID, Account: h.Account, Name: h.Name, Url: h.URL, Events: h.Events, CreateTime: timestamppb.New(h.CreatedAt)}
}

func deliveryProto(d webhook.Delivery) *certmgrv1.WebhookDelivery {
	out := &certmgrv1.WebhookDelivery{Id: d.ID, WebhookId: d.WebhookID, Event: d.Event, CertificateId: d.CertificateID,
		CertificateName: d.CertificateName, State: d.State, Attempts: int32(d.Attempts), LastStatusCode: int32(d.LastStatus),
		LastError: d.LastError, ResponseExcerpt: d.Excerpt, CreateTime: timestamppb.New(d.CreatedAt)}
	if d.State == webhook.StateSending {
		out.State = webhook.StatePending
	}
	if out.State == webhook.StatePending {
		out.NextAttemptTime = timestamppb.New(d.NextAttempt)
	}
	if !d.DeliveredAt.IsZero() {
		out.DeliveredTime = timestamppb.New(d.DeliveredAt)
	}
	return out
}
