package testetcd

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Cluster is a cluster of several embedded members on loopback, for the
// tests that kill a member (the leader) under load. Unlike the binary's
// single member, each test that wants one starts its own; it stops when
// the test ends.
type Cluster struct {
	// Endpoints are the members' client URLs, by member.
	Endpoints []string
	members   []*embed.Etcd
	stopped   []bool
}

// StartCluster starts an n-member cluster and waits until it has a leader.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	ports, err := freePorts(2 * n)
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{stopped: make([]bool, n)}
	var peers []string
	cfgs := make([]*embed.Config, n)
	for i := range n {
		clientURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[2*i])}
		peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[2*i+1])}
		cfg := embed.NewConfig()
		cfg.Name = fmt.Sprintf("m%d", i)
		cfg.Dir = t.TempDir()
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{clientURL}, []url.URL{clientURL}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peerURL}, []url.URL{peerURL}
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		cfg.UnsafeNoFsync = true
		// A leader's loss is noticed after the election timeout; a short
		// one keeps the tests short, and a loaded machine's hiccups are
		// tolerated by 10 ticks.
		cfg.TickMs, cfg.ElectionMs = 50, 500
		cfg.InitialClusterToken = "testetcd-" + t.Name()
		cfgs[i] = cfg
		c.Endpoints = append(c.Endpoints, clientURL.String())
		peers = append(peers, cfg.Name+"="+peerURL.String())
	}
	for _, cfg := range cfgs {
		cfg.InitialCluster = strings.Join(peers, ",")
		e, err := embed.StartEtcd(cfg)
		if err != nil {
			c.stop()
			t.Fatalf("start member %s: %v", cfg.Name, err)
		}
		c.members = append(c.members, e)
	}
	t.Cleanup(c.stop)
	for _, e := range c.members {
		select {
		case <-e.Server.ReadyNotify():
		case err := <-e.Err():
			t.Fatalf("a member failed: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("the cluster had no leader after 30 s")
		}
	}
	return c
}

// Leader returns the index of the member that is leader now, or -1.
func (c *Cluster) Leader() int {
	for i, e := range c.members {
		if !c.stopped[i] && e.Server.Leader() == e.Server.MemberID() {
			return i
		}
	}
	return -1
}

// Kill stops member i abruptly: its raft node stops without handing its
// leadership over (as a SIGKILL would), then its listeners close, so its
// clients see their connections fail.
func (c *Cluster) Kill(i int) {
	if c.stopped[i] {
		return
	}
	c.stopped[i] = true
	c.members[i].Server.HardStop()
	c.members[i].Close()
}

func (c *Cluster) stop() {
	for i := range c.members {
		c.Kill(i)
	}
}
