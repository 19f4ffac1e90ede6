package watch

import (
	"errors"
	"fmt"
)

var errProtocol = errors.New("stream protocol error")

// kind is what a stream message is in the protocol both streams follow.
type kind int

const (
	// unknown is a message this edge does not know (from a newer server);
	// it is passed over.
	unknown kind = iota
	resync
	snapshotItem
	snapshotComplete
	change
	heartbeat
)

// event is a stream message as far as the order of the stream goes.
type event struct {
	kind kind
	// revision is a snapshot end's, a change's or a heartbeat's.
	revision uint64
	// epoch is a resync's, a snapshot end's or a heartbeat's ("" from a
	// server that knows no epochs).
	epoch string
	// reason is a resync's.
	reason string
}

// position is where a follower stands in its stream: the last revision it
// applied and the epoch that revision belongs to, and whether a snapshot
// is arriving.
type position struct {
	revision uint64
	epoch    string
	// inSnapshot is true from a resync until its snapshot ends, and
	// announced is the epoch that resync named.
	inSnapshot bool
	announced  string
}

// next returns the position after ev, or a protocol error when ev cannot
// come at p; p itself never changes, so after an error the follower
// resumes from the last revision it applied.
//
// Revisions increase but not necessarily by one: a store may share them
// between keys (etcd does), and a scoped stream skips the changes outside
// its scope. So a change must be above the revision applied and a
// heartbeat or snapshot must not be below it within one epoch; nothing
// assumes the next revision is the last plus one. A store's epoch changes
// only by a restore, which the server answers with a resync, so another
// epoch on a live stream is a protocol error too.
func (p position) next(ev event) (position, error) {
	switch ev.kind {
	case resync:
		p.inSnapshot, p.announced = true, ev.epoch
	case snapshotItem:
		if !p.inSnapshot {
			return p, fmt.Errorf("%w: snapshot item outside a snapshot", errProtocol)
		}
	case snapshotComplete:
		switch {
		case !p.inSnapshot:
			return p, fmt.Errorf("%w: snapshot end without a snapshot", errProtocol)
		case p.announced != "" && ev.epoch != "" && ev.epoch != p.announced:
			return p, fmt.Errorf("%w: snapshot of epoch %s ends a resync of epoch %s", errProtocol, ev.epoch, p.announced)
		case ev.epoch == p.epoch && ev.revision < p.revision:
			// A new epoch (a restore) may start below; the same one may
			// not: taking it would put the edge back in time.
			return p, fmt.Errorf("%w: snapshot at revision %d of epoch %q is behind revision %d, which this edge already applied from that epoch "+
				"(a server behind the others, or a store put back from a copy without a new epoch: restore backups with certbind admin restore)",
				errProtocol, ev.revision, ev.epoch, p.revision)
		}
		p = position{revision: ev.revision, epoch: ev.epoch}
	case change:
		switch {
		case p.inSnapshot:
			return p, fmt.Errorf("%w: change inside a snapshot", errProtocol)
		case ev.revision <= p.revision:
			return p, fmt.Errorf("%w: change at revision %d after revision %d (revisions must increase)", errProtocol, ev.revision, p.revision)
		}
		p.revision = ev.revision
	case heartbeat:
		switch {
		case p.inSnapshot:
			return p, fmt.Errorf("%w: heartbeat inside a snapshot", errProtocol)
		case ev.epoch != "" && ev.epoch != p.epoch:
			// A server that knows no epochs sends none, and nothing can be
			// checked.
			return p, fmt.Errorf("%w: heartbeat of epoch %s on a stream of epoch %q", errProtocol, ev.epoch, p.epoch)
		case ev.revision < p.revision:
			return p, fmt.Errorf("%w: heartbeat at revision %d after revision %d (revisions must not go back)", errProtocol, ev.revision, p.revision)
		}
		p.revision = ev.revision
	}
	return p, nil
}
