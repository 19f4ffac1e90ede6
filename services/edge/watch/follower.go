package watch

import (
	"context"
	"fmt"
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
	// tap, when set, is told of every message the follower applied.
	tap func(m proto.Message, revision uint64, epoch string)
	// restore installs a state kept from an earlier run; see Restore.
	restore func(items []proto.Message) error
}

// Tap has fn called with every message the follower accepted, just before
// the store applies it, with the revision and epoch the stream reached
// with it (a state seen in the store is one fn has heard of): the edge's
// cache keeps the state in stream form that way. fn runs on the
// follower's goroutine and must not block. Call it before Run.
func (f *Follower) Tap(fn func(m proto.Message, revision uint64, epoch string)) { f.tap = fn }

// Restore installs a state kept from an earlier run, before Run: items
// are snapshot items of this follower's stream (watch responses), taken as
// a snapshot at revision of epoch, last heard from at lastEvent. The
// follower then counts as synced, its state as from the cache until the
// stream delivers again, and Run resumes the stream from revision.
func (f *Follower) Restore(items []proto.Message, revision uint64, epoch string, lastEvent time.Time) error {
	if err := f.restore(items); err != nil {
		return err
	}
	f.t.update(func(s *Status) {
		s.Revision, s.Epoch, s.Synced, s.FromCache, s.LastEvent = revision, epoch, true, true, lastEvent
	})
	return nil
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
	f.restore = func(items []proto.Message) error {
		collected := &state.Snapshot{Deployments: map[state.Key]*state.Deployment{}, Certificates: map[string]*state.Certificate{}}
		for _, m := range items {
			item, ok := m.(PResp)
			if !ok || readEvent(item.ProtoReflect()).kind != snapshotItem {
				return fmt.Errorf("restoring the %s stream: %T is not one of its snapshot items", fd.name, m)
			}
			fd.collect(item, collected)
		}
		st.Update(func(s *state.Snapshot) { fd.install(s, collected) })
		return nil
	}
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
			// The tap hears of a message before the store applies it, so
			// that whoever sees the store change knows the tap has it too.
			if f.tap != nil && ev.kind != unknown {
				f.tap(PResp(m), next.revision, next.epoch)
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
				f.t.update(func(s *Status) { s.Revision, s.Epoch, s.Synced, s.FromCache = at.revision, at.epoch, true, false })
			}
		}
	}
	return f
}
