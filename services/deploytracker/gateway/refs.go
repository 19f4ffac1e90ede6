package gateway

// CertificateRef is one use of a certificate by a route: Option is
// "mtlsCertificate" or "caCertificate" and Name the certificate name after
// $env resolution.
type CertificateRef struct {
	Route  int
	Path   string
	Option string
	Name   string
}

// CertificateRefs lists every certificate the config uses, in route order
// and, within a route, mtlsCertificate before caCertificate. A name used
// twice is listed twice, so that the caller can name every route that fails.
func (c *Config) CertificateRefs() []CertificateRef {
	var refs []CertificateRef
	for _, r := range c.Routes {
		for _, ref := range []CertificateRef{
			{r.Index, r.Path, optMTLSCertificate, r.MTLSCertificate},
			{r.Index, r.Path, optCACertificate, r.CACertificate},
		} {
			if ref.Name != "" {
				refs = append(refs, ref)
			}
		}
	}
	return refs
}
