package api

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/certbind/certbind/internal/audit"
	"github.com/certbind/certbind/internal/auditapi"
	"github.com/certbind/certbind/internal/validate"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/certs"
)

// maxAuditText bounds what a refusal's entry keeps of the caller's input and
// of the message: an entry stays small whatever a request holds.
const maxAuditText = 512

// refused maps err to the status the caller gets, as toStatus does, and
// keeps the refusal in the audit trail before the caller hears of it. A
// request for an account that is not valid is not kept: it has no trail.
func refused(ctx context.Context, log *slog.Logger, m *certs.Manager, method, action, actor string, res audit.Resource, err error) error {
	st := toStatus(ctx, log, method, err)
	if res.Account != "" && validate.Account(res.Account) != nil {
		return st
	}
	s := status.Convert(st)
	if res.Kind == audit.KindCertificate && res.Name == "" && res.ID != "" {
		// A request names a certificate by id; the entry names it too, as
		// far as it still exists.
		if c, err := m.Get(res.Account, res.Project, res.ID); err == nil {
			res.Name = c.Name
		}
	}
	res.ID, res.Name = clip(res.ID, 64), clip(res.Name, 64)
	if rerr := m.RecordRefused(audit.ActorOf(actor), action, res, s.Code().String(), clip(s.Message(), maxAuditText)); rerr != nil {
		log.ErrorContext(ctx, "cannot record a refused write in the audit trail", slog.String("method", method), slog.String("error", rerr.Error()))
	}
	return st
}

func certResource(account, project, id, name string) audit.Resource {
	return audit.Resource{Kind: audit.KindCertificate, Account: account, Project: project, ID: id, Name: name}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// AuditSource is another service's part of the audit trail: the
// deploytracker's AuditService client.
type AuditSource interface {
	ListAuditEntries(ctx context.Context, req *certmgrv1.ListAuditEntriesRequest, opts ...grpc.CallOption) (*certmgrv1.ListAuditEntriesResponse, error)
}

// Audit serves AuditService.
type Audit struct {
	certmgrv1.UnimplementedAuditServiceServer
	m      *certs.Manager
	deploy AuditSource
	log    *slog.Logger
}

// NewAudit returns the AuditService handlers. deploy, when not nil, is
// the deploytracker's part of the trail, merged into every listing.
func NewAudit(m *certs.Manager, deploy AuditSource, log *slog.Logger) *Audit {
	return &Audit{m: m, deploy: deploy, log: log}
}

// ListAuditEntries lists an account's audit trail, newest first: its own
// for an account key, any account's for the admin key, none for an edge
// key. The deploytracker's entries are merged in by time; the page token
// holds where each trail's page ended.
func (s *Audit) ListAuditEntries(ctx context.Context, req *certmgrv1.ListAuditEntriesRequest) (*certmgrv1.ListAuditEntriesResponse, error) {
	if err := auditapi.CheckReader(ctx, req.GetAccount()); err != nil {
		return nil, toStatus(ctx, s.log, "ListAuditEntries", err)
	}
	q, err := audit.Parse(auditapi.Request(req), s.m.Now())
	if err == nil && len(q.Others) > 1 {
		err = &validate.Error{Field: "page_token", Msg: "the page token names more trails than certmgr merges: pass the nextPageToken of the previous page unchanged"}
	}
	if err != nil {
		return nil, toStatus(ctx, s.log, "ListAuditEntries", err)
	}
	size := q.PageSize
	if size == 0 {
		size = audit.DefaultPageSize
	}
	var mine, theirs trailPage
	if q.Before != exhausted {
		entries, next, err := s.m.ListAudit(q)
		if errors.Is(err, certs.ErrNoAuditTrail) {
			return nil, status.Error(codes.Unimplemented, err.Error())
		}
		if err != nil {
			return nil, toStatus(ctx, s.log, "ListAuditEntries", err)
		}
		for _, e := range entries {
			mine.entries = append(mine.entries, auditapi.ToProto(e, "certmgr"))
		}
		mine.more, mine.pos = next != "", q.Before
	} else {
		mine.pos = exhausted
	}
	theirs.pos = exhausted
	if s.deploy != nil {
		var other uint64
		if len(q.Others) == 1 {
			other = q.Others[0]
		}
		theirs.pos = other
		if other != exhausted {
			dreq := &certmgrv1.ListAuditEntriesRequest{Account: req.GetAccount(), Resource: req.GetResource(), Action: req.GetAction(),
				Since: req.GetSince(), PageSize: int32(size)}
			if other != 0 {
				dreq.PageToken = audit.EncodePageToken(other)
			}
			resp, err := s.deploy.ListAuditEntries(ctx, dreq)
			if err != nil {
				s.log.WarnContext(ctx, "cannot read the deploytracker's audit trail", slog.String("error", err.Error()))
				return nil, status.Error(codes.Unavailable, "the deploytracker's part of the audit trail cannot be read; try again (certmgr could not reach it: "+status.Convert(err).Message()+")")
			}
			theirs.entries, theirs.more = resp.GetEntries(), resp.GetNextPageToken() != ""
		}
	}
	out := &certmgrv1.ListAuditEntriesResponse{}
	for len(out.Entries) < size {
		a, b := mine.head(), theirs.head()
		switch {
		case a == nil && b == nil:
		case b == nil || (a != nil && !a.GetTime().AsTime().Before(b.GetTime().AsTime())):
			out.Entries = append(out.Entries, mine.take())
			continue
		default:
			out.Entries = append(out.Entries, theirs.take())
			continue
		}
		break
	}
	mp, tp := mine.next(), theirs.next()
	if mp != exhausted || tp != exhausted {
		out.NextPageToken = audit.EncodePageToken(mp, tp)
	}
	return out, nil
}

// exhausted is the position of a trail with nothing left to list:
// sequences start at 1, so nothing is before it.
const exhausted = 1

// trailPage is one trail's part of a merged page.
type trailPage struct {
	entries []*certmgrv1.AuditEntry
	taken   int
	more    bool   // the trail has entries beyond entries
	pos     uint64 // where this page of the trail started
}

func (p *trailPage) head() *certmgrv1.AuditEntry {
	if p.taken < len(p.entries) {
		return p.entries[p.taken]
	}
	return nil
}

func (p *trailPage) take() *certmgrv1.AuditEntry {
	p.taken++
	return p.entries[p.taken-1]
}

// next is where the trail's part of the next page starts.
func (p *trailPage) next() uint64 {
	switch {
	case p.taken == len(p.entries) && !p.more:
		return exhausted
	case p.taken == 0:
		return p.pos
	}
	return p.entries[p.taken-1].GetSeq()
}
