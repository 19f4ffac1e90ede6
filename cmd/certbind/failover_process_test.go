package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/certbind/certbind/cmd/certbind/internal/e2etest"
	"github.com/certbind/certbind/internal/etcdproc"
	"github.com/certbind/certbind/internal/testetcd"
	"github.com/certbind/certbind/internal/testpki"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

// replicated is certmgr and the deploytracker as two replica processes
// each on one etcd prefix, with the REST facade and an edge given every
// replica's address.
type replicated struct {
	*cluster
	certmgrs, trackers [2]string // gRPC addresses
	certmgrAdmins      [2]string
	trackerAdmins      [2]string
	store              []string
}

func (r *replicated) startCertmgr(i int) {
	r.t.Helper()
	r.launch(fmt.Sprintf("certmgr%d", i), "certmgr", r.certmgrs[i], append([]string{"--listen", r.certmgrs[i], "--admin-listen", r.certmgrAdmins[i],
		"--master-key-file", filepath.Join(r.dir, "master.key"), "--deploytracker-addr", strings.Join(r.trackers[:], ",")}, r.store...))
}

func (r *replicated) startTracker(i int) {
	r.t.Helper()
	r.launch(fmt.Sprintf("deploytracker%d", i), "deploytracker", r.trackers[i], append([]string{"--listen", r.trackers[i], "--admin-listen", r.trackerAdmins[i],
		"--certmgr-addr", strings.Join(r.certmgrs[:], ","), "--edge-url", "http://" + r.edgeAddr}, r.store...))
}

// streaming returns the index of the replica whose stream the edge
// follows, from the replicas' subscriber gauges.
func (r *replicated) streaming(admins [2]string, gauge string) int {
	r.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for i, a := range admins {
			if r.procs[r.nameOf(admins, i)] == nil {
				continue
			}
			if v, ok := e2etest.Scrape(r.t, "http://"+a+"/metrics").Value(gauge, nil); ok && v > 0 {
				return i
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("no replica reports a subscriber on %s", gauge)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *replicated) nameOf(admins [2]string, i int) string {
	if admins == r.certmgrAdmins {
		return fmt.Sprintf("certmgr%d", i)
	}
	return fmt.Sprintf("deploytracker%d", i)
}

// edgeStreams returns the edge's streams as its status page shows them:
// each one's revision and resync count, by name.
func (r *replicated) edgeStreams(admin string) map[string][2]string {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+admin+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+r.edgeKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Streams []struct {
			Name              string
			Revision, Resyncs json.Number
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		r.t.Fatalf("edge status: %v", err)
	}
	out := map[string][2]string{}
	for _, s := range st.Streams {
		out[s.Name] = [2]string{s.Revision.String(), s.Resyncs.String()}
	}
	return out
}

// TestFailoverAcrossReplicas runs two certmgr and two deploytracker
// replicas as processes on one etcd, the REST facade and two edges given
// both replicas' addresses, and steady traffic through the edges to a
// backend that requires the client certificate. It rotates a certificate
// in place after SIGKILLing the certmgr replica the first edge streams
// from, and redeploys while SIGKILLing the deploytracker replica it
// streams from in the middle of deploys: no edge request fails, the edges
// resume both streams on the other replicas without a resync, every
// acknowledged write is there afterwards and the edges serve the final
// state.
func TestFailoverAcrossReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	failover(t, []string{"--store", "etcd", "--etcd-endpoints", testetcd.Endpoint(t), "--etcd-prefix", testetcd.Prefix(t)}, nil)
}

// TestFailoverEtcdLeaderKilled is TestFailoverAcrossReplicas on a
// 3-member cluster of real etcd processes, whose leader is also SIGKILLed
// twice: just before the rotation (with the certmgr replica) and in the
// middle of the deploys (with the deploytracker replica). Each time the
// killed member is started again once the writes are acknowledged and
// waited for until it has caught up, so the second kill leaves a quorum.
// A write answered "unavailable" (exit code 6) while the cluster elects
// a leader is made again until it is acknowledged.
func TestFailoverEtcdLeaderKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	bin := etcdproc.FindBinary("")
	if bin == "" {
		t.Skip("no etcd binary: `make etcd-server` builds the pinned release into ./.bin")
	}
	ctx := t.Context()
	started := time.Now()
	etcd, err := etcdproc.Start(ctx, bin, t.TempDir(), "certbind-leaderkill", 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(etcd.Stop)
	t.Logf("3 etcd processes (%s) have a leader after %v", bin, time.Since(started).Round(time.Millisecond))
	kills := 0
	killLeader := func(moment string) (restart func()) {
		t.Helper()
		leader, err := etcd.Leader(ctx, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("SIGKILL the etcd leader %s %s", leader.Name, moment)
		etcd.Kill(leader)
		kills++
		return func() {
			t.Helper()
			if err := etcd.Restart(leader); err != nil {
				t.Fatal(err)
			}
			if err := etcd.Joined(ctx, leader, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			next, err := etcd.Leader(ctx, 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("etcd member %s restarted and caught up; the leader is %s", leader.Name, next.Name)
		}
	}
	failover(t, []string{"--store", "etcd", "--etcd-endpoints", strings.Join(etcd.Endpoints(), ","), "--etcd-prefix", "/leaderkill/"}, killLeader)
	if kills != 2 {
		t.Fatalf("the etcd leader was killed %d times, want 2", kills)
	}
}

// failover is the scenario of TestFailoverAcrossReplicas with certmgr and
// the deploytracker on the store the flags name. killLeader, when set,
// SIGKILLs the etcd leader at the moment it names and returns what starts
// that member again.
func failover(t *testing.T, store []string, killLeader func(moment string) (restart func())) {
	r := &replicated{store: store}
	r.cluster = newCluster(t) // builds the binaries first
	began := time.Now()
	for i := range 2 {
		r.certmgrs[i], r.trackers[i] = freeAddr(t), freeAddr(t)
		r.certmgrAdmins[i], r.trackerAdmins[i] = freeAddr(t), freeAddr(t)
	}
	for i := range 2 {
		r.startCertmgr(i)
		r.startTracker(i)
	}
	rest := freeAddr(t)
	r.restURL = "http://" + rest
	r.launch("restapi", "restapi", rest, []string{"--listen", rest, "--admin-listen", r.restAdmin,
		"--certmgr-addr", strings.Join(r.certmgrs[:], ","), "--deploytracker-addr", strings.Join(r.trackers[:], ",")})

	dir := t.TempDir()
	cli := func(args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(r.bin, "certbind"), args...)
		cmd.Env = append(os.Environ(), "CERTBIND_API_URL="+r.restURL, "CERTBIND_API_KEY="+r.adminKey)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := cli(args...)
		if err != nil {
			t.Fatalf("certbind %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	// unavailable reports whether the CLI exited with code 6: the API
	// could not be reached or answered that it is unavailable for now.
	unavailable := func(err error) bool {
		var exit *exec.ExitError
		return errors.As(err, &exit) && exit.ExitCode() == 6
	}
	// ack makes a write until it is acknowledged, again while the API
	// answers that it is unavailable (exit code 6: etcd elects a leader).
	retried := 0
	ack := func(args ...string) string {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); ; {
			out, err := cli(args...)
			if err == nil {
				return out
			}
			if !unavailable(err) || time.Now().After(deadline) {
				t.Fatalf("certbind %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			retried++
			t.Logf("certbind %s answered unavailable, made again: %s", args[0]+" "+args[1], strings.TrimSpace(out))
			time.Sleep(100 * time.Millisecond)
		}
	}
	file := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	with := func(args ...string) []string { return append(args, "--account", "acme", "--project", "shop") }

	var key struct{ Key string }
	if err := json.Unmarshal([]byte(must("api-key", "create", "--account", "acme", "--role", "edge", "--output", "json")), &key); err != nil || key.Key == "" {
		t.Fatalf("edge key: %v", err)
	}
	r.edgeKey = key.Key
	edges, edgeAdmins := []string{r.edgeAddr, freeAddr(t)}, []string{r.edgeAdminAddr, freeAddr(t)}
	for i := range edges {
		r.launch(fmt.Sprintf("edge%d", i), "edge", edgeAdmins[i], []string{"--listen", edges[i], "--admin-listen", edgeAdmins[i],
			"--certmgr-addr", strings.Join(r.certmgrs[:], ","), "--deploytracker-addr", strings.Join(r.trackers[:], ","),
			"--backend-allow", "127.0.0.0/8"})
	}
	// onEdges is a deployment's URL on each edge (the deploytracker
	// answers it on the first).
	onEdges := func(u string) []string {
		t.Helper()
		second := strings.Replace(u, "//"+edges[0]+"/", "//"+edges[1]+"/", 1)
		if second == u {
			t.Fatalf("deployment URL %s is not on the edge %s", u, edges[0])
		}
		return []string{u, second}
	}
	converged := func(u, want string) {
		t.Helper()
		for _, u := range onEdges(u) {
			e2etest.Eventually(t, u, 200, want)
		}
	}

	clientCA, backendCA := testpki.NewCA(t, "Client CA"), testpki.NewCA(t, "Backend CA")
	backend := e2etest.MTLSBackend(t, e2etest.ServerCert(t, backendCA), clientCA)
	leaf := func(n string) (string, string) {
		l := clientCA.Issue(t, testpki.Options{CommonName: "client-" + n})
		return file("client"+n+".pem", l.CertPEM), file("client"+n+".key", l.KeyPEM)
	}
	gateways := map[string]string{}
	for _, cert := range []string{"myBackendCert", "nextCert"} {
		gateways[cert] = file("gateway-"+cert+".json", []byte(`{"routes": [{"path": "/api/*", "handler": {"export": "UrlForwardHandler",
		"options": {"baseUrl": "`+backend.URL+`", "mtlsCertificate": "`+cert+`", "caCertificate": "backendCa"}}}]}`))
	}
	deploy := func(env, cert string) (string, error) {
		return cli(with("deploy", "--environment", env, "--environment-type", "production", "--config", gateways[cert], "--output", "json")...)
	}
	cert1, key1 := leaf("1")
	must(with("mtls-certificate", "create", "--cert", cert1, "--key", key1, "--name", "myBackendCert", "--environment-type", "production")...)
	must(with("mtls-certificate", "create", "--ca", "--cert", file("backend-ca.pem", backendCA.CertPEM), "--name", "backendCa", "--environment-type", "production")...)
	out, err := deploy("production", "myBackendCert")
	var dep struct{ URL string }
	if err != nil || json.Unmarshal([]byte(out), &dep) != nil || dep.URL == "" {
		t.Fatalf("deploy: %v %s", err, out)
	}
	url := dep.URL + "/api/hello"
	converged(url, "CN=client-1")
	step := func(what string) { t.Logf("%v: %s", time.Since(began).Round(time.Millisecond), what) }
	step("both edges serve the deployment")
	var before []map[string][2]string
	for _, a := range edgeAdmins {
		before = append(before, r.edgeStreams(a))
	}
	var loads []*e2etest.Load
	for i, u := range onEdges(url) {
		loads = append(loads, e2etest.StartLoad(u, 3-i))
	}

	// (b) SIGKILL the certmgr replica the edge streams from, then rotate
	// in place: the edge resumes on the other replica and serves the new
	// version.
	victim := r.streaming(r.certmgrAdmins, "certbind_certmgr_stream_subscribers")
	t.Logf("the edge streams certificates from certmgr%d: SIGKILL", victim)
	r.kill9(fmt.Sprintf("certmgr%d", victim))
	write := must
	var restart func()
	if killLeader != nil {
		write = ack
		restart = killLeader("just before the rotation")
	}
	cert2, key2 := leaf("2")
	write(with("mtls-certificate", "rotate", "--name", "myBackendCert", "--cert", cert2, "--key", key2)...)
	converged(url, "CN=client-2")
	step("both edges serve the rotated certificate")
	if restart != nil {
		restart()
	}
	r.startCertmgr(victim)

	// (c) Deploys to four environments in a loop, the deploytracker
	// replica the edge streams from SIGKILLed in their middle; a deploy
	// that failed is made again until one is acknowledged.
	cert3, key3 := leaf("3")
	must(with("mtls-certificate", "create", "--cert", cert3, "--key", key3, "--name", "nextCert", "--environment-type", "production")...)
	victim = r.streaming(r.trackerAdmins, "certbind_deploytracker_stream_subscribers")
	envs := []string{"production", "e1", "e2", "e3"}
	var (
		mu       sync.Mutex
		acked    = map[string]string{} // environment → URL of its last acknowledged deploy
		failures []string
		wg       sync.WaitGroup
		killed   = make(chan struct{})
	)
	hangGuard := time.Now().Add(90 * time.Second)
	for _, env := range envs {
		wg.Go(func() {
			for {
				after := false
				select {
				case <-killed:
					after = true
				default:
				}
				out, err := deploy(env, "nextCert")
				mu.Lock()
				if err != nil {
					failures = append(failures, env+": "+strings.TrimSpace(out))
					if !unavailable(err) {
						t.Errorf("deploy %s failed otherwise than unavailable: %v %s", env, err, out)
					}
				} else {
					var d struct{ URL string }
					if json.Unmarshal([]byte(out), &d) != nil || d.URL == "" {
						t.Errorf("deploy %s printed %s", env, out)
					}
					acked[env] = d.URL
				}
				mu.Unlock()
				if err == nil && after {
					return // acknowledged after the kill
				}
				if time.Now().After(hangGuard) {
					t.Errorf("deploy %s: none acknowledged after the kill in %v", env, time.Since(began))
					return
				}
			}
		})
	}
	// Deploys straight to the victim, one after the other, so that one is
	// in flight when it dies.
	var config structpb.Struct
	if raw, err := os.ReadFile(gateways["nextCert"]); err != nil || protojson.Unmarshal(raw, &config) != nil {
		t.Fatalf("read %s: %v", gateways["nextCert"], err)
	}
	direct := deploytrackerv1.NewDeploymentServiceClient(r.grpc(r.trackers[victim]))
	cut := make(chan error, 1)
	go func() {
		for {
			_, err := direct.Deploy(r.admin(), &deploytrackerv1.DeployRequest{Account: "acme", Project: "shop", Environment: "direct",
				EnvironmentType: "production", Config: &config})
			if err != nil {
				cut <- err
				return
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	t.Logf("the edge streams deployments from deploytracker%d: SIGKILL in the middle of deploys", victim)
	r.kill9(fmt.Sprintf("deploytracker%d", victim))
	if killLeader != nil {
		restart = killLeader("in the middle of deploys")
	}
	close(killed)
	if err := <-cut; status.Code(err) != codes.Unavailable {
		t.Fatalf("a deploy in flight on the killed replica ended with %v, want Unavailable", err)
	}
	envs = append(envs, "direct")
	wg.Go(func() {
		for {
			out, err := deploy("direct", "nextCert")
			if err == nil {
				var d struct{ URL string }
				if json.Unmarshal([]byte(out), &d) != nil || d.URL == "" {
					t.Errorf("deploy direct printed %s", out)
				}
				mu.Lock()
				acked["direct"] = d.URL
				mu.Unlock()
				return
			}
			mu.Lock()
			failures = append(failures, "direct: "+strings.TrimSpace(out))
			mu.Unlock()
			if !unavailable(err) {
				t.Errorf("deploy direct failed otherwise than unavailable: %v %s", err, out)
			}
			if time.Now().After(hangGuard) {
				t.Errorf("deploy direct: none acknowledged in %v", time.Since(began))
				return
			}
		}
	})
	wg.Wait()
	t.Logf("deploys refused or cut off by the kill, then made again: %d %q", len(failures), failures)
	step("every deploy acknowledged")
	if restart != nil {
		restart()
	}
	converged(url, "CN=client-3")
	for env, u := range acked {
		converged(u+"/api/x", "CN=client-3")
		if env != "production" && !strings.HasSuffix(u, "/"+env) {
			t.Errorf("deploy %s answered URL %s", env, u)
		}
	}
	step("both edges serve every redeploy")
	phase := "rotation and redeploys with a certmgr and a deploytracker replica SIGKILLed"
	if killLeader != nil {
		phase += ", and the etcd leader twice"
	}
	for i, l := range loads {
		l.Finish(t, fmt.Sprintf("edge%d: %s", i, phase))
	}
	if retried > 0 {
		t.Logf("writes answered unavailable and made again: %d", retried)
	}

	// Every acknowledged write is there, read through the survivors.
	var certs []struct {
		Name, FingerprintSha256 string
	}
	if err := json.Unmarshal([]byte(must(with("mtls-certificate", "list", "--output", "json")...)), &certs); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range certs {
		names[c.Name] = true
	}
	if len(certs) != 3 || !names["myBackendCert"] || !names["backendCa"] || !names["nextCert"] {
		t.Fatalf("certificates after the kills: %+v", certs)
	}
	if desc := must(with("mtls-certificate", "describe", "--name", "myBackendCert", "--output", "json")...); !strings.Contains(desc, "client-2") {
		t.Fatalf("the rotation is not kept: %s", desc)
	}
	var deps []struct {
		Environment  string
		Certificates []json.RawMessage
	}
	list := must(with("deployment", "list", "--output", "json")...)
	if err := json.Unmarshal([]byte(list), &deps); err != nil {
		t.Fatal(err)
	}
	if len(deps) != len(envs) || len(acked) != len(envs) {
		t.Fatalf("deployments after the kills: %s (acknowledged %v)", list, acked)
	}
	for _, env := range envs {
		d := must(with("deployment", "describe", "--environment", env, "--output", "json")...)
		if !strings.Contains(d, "nextCert") {
			t.Errorf("deployment %s does not reference nextCert: %s", env, d)
		}
	}

	step("every acknowledged write read back")
	// No reference dangles: the old certificate, which no deployment
	// references any more, can be deleted (once the leases of deploys the
	// killed replica had in progress ran out), and the new one cannot.
	var id struct{ ID string }
	if err := json.Unmarshal([]byte(must(with("mtls-certificate", "describe", "--name", "nextCert", "--output", "json")...)), &id); err != nil {
		t.Fatal(err)
	}
	if out, err := cli(with("mtls-certificate", "delete", "--cert-id", id.ID)...); err == nil || !strings.Contains(out, "production") {
		t.Errorf("deleting nextCert, which every deployment references: %v %s", err, out)
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		out, err := cli(with("mtls-certificate", "delete", "--name", "myBackendCert")...)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deleting myBackendCert, which no deployment references: %v %s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	step("myBackendCert deleted")
	// The edges resumed both streams where they were: no resync since the
	// load began.
	for i, a := range edgeAdmins {
		after := r.edgeStreams(a)
		for name, b := range before[i] {
			if after[name][1] != b[1] {
				t.Errorf("edge%d stream %s: %s resyncs before the kills, %s after (revision %s → %s): want a resume", i, name, b[1], after[name][1], b[0], after[name][0])
			}
		}
		t.Logf("edge%d streams before %v, after %v", i, before[i], after)
	}
	t.Logf("the test took %v", time.Since(began).Round(time.Millisecond))
}
