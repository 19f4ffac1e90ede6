package edge

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/serve"
	edgev1 "github.com/certbind/certbind/proto/certbind/edge/v1"
	"github.com/certbind/certbind/services/edge/cache"
	"github.com/certbind/certbind/services/edge/state"
	"github.com/certbind/certbind/services/edge/watch"
)

// StatusScope is what one reader of the edge's status may see of its
// deployments and certificates. The zero StatusScope sees all of them; only
// the admin key, and the status key of an edge that follows every account,
// get it. The streams' progress is the edge's own and is shown to every
// reader.
type StatusScope struct {
	// Account, when set, keeps only that account's records.
	Account string
	// Project, when set, keeps only that project of Account.
	Project string
	// EnvironmentTypes, when set, keeps deployments of one of these
	// environment types and certificates allowed in at least one of them.
	EnvironmentTypes []string
}

// deployment reports whether sc sees d.
func (sc StatusScope) deployment(d *state.Deployment) bool {
	return (sc.Account == "" || d.Account == sc.Account) &&
		(sc.Project == "" || d.Project == sc.Project) &&
		(len(sc.EnvironmentTypes) == 0 || slices.Contains(sc.EnvironmentTypes, d.EnvironmentType))
}

// certificate reports whether sc sees c. A certificate allowed in no
// environment type is seen only by a reader without an environment-type
// limit, as on the distribution stream.
func (sc StatusScope) certificate(c *state.Certificate) bool {
	return (sc.Account == "" || c.Account == sc.Account) &&
		(sc.Project == "" || c.Project == sc.Project) &&
		(len(sc.EnvironmentTypes) == 0 || slices.ContainsFunc(c.EnvironmentTypes, func(t string) bool { return slices.Contains(sc.EnvironmentTypes, t) }))
}

var (
	// errStatusUnauthenticated: no key, or one nobody knows.
	errStatusUnauthenticated = errors.New("unknown key")
	// errStatusDenied: a known key whose role may not read the status.
	errStatusDenied = errors.New("this key may not read the edge's status: use the admin key, or an edge or account key")
)

// StatusScopeFor returns what p may see of the status. The admin sees
// everything. An edge key sees what it could receive on the streams: its
// account, narrowed to its project and environment types when it has them.
// An account key sees its account: it may already list every certificate
// (fingerprints included) and deployment of it through certmgr and the
// deploytracker, and the status adds only whether and at which revision
// this edge holds them, which its owner needs to tell whether a deploy or a
// rotation has reached the edge. Service keys, and any key without an
// account, see nothing.
func StatusScopeFor(p auth.Principal) (StatusScope, error) {
	switch {
	case p.Role == auth.RoleAdmin:
		return StatusScope{}, nil
	case (p.Role == auth.RoleEdge || p.Role == auth.RoleAccount) && p.Account != "":
		return StatusScope{Account: p.Account, Project: p.Project, EnvironmentTypes: slices.Clone(p.EnvironmentTypes)}, nil
	}
	return StatusScope{}, errStatusDenied
}

// statusOf builds the status sc sees from the streams' progress and a
// snapshot, sorted by URL path and certificate id.
func statusOf(streams []watch.Status, snap *state.Snapshot, sc StatusScope, cs cache.Status, cached bool) *edgev1.GetStatusResponse {
	out := &edgev1.GetStatusResponse{Cache: cacheStatusOf(cs, cached, sc)}
	now := time.Now()
	for _, s := range streams {
		var last, stale int64
		if !s.LastEvent.IsZero() {
			last, stale = s.LastEvent.UnixMilli(), int64(now.Sub(s.LastEvent)/time.Second)
		}
		source := ""
		switch {
		case s.FromCache:
			source = "cache"
		case s.Synced:
			source = "live"
		}
		out.Streams = append(out.Streams, &edgev1.StreamStatus{Name: s.Name, Revision: s.Revision, Connected: s.Connected, LastEventUnixMs: last,
			Resyncs: s.Resyncs, Epoch: s.Epoch, Source: source, StaleSeconds: stale})
	}
	for _, d := range snap.Deployments {
		if !sc.deployment(d) {
			continue
		}
		out.Deployments = append(out.Deployments, &edgev1.DeploymentStatus{Id: d.ID, Account: d.Account, Project: d.Project,
			Environment: d.Environment, Generation: d.Generation, Revision: d.Revision,
			UrlPath: "/" + d.Account + "/" + d.Project + "/" + d.Environment, Routes: int32(len(d.Routes))})
	}
	for _, c := range snap.Certificates {
		if !sc.certificate(c) {
			continue
		}
		out.Certificates = append(out.Certificates, &edgev1.CertificateStatus{Id: c.ID, Name: c.Name, Account: c.Account, Project: c.Project,
			Kind: c.Kind, State: c.State, Version: c.Version, FingerprintSha256: c.Fingerprint, Revision: c.Revision, Unavailable: c.Unavailable})
	}
	sort.Slice(out.Deployments, func(i, j int) bool { return out.Deployments[i].UrlPath < out.Deployments[j].UrlPath })
	sort.Slice(out.Certificates, func(i, j int) bool { return out.Certificates[i].Id < out.Certificates[j].Id })
	return out
}

// Status reports what the edge serves, as far as sc may see.
func (e *Edge) Status(sc StatusScope) *edgev1.GetStatusResponse {
	cs, cached := e.cacheStatus()
	return statusOf(e.streams(), e.store.Load(), sc, cs, cached)
}

// cacheStatusOf is the cache's part of the status. Why a cache was refused
// or could not be written may name the scope it was written for, which
// only a reader who sees the whole edge may read; others are told there
// is an error and where to look.
func cacheStatusOf(cs cache.Status, cached bool, sc StatusScope) *edgev1.CacheStatus {
	ms := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	out := &edgev1.CacheStatus{Enabled: cached, WrittenUnixMs: ms(cs.Written), RestoredWrittenUnixMs: ms(cs.Restored), Error: cs.Error}
	if cs.Error != "" && (sc.Account != "" || sc.Project != "" || len(sc.EnvironmentTypes) > 0) {
		out.Error = "the edge's cache has an error: its log says which"
	}
	return out
}

// statusAccess decides who may read the status and what each reader sees.
type statusAccess struct {
	key    [32]byte // SHA-256 of Config.StatusKey
	hasKey bool
	// view is what the status key sees: what the edge follows. The
	// snapshot holds no more than that anyway; saying so keeps the two
	// from drifting apart.
	view StatusScope
	// verify knows the other keys; nil when the edge has no key store to
	// ask (a separate edge process), so only the status key is let in.
	verify auth.Verifier
	// refused reports whether certmgr or the deploytracker refused the
	// edge's own key (revoked or expired); the status key, which is that
	// key for a separate edge, is then refused here too.
	refused func() bool
}

func newStatusAccess(key string, follows watch.Scope) statusAccess {
	a := statusAccess{key: sha256.Sum256([]byte(key)), hasKey: key != "",
		view: StatusScope{Account: follows.Account, Project: follows.Project}}
	if follows.EnvironmentType != "" {
		a.view.EnvironmentTypes = []string{follows.EnvironmentType}
	}
	return a
}

// scope returns what the bearer of key may see. The status key is compared
// in constant time before any other key is looked up.
func (a *statusAccess) scope(key string) (StatusScope, error) {
	if key == "" {
		return StatusScope{}, errStatusUnauthenticated
	}
	sum := sha256.Sum256([]byte(key))
	if a.hasKey && subtle.ConstantTimeCompare(sum[:], a.key[:]) == 1 {
		if a.refused != nil && a.refused() {
			return StatusScope{}, errStatusUnauthenticated
		}
		return a.view, nil
	}
	if a.verify == nil {
		return StatusScope{}, errStatusUnauthenticated
	}
	p, err := a.verify.Authenticate(key)
	if errors.Is(err, auth.ErrUnauthenticated) {
		return StatusScope{}, errStatusUnauthenticated
	}
	if err != nil {
		return StatusScope{}, err
	}
	return StatusScopeFor(p)
}

// unauthenticatedMessage says which keys the status accepts.
func (a *statusAccess) unauthenticatedMessage() string {
	if a.verify != nil {
		return `send the edge's key, or an admin, edge or account API key, as "Authorization: Bearer KEY"`
	}
	return `send the edge's key as "Authorization: Bearer KEY"`
}

// SetAuthenticator lets GET /v1/status, and StatusService on a server that
// does not authenticate calls itself, accept every key v knows besides
// Config.StatusKey; each sees what StatusScopeFor allows it. `certbind
// dev` passes certmgr's own key store. Call it before serving.
func (e *Edge) SetAuthenticator(v auth.Verifier) { e.statusAccess.verify = v }

// statusServer serves StatusService.
type statusServer struct {
	edgev1.UnimplementedStatusServiceServer
	e *Edge
}

// GetStatus answers the principal the server authenticated (as under
// `certbind dev`), or else the bearer of the status key or of a key the
// edge's authenticator knows, with what that caller may see.
func (s statusServer) GetStatus(ctx context.Context, _ *edgev1.GetStatusRequest) (*edgev1.GetStatusResponse, error) {
	var sc StatusScope
	var err error
	if p, ok := auth.FromContext(ctx); ok {
		sc, err = StatusScopeFor(p)
	} else {
		md, _ := metadata.FromIncomingContext(ctx)
		var key string
		if v := md.Get("authorization"); len(v) > 0 {
			key = strings.TrimPrefix(v[0], "Bearer ")
		}
		sc, err = s.e.statusAccess.scope(key)
	}
	switch {
	case errors.Is(err, errStatusUnauthenticated):
		return nil, status.Error(codes.Unauthenticated, s.e.statusAccess.unauthenticatedMessage())
	case errors.Is(err, errStatusDenied):
		return nil, status.Error(codes.PermissionDenied, err.Error())
	case err != nil:
		return nil, status.Error(codes.Unavailable, "cannot check the key right now; try again")
	}
	return s.e.Status(sc), nil
}

// AdminExposed reports whether an admin listener at addr can be reached
// from other hosts: it is not bound to a loopback address. The admin
// listener serves the status and metrics and binds to loopback by default;
// an operator may choose otherwise, and the caller should log that it did.
func AdminExposed(addr net.Addr) bool {
	return serve.Exposed(addr)
}
