package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/certbind/certbind/services/deploytracker/gateway"
)

// maxConfigFile bounds gateway.json and the --env-file. A config with a few
// hundred routes is well under it; anything larger was given by mistake.
const maxConfigFile = 256 << 10

// readConfigFile reads a file named by --flag, refusing a missing file, a
// directory and anything over maxConfigFile. It reads through a limit, not
// by the size the file claims, in case it is a pipe or grows meanwhile.
func readConfigFile(flag, path string) ([]byte, error) {
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, usageError(fmt.Errorf("--%s: file %q not found", flag, path))
	case err != nil:
		return nil, usageError(fmt.Errorf("--%s: %w", flag, err))
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.IsDir() {
		return nil, usageError(fmt.Errorf("--%s: %q is a directory, not a file", flag, path))
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return nil, fmt.Errorf("--%s: read %q: %w", flag, path, err)
	}
	if len(data) > maxConfigFile {
		return nil, usageError(fmt.Errorf("--%s: file %q is over the 256 KiB limit (is it the right file?)", flag, path))
	}
	return data, nil
}

// variable is one --var, split into its name and value.
type variable struct{ key, value string }

// parseVars splits every --var K=V, so a malformed one is refused with the
// other flags, before any file is read.
func parseVars(values []string) ([]variable, error) {
	vars := make([]variable, 0, len(values))
	for _, kv := range values {
		// ParseVar's errors already name --var and the value.
		k, v, err := gateway.ParseVar(kv)
		if err != nil {
			return nil, err
		}
		vars = append(vars, variable{k, v})
	}
	return vars, nil
}

// mergeVariables reads envFile, when given, and lays vars over it in order:
// a --var beats the file, and a later --var beats an earlier one.
func mergeVariables(envFile string, vars []variable) (map[string]string, error) {
	merged := map[string]string{}
	if envFile != "" {
		data, err := readConfigFile("env-file", envFile)
		if err != nil {
			return nil, err
		}
		fromFile, err := gateway.ParseEnvFile(data)
		if err != nil {
			return nil, fmt.Errorf("--env-file %q: %w", envFile, err)
		}
		maps.Copy(merged, fromFile)
	}
	for _, v := range vars {
		merged[v.key] = v.value
	}
	if err := gateway.ValidateVariables(merged); err != nil {
		return nil, fmt.Errorf("variables from --env-file and --var: %w", err)
	}
	return merged, nil
}

// loadGatewayConfig reads gateway.json and checks it with vars the way the
// server will (syntax, routes, handlers, $env() references), so mistakes
// are reported before anything is sent. Only the certificates, which the
// server knows, remain to be checked there.
func loadGatewayConfig(path string, vars map[string]string) (*structpb.Struct, error) {
	data, err := readConfigFile("config", path)
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("--config: file %q is empty (it should hold a gateway config such as {\"routes\": [...]})", path)
	}
	if _, err := gateway.Parse(data, vars); err != nil {
		return nil, fmt.Errorf("--config %q: %w", path, err)
	}
	// The server takes the config as it was written, before $env()
	// resolution, and resolves it itself with the variables sent alongside.
	cfg := &structpb.Struct{}
	if err := protojson.Unmarshal(data, cfg); err != nil {
		return nil, fmt.Errorf("--config %q: not a JSON object: %w", path, err)
	}
	return cfg, nil
}
