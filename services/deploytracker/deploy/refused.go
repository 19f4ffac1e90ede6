package deploy

import (
	"context"
	"errors"
	"log/slog"
)

// RefusalNotifier is told of deploys refused because of a certificate, so
// that the account's webhooks hear of them. The Certificates given to New
// may implement it (certmgr's client does).
type RefusalNotifier interface {
	DeployRefused(ctx context.Context, account, project, environment, certificateID, certificateName, reason string) error
}

// refused tells the notifier, if any, of a deploy refused by err because
// of a certificate. It is told once the refusal is certain and before the
// caller is answered; a notifier that fails costs the deploy nothing and is
// logged (the event is then lost: the refusal changed nothing that a later
// pass could find it by).
func (t *Tracker) refused(ctx context.Context, in Input, err error) {
	n, ok := t.certs.(RefusalNotifier)
	var ie *InputError
	if !ok || !errors.As(err, &ie) || ie.CertificateID == "" {
		return
	}
	if nerr := n.DeployRefused(ctx, in.Account, in.Project, in.Environment, ie.CertificateID, ie.CertificateName, err.Error()); nerr != nil {
		t.audit.Warn("cannot tell certmgr's webhooks of a refused deploy", slog.String("account", in.Account),
			slog.String("environment", in.Environment), slog.String("certificateId", ie.CertificateID), slog.String("error", nerr.Error()))
	}
}
