# Tool versions are pinned here and installed into ./.bin, so a fresh clone
# needs nothing but Go.
BUF_VERSION                 := v1.75.0
PROTOC_GEN_GO_VERSION       := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION  := v1.6.2
GRPC_GATEWAY_VERSION        := v2.33.0
STATICCHECK_VERSION         := v0.8.2

BIN := $(CURDIR)/.bin
export PATH := $(BIN):$(PATH)
export GOBIN := $(BIN)

.PHONY: all test lint generate checkgenerate tools fmt fuzz-smoke bench bench-smoke check-rules ha ha-build etcd etcd-server

# A count, not a duration: with a duration, go1.26's fuzzing coordinator can
# report its own deadline as a failure (golang/go#75804).
FUZZTIME ?= 20000x
# FUZZSKIP names targets the smoke run leaves out (their seeds still run in
# make test).
FUZZSKIP ?=

all: lint test

# test builds the pinned etcd server first (seconds once built): the
# failover test that SIGKILLs the etcd leader and the HA bench's smoke test
# run real etcd processes, and would otherwise skip.
test: etcd-server
	go test -race -count=1 work

tools: $(BIN)/buf $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc $(BIN)/protoc-gen-grpc-gateway $(BIN)/protoc-gen-openapiv2 $(BIN)/staticcheck

$(BIN)/buf:
	go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(BIN)/protoc-gen-go:
	go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(BIN)/protoc-gen-go-grpc:
	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
$(BIN)/protoc-gen-grpc-gateway:
	go install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@$(GRPC_GATEWAY_VERSION)
$(BIN)/protoc-gen-openapiv2:
	go install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@$(GRPC_GATEWAY_VERSION)
$(BIN)/staticcheck:
	go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# generate rewrites every generated file from proto/.
generate: $(BIN)/buf $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc $(BIN)/protoc-gen-grpc-gateway $(BIN)/protoc-gen-openapiv2
	find proto -name '*.pb.go' -o -name '*.pb.gw.go' | xargs -r rm -f
	rm -f proto/openapi/certbind.swagger.json
	buf generate

# checkgenerate fails when the committed generated code is stale.
checkgenerate: generate
	@test -z "$$(git status --porcelain -- proto)" || { git status --porcelain -- proto; git diff -- proto | head -50; echo "generated code is stale: run 'make generate' and commit"; exit 1; }

lint: $(BIN)/buf $(BIN)/staticcheck
	buf lint
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	go vet work
	staticcheck work

fmt:
	gofmt -w $$(git ls-files '*.go')

# check-rules checks the Prometheus alerting rules and runs their tests with
# promtool (Debian's prometheus package has it: apt-get install prometheus,
# or PROMTOOL=path/to/promtool).
PROMTOOL ?= promtool
check-rules:
	cd deploy/prometheus && $(PROMTOOL) check rules certbind-rules.yml && $(PROMTOOL) test rules certbind-rules_test.yml

# fuzz-smoke runs every fuzz target briefly (FUZZTIME inputs each): enough to
# catch a target that no longer builds or a seed that crashes. Fuzz for longer
# with FUZZTIME=1000000x (or a duration such as 5m, which may end in a spurious
# "context deadline exceeded").
fuzz-smoke:
	@for dir in $$(go list -f '{{.Dir}}' work); do \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
	    case " $(FUZZSKIP) " in *" $$f "*) echo "fuzz $$f skipped (FUZZSKIP)"; continue;; esac; \
	    echo "fuzz $$f ($${dir#$(CURDIR)/})"; \
	    (cd $$dir && go test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=200x .) || exit 1; \
	  done; \
	done

# bench compares the certbind edge with nginx and Caddy (installed from
# Debian's packages when missing), and measures stream propagation and store
# writes, on bbolt and on a 3-member etcd cluster (with ./.bin/etcd: make
# etcd-server; skipped without it); results go to bench/results. Takes
# about 4 minutes.
bench:
	go run ./bench/cmd/bench --out bench/results

# bench-smoke runs every part of the bench for a moment: it works, not how fast.
bench-smoke:
	go run ./bench/cmd/bench --smoke

# etcd (the server, etcdctl and etcdutl) at the release pinned in
# deploy/ha/tools/go.mod (v3.7.3, the client the services carry), built from
# the module proxy into ./.bin for the local HA topology and the bench's HA
# section (which needs only the server: make etcd-server).
etcd: $(BIN)/etcd $(BIN)/etcdctl $(BIN)/etcdutl
etcd-server: $(BIN)/etcd
$(BIN)/etcd:
	cd deploy/ha/tools && GOWORK=off go build -o $(BIN)/etcd go.etcd.io/etcd/server/v3
$(BIN)/etcdctl:
	cd deploy/ha/tools && GOWORK=off go build -o $(BIN)/etcdctl go.etcd.io/etcd/etcdctl/v3
$(BIN)/etcdutl:
	cd deploy/ha/tools && GOWORK=off go build -o $(BIN)/etcdutl go.etcd.io/etcd/etcdutl/v3

# ha runs the local HA topology of deploy/ha/Procfile on loopback until
# Ctrl-C: 3 etcd members, 2 certmgr, 2 deploytracker, the REST facade
# (127.0.0.1:18080) and 2 edges (127.0.0.1:18000, 127.0.0.1:28000), with
# TLS between every part; state (keys, certificates, etcd's data) in
# HA_STATE. docs/operations.md says what to try.
HA_STATE ?= $(CURDIR)/.ha
ha-build: etcd
	go build -o $(HA_STATE)/bin/ ./services/certmgr/cmd/certmgr ./services/deploytracker/cmd/deploytracker \
	  ./services/restapi/cmd/restapi ./services/edge/cmd/edge ./cmd/certbind ./deploy/ha/procrun
	cp $(BIN)/etcd $(BIN)/etcdctl $(BIN)/etcdutl $(HA_STATE)/bin/
	deploy/ha/setup.sh $(HA_STATE) $(HA_STATE)/bin
ha: ha-build
	$(HA_STATE)/bin/procrun -f deploy/ha/Procfile -env $(HA_STATE)/env -run-dir $(HA_STATE)/run
