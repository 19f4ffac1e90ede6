package webhook

import "unicode/utf8"

// maxReason bounds the reason a deploy.refused event carries.
const maxReason = 1024

// RefusedDeploy is a deploy refused because of a certificate.
type RefusedDeploy struct {
	Account, Project, Environment  string
	CertificateID, CertificateName string
	Reason                         string
}

// DeployRefused queues a deploy.refused event for the account's webhooks
// that want it. The certificate's metadata is what the webhook file
// tracks of it; a certificate it does not track is named as the
// deploytracker gave it.
func (d *Dispatcher) DeployRefused(r RefusedDeploy) error {
	reason := r.Reason
	if len(reason) > maxReason {
		reason = reason[:maxReason]
		for !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	now := d.cfg.Now()
	err := d.db.update(false, func(tx kvTx) error {
		t := tracked{ID: r.CertificateID, Account: r.Account, Project: r.Project, Name: r.CertificateName}
		if _, err := getJSON(tx, bucketTracked, trackedKey(r.Account, r.Project, r.CertificateID), &t); err != nil {
			return err
		}
		p := payloadOf(EventDeployRefused, t)
		p.Deploy = &PayloadDeploy{Environment: r.Environment, Reason: reason}
		return d.enqueue(tx, p, now)
	})
	if err == nil {
		d.Notify()
	}
	return err
}
