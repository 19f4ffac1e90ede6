package httpbench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"text/template"
	"time"
)

// caddyfile is a keep-alive reverse proxy to the backend over mTLS, with
// the admin endpoint off and logs at ERROR. A site address alone would
// listen on every interface; bind keeps it on loopback. keepalive_idle_conns_per_host
// is raised with keepalive_idle_conns, because caddy 2.6 keeps 32 idle
// connections per host by default, fewer than the highest concurrency.
// HTTP/1.1 to the backend, as for every other setup.
var caddyfile = template.Must(template.New("Caddyfile").Parse(`{
	admin off
	auto_https off
	log {
		level ERROR
	}
}

http://{{.Listen}} {
	bind 127.0.0.1
	reverse_proxy https://{{.Backend}} {
		transport http {
			tls_client_auth {{.Dir}}/` + clientCertFile + ` {{.Dir}}/` + clientKeyFile + `
			tls_trusted_ca_certs {{.Dir}}/` + backendCAFile + `
			keepalive 90s
			keepalive_idle_conns 64
			keepalive_idle_conns_per_host 64
			versions 1.1
		}
	}
}
`))

func startCaddy(ctx context.Context, e *env, bin string) (target, func() error, error) {
	listen, err := freePort()
	if err != nil {
		return target{}, nil, err
	}
	conf := filepath.Join(e.dir, "Caddyfile")
	f, err := os.Create(conf)
	if err != nil {
		return target{}, nil, err
	}
	err = caddyfile.Execute(f, map[string]string{"Dir": e.dir, "Backend": e.backend.addr, "Listen": listen})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return target{}, nil, fmt.Errorf("write %s: %w", conf, err)
	}
	// Caddy keeps state under XDG_DATA_HOME and XDG_CONFIG_HOME; keep it in
	// the work directory rather than root's home.
	home := filepath.Join(e.dir, "caddy-home")
	env := []string{"HOME=" + home, "XDG_DATA_HOME=" + filepath.Join(home, "data"), "XDG_CONFIG_HOME=" + filepath.Join(home, "config")}
	p, err := startProcess("caddy", e.dir, env, bin, "run", "--config", conf, "--adapter", "caddyfile")
	if err != nil {
		return target{}, nil, err
	}
	t := target{addr: listen, pid: p.cmd.Process.Pid}
	if err := waitReady(ctx, t, 10*time.Second, p.exited); err != nil {
		p.stop()
		return target{}, nil, fmt.Errorf("caddy with %s: %w\n%s", conf, err, p.tail())
	}
	return t, p.stop, nil
}
