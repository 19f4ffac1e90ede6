package edge

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/certbind/certbind/services/edge/cache"
)

// openCache opens the edge's on-disk cache, taps both streams into it and
// installs the state it holds, if any and if it is sound. A cache it
// refuses is logged and leaves the edge empty, as without one: the control
// plane's snapshot fills it when a replica answers. Only what the operator
// must fix (the key file, the directory) fails New.
func (e *Edge) openCache(cfg Config) error {
	cc := cfg.Cache
	cc.Account, cc.Project, cc.EnvironmentType, cc.Logger = cfg.Scope.Account, cfg.Scope.Project, cfg.Scope.EnvironmentType, e.log
	c, err := cache.Open(cc)
	if err != nil {
		return fmt.Errorf("edge cache: %w", err)
	}
	e.cache = c
	e.certs.Tap(c.TapCertificates)
	e.deploys.Tap(c.TapDeployments)
	st, err := c.Load()
	switch {
	case err != nil:
		e.log.Error("edge cache refused: starting empty, to be filled by the control plane", slog.String("path", c.Path()), slog.String("error", err.Error()))
		return nil
	case st == nil:
		e.log.Info("no edge cache yet: starting empty", slog.String("path", c.Path()))
		return nil
	}
	cs, ds := st.GetCertificatesStream(), st.GetDeploymentsStream()
	if err := e.certs.Restore(cache.CertificateItems(st), cs.GetRevision(), cs.GetEpoch(), unixMs(cs.GetLastEventUnixMs())); err != nil {
		return err
	}
	if err := e.deploys.Restore(cache.DeploymentItems(st), ds.GetRevision(), ds.GetEpoch(), unixMs(ds.GetLastEventUnixMs())); err != nil {
		return err
	}
	e.log.Info("serving the cached state until the control plane answers", slog.String("path", c.Path()),
		slog.Time("written", time.UnixMilli(st.GetWrittenUnixMs())), slog.Int("certificates", len(st.GetCertificates())),
		slog.Int("deployments", len(st.GetDeployments())))
	return nil
}

func unixMs(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// cacheStatus is the cache's status, and whether there is a cache.
func (e *Edge) cacheStatus() (cache.Status, bool) {
	if e.cache == nil {
		return cache.Status{}, false
	}
	return e.cache.Status(), true
}
