package watch

import (
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Both distribution streams speak one protocol in two sets of messages
// laid out alike. A request has from_revision, epoch, account, project and
// environment_type; a response has a oneof event of resync (reason,
// epoch), snapshot_item, snapshot_complete (revision, epoch), change
// (revision) and heartbeat (revision, epoch). The follower reads and
// writes them through that layout, once for both streams;
// TestWireLayout fails if either stream's messages leave it.

// kinds names the response's oneof fields.
var kinds = map[protoreflect.Name]kind{
	"resync":            resync,
	"snapshot_item":     snapshotItem,
	"snapshot_complete": snapshotComplete,
	"change":            change,
	"heartbeat":         heartbeat,
}

// fillRequest sets a watch request's fields to resume from at, narrowed
// to scope.
func fillRequest(req protoreflect.Message, at position, scope Scope) {
	fields := req.Descriptor().Fields()
	set := func(name protoreflect.Name, v protoreflect.Value) { req.Set(fields.ByName(name), v) }
	set("from_revision", protoreflect.ValueOfUint64(at.revision))
	set("epoch", protoreflect.ValueOfString(at.epoch))
	set("account", protoreflect.ValueOfString(scope.Account))
	set("project", protoreflect.ValueOfString(scope.Project))
	set("environment_type", protoreflect.ValueOfString(scope.EnvironmentType))
}

// readEvent says what a watch response is. A response whose event this
// edge does not know is of kind unknown.
func readEvent(m protoreflect.Message) event {
	fd := m.WhichOneof(m.Descriptor().Oneofs().ByName("event"))
	if fd == nil {
		return event{}
	}
	ev := event{kind: kinds[fd.Name()]}
	if ev.kind == unknown || ev.kind == snapshotItem {
		return ev
	}
	sub := m.Get(fd).Message()
	fields := sub.Descriptor().Fields()
	if f := fields.ByName("revision"); f != nil {
		ev.revision = sub.Get(f).Uint()
	}
	if f := fields.ByName("epoch"); f != nil {
		ev.epoch = sub.Get(f).String()
	}
	if f := fields.ByName("reason"); f != nil {
		ev.reason = sub.Get(f).String()
	}
	return ev
}
