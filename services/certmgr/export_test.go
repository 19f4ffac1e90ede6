package certmgr

// SetRotationHooks sets what masterkey.Config.Step and Batch are for the
// services cfg starts, so tests can cut a rotation off at every step.
func SetRotationHooks(cfg *Config, step func(string) error, batch int) {
	cfg.rotationStep, cfg.rotationBatch = step, batch
}
