package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/certbind/certbind/services/certmgr/seal"
	certmgrstore "github.com/certbind/certbind/services/certmgr/store"
	"github.com/certbind/certbind/services/certmgr/webhook"
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
	if _, err := os.Stat(filepath.Join(dir, webhooksFile)); err == nil {
		keys, err := storeKeyIDs(certs)
		if err != nil {
			return nil, fmt.Errorf("read the copy of certmgr.db: %w", err)
		}
		p, _, err := webhookProblems(filepath.Join(dir, webhooksFile), certs.Epoch(), keys)
		if err != nil {
			return nil, fmt.Errorf("the copy of %s is not usable: %w", webhooksFile, err)
		}
		problems = append(problems, p...)
	}
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

// webhookProblems checks the webhook file at path (a copy, or a file of a
// backup) against the certmgr.db it goes with, of epoch epoch and naming
// the master keys keys (storeKeyIDs): it must follow that store's epoch,
// and each webhook secret must be sealed under a master key the store
// names (its key, or the one a rotation is moving it to), since that is
// the key certmgr will have once the two are restored. An error means the
// file is damaged or not a webhook file.
func webhookProblems(path, epoch string, keys []string) ([]string, webhook.FileInfo, error) {
	info, err := webhook.CheckFile(path)
	if err != nil {
		return nil, info, err
	}
	var problems []string
	if info.Epoch != epoch {
		problems = append(problems, fmt.Sprintf("%s follows epoch %s of certmgr's store, but certmgr.db has epoch %s", webhooksFile, info.Epoch, epoch))
	}
	if keys == nil {
		return problems, info, nil
	}
	for _, id := range info.KeyIDs {
		if id != "" && !slices.Contains(keys, id) {
			problems = append(problems, fmt.Sprintf("%s holds webhook secrets sealed under master key %s, which certmgr.db does not name (it names %s)", webhooksFile, id, strings.Join(keys, " and ")))
		}
	}
	return problems, info, nil
}

// certmgrIdentity opens the certmgr store file at path (a staged copy:
// opening writes to it) and returns its epoch and the master keys it names.
func certmgrIdentity(path string) (string, []string, error) {
	st, err := certmgrstore.Open(path, certmgrstore.Options{})
	if err != nil {
		return "", nil, err
	}
	defer st.Close()
	keys, err := storeKeyIDs(st)
	return st.Epoch(), keys, err
}

// storeKeyIDs returns the ids of the master keys certs names: its own, and
// the one a rotation under way is moving it to; nil when it names none it
// can tell (a store without a check value, or one from before key ids).
func storeKeyIDs(certs *certmgrstore.Store) ([]string, error) {
	var ids []string
	for _, get := range []func() ([]byte, error){certs.KeyCheck, certs.KeyNext} {
		v, err := get()
		if err != nil {
			return nil, err
		}
		if v == nil {
			continue
		}
		id := seal.KeyID(v)
		if id == "" {
			return nil, nil
		}
		ids = append(ids, id)
	}
	return ids, nil
}
