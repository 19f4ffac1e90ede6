package cache

import (
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
	edgev1 "github.com/certbind/certbind/proto/certbind/edge/v1"
)

// mirror is the state the streams delivered, in stream form, as the
// followers applied it: what the cache writes.
type mirror struct {
	certs   map[string]*certmgrv1.CertificateMaterial
	deploys map[string]*deploytrackerv1.Deployment
	// The snapshots arriving, between a resync and its end; nil otherwise.
	nextCerts   map[string]*certmgrv1.CertificateMaterial
	nextDeploys map[string]*deploytrackerv1.Deployment
	certPos     edgev1.CachedStream
	deployPos   edgev1.CachedStream
}

func (m *mirror) reset() {
	m.certs, m.deploys = map[string]*certmgrv1.CertificateMaterial{}, map[string]*deploytrackerv1.Deployment{}
}

func (m *mirror) seed(st *edgev1.CachedState) {
	m.reset()
	for _, c := range st.GetCertificates() {
		m.certs[c.GetCertificate().GetId()] = c
	}
	for _, d := range st.GetDeployments() {
		m.deploys[d.GetId()] = d
	}
	proto.Merge(&m.certPos, st.GetCertificatesStream())
	proto.Merge(&m.deployPos, st.GetDeploymentsStream())
}

// state is the mirror as a CachedState, sorted by id so that one state
// always encodes alike. The records are shared with the mirror, which
// replaces them rather than changing them.
func (m *mirror) state() *edgev1.CachedState {
	st := &edgev1.CachedState{
		CertificatesStream: proto.Clone(&m.certPos).(*edgev1.CachedStream),
		DeploymentsStream:  proto.Clone(&m.deployPos).(*edgev1.CachedStream),
	}
	for _, id := range slices.Sorted(maps.Keys(m.certs)) {
		st.Certificates = append(st.Certificates, m.certs[id])
	}
	for _, id := range slices.Sorted(maps.Keys(m.deploys)) {
		st.Deployments = append(st.Deployments, m.deploys[id])
	}
	return st
}

// TapCertificates keeps a message of the certificate stream that the
// edge applied, with the position it reached (watch.Follower.Tap).
func (c *Cache) TapCertificates(msg proto.Message, revision uint64, epoch string) {
	r, ok := msg.(*certmgrv1.WatchCertificatesResponse)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m := &c.m
	content := false
	switch ev := r.GetEvent().(type) {
	case *certmgrv1.WatchCertificatesResponse_Resync:
		m.nextCerts = map[string]*certmgrv1.CertificateMaterial{}
	case *certmgrv1.WatchCertificatesResponse_SnapshotItem:
		if id := ev.SnapshotItem.GetCertificate().GetId(); id != "" && m.nextCerts != nil {
			m.nextCerts[id] = ev.SnapshotItem
		}
	case *certmgrv1.WatchCertificatesResponse_SnapshotComplete:
		if m.nextCerts != nil {
			m.certs, m.nextCerts, content = m.nextCerts, nil, true
		}
	case *certmgrv1.WatchCertificatesResponse_Change:
		ch := ev.Change
		switch ch.GetType() {
		case certmgrv1.ChangeType_CHANGE_TYPE_DELETED, certmgrv1.ChangeType_CHANGE_TYPE_REMOVED_FROM_SCOPE:
			delete(m.certs, ch.GetCertificateId())
		default:
			mat := ch.GetMaterial()
			id := mat.GetCertificate().GetId()
			// As the edge does: damaged material does not replace a sound
			// version it holds.
			if prev := m.certs[id]; id == "" || (mat.GetCertificate().GetDamaged() != "" && prev != nil && prev.GetCertificate().GetDamaged() == "") {
				break
			}
			m.certs[id] = mat
		}
		content = true
	}
	m.certPos = edgev1.CachedStream{Revision: revision, Epoch: epoch, LastEventUnixMs: time.Now().UnixMilli()}
	c.changed(content)
}

// TapDeployments keeps a message of the deployment stream that the edge
// applied, with the position it reached (watch.Follower.Tap).
func (c *Cache) TapDeployments(msg proto.Message, revision uint64, epoch string) {
	r, ok := msg.(*deploytrackerv1.WatchDeploymentsResponse)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m := &c.m
	content := false
	switch ev := r.GetEvent().(type) {
	case *deploytrackerv1.WatchDeploymentsResponse_Resync:
		m.nextDeploys = map[string]*deploytrackerv1.Deployment{}
	case *deploytrackerv1.WatchDeploymentsResponse_SnapshotItem:
		if id := ev.SnapshotItem.GetId(); id != "" && m.nextDeploys != nil {
			m.nextDeploys[id] = ev.SnapshotItem
		}
	case *deploytrackerv1.WatchDeploymentsResponse_SnapshotComplete:
		if m.nextDeploys != nil {
			m.deploys, m.nextDeploys, content = m.nextDeploys, nil, true
		}
	case *deploytrackerv1.WatchDeploymentsResponse_Change:
		ch := ev.Change
		delete(m.deploys, ch.GetDeploymentId())
		if d := ch.GetDeployment(); ch.GetType() == deploytrackerv1.DeploymentChangeType_DEPLOYMENT_CHANGE_TYPE_DEPLOYED && d.GetId() != "" {
			// One deployment per place it is served, as in the edge.
			for id, old := range m.deploys {
				if old.GetAccount() == d.GetAccount() && old.GetProject() == d.GetProject() && old.GetEnvironment() == d.GetEnvironment() {
					delete(m.deploys, id)
				}
			}
			m.deploys[d.GetId()] = d
		}
		content = true
	}
	m.deployPos = edgev1.CachedStream{Revision: revision, Epoch: epoch, LastEventUnixMs: time.Now().UnixMilli()}
	c.changed(content)
}

// CertificateItems turns a loaded cache into the followers' snapshot items
// (watch.Follower.Restore).
func CertificateItems(st *edgev1.CachedState) []proto.Message {
	out := make([]proto.Message, 0, len(st.GetCertificates()))
	for _, m := range st.GetCertificates() {
		out = append(out, &certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_SnapshotItem{SnapshotItem: m}})
	}
	return out
}

// DeploymentItems is CertificateItems for the deployment stream.
func DeploymentItems(st *edgev1.CachedState) []proto.Message {
	out := make([]proto.Message, 0, len(st.GetDeployments()))
	for _, d := range st.GetDeployments() {
		out = append(out, &deploytrackerv1.WatchDeploymentsResponse{Event: &deploytrackerv1.WatchDeploymentsResponse_SnapshotItem{SnapshotItem: d}})
	}
	return out
}
