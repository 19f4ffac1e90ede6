package etcdstore

import (
	"fmt"

	"github.com/certbind/certbind/internal/etcdkv"
	"github.com/certbind/certbind/services/deploytracker/store"
)

// ScanDeployments returns every deployment record, in key order, read in
// pages of bounded reads (etcdkv.Scan); it changes nothing. A record that
// does not decode is a stand-in with Damaged set (and without its id:
// this scan serves the metrics, not Verify, so it reads no index).
func (s *Store) ScanDeployments() ([]store.DeploymentRecord, error) {
	dp := s.prefix + "deployments/"
	var out []store.DeploymentRecord
	err := etcdkv.Scan(s.cli, s.timeout, s.prefix, dp, func(kv *etcdkv.KeyValue) error {
		account, project, env, ok := splitKey(dp, string(kv.Key))
		if !ok {
			return nil
		}
		d, err := s.decode(kv)
		if err != nil {
			d = &store.Deployment{Account: account, Project: project, Environment: env,
				Damaged: fmt.Sprintf("its stored record does not decode (%v)", err)}
		}
		out = append(out, store.DeploymentRecord{Account: account, Project: project, Environment: env, Deployment: d})
		return nil
	})
	return out, err
}
