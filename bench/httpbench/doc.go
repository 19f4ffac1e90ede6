// Package httpbench measures what certbind's edge costs on the request path
// against the proxies people would otherwise put in front of an mTLS
// backend. Every setup sends to the same Go backend, which requires a
// client certificate, and is loaded by the same closed-loop generator:
//
//   - direct: the generator presents the client certificate itself;
//   - certbind edge: the whole suite in this process, with a deployment
//     whose route forwards to the backend with the certificate;
//   - nginx and caddy: child processes configured in Config.WorkDir as a
//     keep-alive reverse proxy that presents the same certificate.
//
// Run measures each setup at every response size and concurrency, one run
// after another, and returns Results, which render as Markdown and SVG.
package httpbench
