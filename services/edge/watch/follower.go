package watch

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/certbind/certbind/services/edge/state"
)

// Scope narrows what an edge receives; empty fields mean all its key allows.
type Scope struct {
	Account, Project, EnvironmentType string
}

// Follower follows one stream into a state.Store: NewCertificates and
// NewDeployments make one for each stream.
type Follower struct {
	log *slog.Logger
	t   tracker
	// session runs one stream from the tracker's position until it fails.
	session func(ctx context.Context) error
}

// Status reports the stream's progress.
func (f *Follower) Status() Status { return f.t.get() }

// Run follows the stream until ctx ends.
func (f *Follower) Run(ctx context.Context) error { return follow(ctx, f.log, &f.t, f.session) }

// feed is what differs between the streams: Req and Resp are the stream's
// request and response messages (laid out alike, see wire.go).
type feed[Req, Resp any] struct {
	name string
	// watch opens the stream (the generated client's method).
	watch func(context.Context, *Req, ...grpc.CallOption) (grpc.ServerStreamingClient[Resp], error)
	// collect adds a snapshot item to the snapshot being collected.
	collect func(item *Resp, into *state.Snapshot)
	// install swaps the stream's part of a collected snapshot into next.
	install func(next, collected *state.Snapshot)
	// apply applies a change to the store.
	apply func(change *Resp)
}

// newFollower returns a follower of fd into st.
func newFollower[Req, Resp any, PReq interface {
	*Req
	proto.Message
}, PResp interface {
	*Resp
	proto.Message
}](fd feed[Req, Resp], st *state.Store, scope Scope, log *slog.Logger) *Follower {
	f := &Follower{log: log}
	f.t.s.Name = fd.name
	f.session = func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		held := f.t.get()
		at := position{revision: held.Revision, epoch: held.Epoch}
		req := PReq(new(Req))
		fillRequest(req.ProtoReflect(), at, scope)
		stream, err := fd.watch(ctx, req)
		if err != nil {
			return err
		}
		var collected *state.Snapshot // while a snapshot arrives
		for {
			m, err := stream.Recv()
			if err != nil {
				return err
			}
			f.t.update(func(s *Status) { s.Connected, s.LastEvent, s.KeyRefused = true, time.Now(), false })
			ev := readEvent(PResp(m).ProtoReflect())
			next, err := at.next(ev)
			if err != nil {
				return err
			}
			switch ev.kind {
			case resync:
				log.Info("stream resync", slog.String("stream", fd.name), slog.String("reason", ev.reason))
				collected = &state.Snapshot{Deployments: map[state.Key]*state.Deployment{}, Certificates: map[string]*state.Certificate{}}
				f.t.update(func(s *Status) { s.Resyncs++ })
			case snapshotItem:
				fd.collect(m, collected)
			case snapshotComplete:
				st.Update(func(s *state.Snapshot) { fd.install(s, collected) })
				collected = nil
			case change:
				fd.apply(m)
			}
			at = next
			if ev.kind == snapshotComplete || ev.kind == change || ev.kind == heartbeat {
				f.t.update(func(s *Status) { s.Revision, s.Epoch, s.Synced = at.revision, at.epoch, true })
			}
		}
	}
	return f
}
