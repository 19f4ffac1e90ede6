package certmgr

import "time"

// SetRotationHooks sets what masterkey.Config.Step and Batch are for the
// services cfg starts, so tests can cut a rotation off at every step.
func SetRotationHooks(cfg *Config, step func(string) error, batch int) {
	cfg.rotationStep, cfg.rotationBatch = step, batch
}

// Unseals returns how many sealed values s has opened since it started.
func Unseals(s *Service) uint64 { return s.sealer.Opened() }

// Subscribers returns how many certificate streams follow the live changes.
func Subscribers(s *Service) int { return s.dist.Subscribers() }

// SetReplica names a replica on etcd and sets how often it reads the
// master key records besides its feed's signal.
func SetReplica(cfg *Config, name string, follow time.Duration) {
	cfg.ReplicaName, cfg.keyFollowInterval = name, follow
}
