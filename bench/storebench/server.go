package storebench

import (
	"crypto/rand"
	"fmt"
	"net"
	"path/filepath"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/certbind/certbind/services/certmgr"
	"github.com/certbind/certbind/services/certmgr/auth"
)

// server is an in-process certmgr with its bbolt store in a work directory,
// serving real gRPC on a loopback port.
type server struct {
	svc      *certmgr.Service
	srv      *grpc.Server
	addr     string
	adminKey string
}

func startServer(dir string) (*server, error) {
	s := &server{adminKey: rand.Text()}
	svc, err := certmgr.New(certmgr.Config{
		DataDir:         filepath.Join(dir, "data"),
		MasterKeyFile:   filepath.Join(dir, "master.key"),
		CreateMasterKey: true,
		AdminKey:        s.adminKey,
	})
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		svc.Close()
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	s.svc, s.srv, s.addr = svc, svc.NewGRPCServer(), lis.Addr().String()
	go s.srv.Serve(lis)
	return s, nil
}

// dial opens a new client connection that sends the admin key on every call.
func (s *server) dial() (*grpc.ClientConn, error) {
	return grpc.NewClient(s.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(auth.BearerCredentials{Key: s.adminKey}))
}

// close stops the gRPC server, cutting open streams, then closes the store.
func (s *server) close() error {
	s.srv.Stop()
	return s.svc.Close()
}
