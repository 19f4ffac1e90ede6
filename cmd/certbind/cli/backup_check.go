package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	certmgrstore "github.com/certbind/certbind/services/certmgr/store"
	deploystore "github.com/certbind/certbind/services/deploytracker/store"
)

// crossCheck opens the two copies in dir as stores and returns what the
// deploytracker's copy references that certmgr's copy does not hold: a
// certificate that is missing, or that no longer allows the deployment's
// environment type. Live, the write-then-check protocols rule both out; in
// copies taken one after the other they happen when a deployment goes, and
// then its certificate or environment type, between the two copies. An
// error means a copy is not a usable store.
//
// Opening a store writes to its file, so the check works on copies of the
// copies, in a directory inside dir (mode 0700) that it removes.
func crossCheck(dir string) (problems []string, err error) {
	tmp, err := os.MkdirTemp(dir, ".check-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	for _, name := range backupStores {
		if err := copyFileSync(filepath.Join(dir, name+".db"), filepath.Join(tmp, name+".db")); err != nil {
			return nil, err
		}
	}
	certs, err := certmgrstore.Open(filepath.Join(tmp, "certmgr.db"), certmgrstore.Options{})
	if err != nil {
		return nil, fmt.Errorf("the copy of certmgr.db does not open as a store: %w", err)
	}
	defer certs.Close()
	deploys, err := deploystore.Open(filepath.Join(tmp, "deploytracker.db"), deploystore.Options{})
	if err != nil {
		return nil, fmt.Errorf("the copy of deploytracker.db does not open as a store: %w", err)
	}
	defer deploys.Close()
	list, _, err := deploys.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("read the copy of deploytracker.db: %w", err)
	}
	for _, d := range list {
		for _, r := range d.References {
			c, err := certs.GetCertificate(d.Account, d.Project, r.CertificateID)
			switch {
			case errors.Is(err, certmgrstore.ErrNotFound):
				problems = append(problems, fmt.Sprintf("deployment %s/%s/%s references certificate %s (%s), which the copy of certmgr.db lacks", d.Account, d.Project, d.Environment, r.CertificateName, r.CertificateID))
			case err != nil:
				return nil, fmt.Errorf("read the copy of certmgr.db: %w", err)
			case !slices.Contains(c.EnvironmentTypes, d.EnvironmentType):
				problems = append(problems, fmt.Sprintf("deployment %s/%s/%s of type %s references certificate %s (%s), which the copy of certmgr.db does not allow in %s", d.Account, d.Project, d.Environment, d.EnvironmentType, r.CertificateName, r.CertificateID, d.EnvironmentType))
			}
		}
	}
	return problems, nil
}
