package httpbench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"text/template"
	"time"
)

// nginxConf is a keep-alive reverse proxy to the backend over mTLS. Beyond
// what the task prescribes, three settings keep nginx from handicapping
// itself: TLS 1.3 must be listed (1.22 proposes only up to TLS 1.2
// upstream by default), keepalive_requests is raised on both sides (by
// default nginx closes a connection after 1000 requests, which would cost
// a handshake every 1000 requests where the others do none), and the
// buffers hold a 64 KiB response in memory instead of spilling it to a
// temporary file.
var nginxConf = template.Must(template.New("nginx.conf").Parse(`worker_processes auto;
events {
	worker_connections 4096;
}
http {
	access_log off;
	client_body_temp_path {{.Dir}}/nginx-tmp/body;
	proxy_temp_path {{.Dir}}/nginx-tmp/proxy;
	upstream backend {
		server {{.Backend}};
		keepalive 64;
		keepalive_requests 1000000;
	}
	server {
		listen {{.Listen}};
		keepalive_requests 1000000;
		location / {
			proxy_pass https://backend;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_ssl_certificate {{.Dir}}/` + clientCertFile + `;
			proxy_ssl_certificate_key {{.Dir}}/` + clientKeyFile + `;
			proxy_ssl_trusted_certificate {{.Dir}}/` + backendCAFile + `;
			proxy_ssl_verify on;
			proxy_ssl_name localhost;
			proxy_ssl_protocols TLSv1.3;
			proxy_ssl_session_reuse on;
			proxy_buffers 16 8k;
			proxy_max_temp_file_size 0;
		}
	}
}
`))

func startNginx(ctx context.Context, e *env, bin string) (target, func() error, error) {
	listen, err := freePort()
	if err != nil {
		return target{}, nil, err
	}
	if err := os.MkdirAll(filepath.Join(e.dir, "nginx-tmp"), 0o755); err != nil {
		return target{}, nil, err
	}
	conf := filepath.Join(e.dir, "nginx.conf")
	f, err := os.Create(conf)
	if err != nil {
		return target{}, nil, err
	}
	err = nginxConf.Execute(f, map[string]string{"Dir": e.dir, "Backend": e.backend.addr, "Listen": listen})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return target{}, nil, fmt.Errorf("write %s: %w", conf, err)
	}
	p, err := startProcess("nginx", e.dir, nil, bin, "-c", conf, "-p", e.dir,
		"-e", filepath.Join(e.dir, "nginx-error.log"),
		"-g", fmt.Sprintf("daemon off; pid %s;", filepath.Join(e.dir, "nginx.pid")))
	if err != nil {
		return target{}, nil, err
	}
	t := target{addr: listen, pid: p.cmd.Process.Pid}
	if err := waitReady(ctx, t, 10*time.Second, p.exited); err != nil {
		p.stop()
		return target{}, nil, fmt.Errorf("nginx with %s: %w\n%s", conf, err, p.tail())
	}
	return t, p.stop, nil
}
