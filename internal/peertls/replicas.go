package peertls

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// Replicas splits a --certmgr-addr or --deploytracker-addr value into the
// addresses of the service's replicas: one address as it is, or several
// host:port separated by commas. Several addresses must each be a host
// and a port, and none may repeat.
func Replicas(flag, value string) ([]string, error) {
	if strings.TrimSpace(value) == "" {
		return nil, fmt.Errorf("%s is empty: give the service's address (host:port), or its replicas' separated by commas", flag)
	}
	if !strings.Contains(value, ",") {
		return []string{value}, nil
	}
	parts := strings.Split(value, ",")
	seen := make(map[string]bool, len(parts))
	for i, p := range parts {
		if p == "" || strings.TrimSpace(p) != p {
			return nil, fmt.Errorf("%s: replica %d of %q is empty or has spaces around it (separate host:port addresses with commas only, e.g. 10.0.0.1:9090,10.0.0.2:9090)", flag, i+1, value)
		}
		host, port, err := net.SplitHostPort(p)
		if err != nil {
			return nil, fmt.Errorf("%s: replica %q is not host:port: %w", flag, p, err)
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 || host == "" {
			return nil, fmt.Errorf("%s: replica %q needs a host and a port from 1 to 65535", flag, p)
		}
		if seen[p] {
			return nil, fmt.Errorf("%s: replica %q is listed twice", flag, p)
		}
		seen[p] = true
	}
	return parts, nil
}

// readMethods are the calls a client repeats on another replica when one
// answers Unavailable: they only read, so running one twice changes
// nothing. Writes are not repeated: one that failed with Unavailable may
// have committed before its replica went away, and a create or a deploy
// run again would then be answered as a conflict or recorded twice in the
// audit trail. gRPC itself still repeats any call that never reached a
// replica. A watch is repeated only until its first message, which is
// also a read.
var readMethods = map[string][]string{
	"certbind.certmgr.v1.InternalService":                     {"Authenticate", "ResolveCertificates", "WatchRevocations"},
	"certbind.certmgr.v1.ApiKeyService":                       {"ListApiKeys"},
	"certbind.certmgr.v1.AuditService":                        {"ListAuditEntries"},
	"certbind.certmgr.v1.CertificateService":                  {"ListCertificates", "GetCertificate", "ListCertificateReferences"},
	"certbind.certmgr.v1.VerifyService":                       {"VerifyCertificates"},
	"certbind.certmgr.v1.MasterKeyService":                    {"GetMasterKeyStatus"},
	"certbind.certmgr.v1.BackupService":                       {"GetBackupInfo"},
	"certbind.certmgr.v1.DistributionService":                 {"WatchCertificates"},
	"certbind.deploytracker.v1.DeploymentService":             {"ListDeployments", "GetDeployment"},
	"certbind.deploytracker.v1.AuditService":                  {"ListAuditEntries"},
	"certbind.deploytracker.v1.ReferenceService":              {"ListCertificateReferences"},
	"certbind.deploytracker.v1.VerifyService":                 {"VerifyDeployments"},
	"certbind.deploytracker.v1.BackupService":                 {"GetBackupInfo"},
	"certbind.deploytracker.v1.DeploymentDistributionService": {"WatchDeployments"},
}

// serviceConfig is the client's gRPC service config: reads retried on
// Unavailable (up to three attempts in all, about 50 ms then 100 ms
// apart), and with several replicas, calls spread over every replica that
// is up (round_robin: a replica whose connection broke gets none until it
// is back).
func serviceConfig(balance bool) string {
	var names []string
	for svc, methods := range readMethods {
		for _, m := range methods {
			names = append(names, fmt.Sprintf(`{"service":%q,"method":%q}`, svc, m))
		}
	}
	cfg := `{`
	if balance {
		cfg += `"loadBalancingConfig":[{"round_robin":{}}],`
	}
	cfg += `"methodConfig":[{"name":[` + strings.Join(names, ",") + `],` +
		`"retryPolicy":{"maxAttempts":3,"initialBackoff":"0.05s","maxBackoff":"0.5s","backoffMultiplier":2,"retryableStatusCodes":["UNAVAILABLE"]}}]}`
	return cfg
}

// target returns the target and options that reach the replicas: one
// address is dialled as before (gRPC's default resolver); several are
// handed to a resolver of their own, each address verified by TLS under
// its own host name.
func target(addrs []string) (string, []grpc.DialOption) {
	if len(addrs) == 1 {
		return addrs[0], []grpc.DialOption{grpc.WithDefaultServiceConfig(serviceConfig(false))}
	}
	r := manual.NewBuilderWithScheme("certbind-replicas")
	state := resolver.State{}
	for _, a := range addrs {
		host, _, _ := net.SplitHostPort(a)
		state.Addresses = append(state.Addresses, resolver.Address{Addr: a, ServerName: host})
	}
	r.InitialState(state)
	return r.Scheme() + ":///replicas", []grpc.DialOption{grpc.WithResolvers(r), grpc.WithDefaultServiceConfig(serviceConfig(true))}
}
