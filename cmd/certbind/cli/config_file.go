package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/certbind/certbind/internal/validate"
)

// maxConfigFileBytes bounds the config file; a few profiles take a few
// hundred bytes.
const maxConfigFileBytes = 1 << 20

// ConfigFile is the CLI's config file: named profiles of defaults. It lives
// at os.UserConfigDir()/certbind/config.json (CERTBIND_CONFIG overrides the
// path), for example:
//
//	{
//	  "default-profile": "acme",
//	  "profiles": {
//	    "acme": {"api-url": "https://certbind.example.com", "account": "acme", "project": "shop",
//	             "api-key-command": "pass show certbind/acme"}
//	  }
//	}
type ConfigFile struct {
	// DefaultProfile is the profile used when neither --profile nor
	// CERTBIND_PROFILE names one.
	DefaultProfile string             `json:"default-profile,omitempty"`
	Profiles       map[string]Profile `json:"profiles"`
}

// Profile is one named set of defaults. Each value applies only where
// neither the flag nor its environment variable gives one.
type Profile struct {
	APIURL  string `json:"api-url,omitempty"`
	Account string `json:"account,omitempty"`
	Project string `json:"project,omitempty"`
	// APIKey is the key itself; APIKeyCommand is a command (run with sh -c)
	// that prints it, so that the key can stay in a password manager. At
	// most one of the two is set.
	APIKey        string `json:"api-key,omitempty"`
	APIKeyCommand string `json:"api-key-command,omitempty"`
}

// parseConfigFile decodes and checks a config file. Unknown keys are
// refused, so that a misspelt "acount" is not silently ignored.
func parseConfigFile(data []byte) (*ConfigFile, error) {
	if len(data) > maxConfigFileBytes {
		return nil, fmt.Errorf("it is over %d KiB; is it the right file?", maxConfigFileBytes>>10)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var cf ConfigFile
	if err := dec.Decode(&cf); err != nil {
		return nil, fmt.Errorf("not a config file: %v (it is JSON: {\"profiles\": {\"NAME\": {\"account\": ...}}})", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("not a config file: more than one JSON value")
	}
	if cf.Profiles == nil {
		cf.Profiles = map[string]Profile{}
	}
	for _, name := range cf.profileNames() {
		if err := checkProfileName(name); err != nil {
			return nil, err
		}
		if err := cf.Profiles[name].check(); err != nil {
			return nil, fmt.Errorf("profile %q: %w", name, err)
		}
	}
	if cf.DefaultProfile != "" {
		if _, ok := cf.Profiles[cf.DefaultProfile]; !ok {
			return nil, fmt.Errorf("default-profile %q is not one of the profiles (%s)", cf.DefaultProfile, cf.namesList())
		}
	}
	return &cf, nil
}

// checkProfileName allows 1 to 64 lowercase letters, digits, '-' and '_',
// starting with a letter or digit.
func checkProfileName(name string) error {
	ok := name != "" && len(name) <= 64
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '-' || c == '_')
	}
	if !ok {
		return fmt.Errorf("profile name %s is not valid: use 1 to 64 lowercase letters, digits, '-' or '_', e.g. \"acme-prod\"", validate.Quote(name))
	}
	return nil
}

func (p Profile) check() error {
	if p.APIURL != "" {
		if err := checkAPIURL(p.APIURL); err != nil {
			return fmt.Errorf("api-url: %w", err)
		}
	}
	if p.Account != "" {
		if err := validate.Account(p.Account); err != nil {
			return fmt.Errorf("account: %w", err)
		}
	}
	if p.Project != "" {
		if err := validate.Project(p.Project); err != nil {
			return fmt.Errorf("project: %w", err)
		}
	}
	if p.APIKey != "" && p.APIKeyCommand != "" {
		return errors.New("has both api-key and api-key-command; keep one")
	}
	if strings.ContainsAny(p.APIKey, " \t\r\n") {
		return errors.New("api-key has white space in it; paste the key alone")
	}
	return nil
}

// checkAPIURL accepts an http:// or https:// URL without a query.
func checkAPIURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s is not an http:// or https:// URL (e.g. %s)", validate.Quote(s), DefaultAPIURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s must not have a query or fragment (e.g. %s)", validate.Quote(s), DefaultAPIURL)
	}
	return nil
}

func (cf *ConfigFile) profileNames() []string {
	names := make([]string, 0, len(cf.Profiles))
	for name := range cf.Profiles {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func (cf *ConfigFile) namesList() string {
	if len(cf.Profiles) == 0 {
		return "there are none"
	}
	return strings.Join(cf.profileNames(), ", ")
}

// configPath is where the config file is: $CERTBIND_CONFIG, or
// certbind/config.json under the user's config directory.
func configPath(getenv func(string) string) (string, error) {
	if p := getenv(EnvConfig); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no config directory for the profiles (%v); set %s to the config file's path", err, EnvConfig)
	}
	return filepath.Join(dir, "certbind", "config.json"), nil
}

// loadConfigFile reads the config file at path; a file that does not exist
// is no error and gives nil. A file that group or others may read or write
// is refused: it may hold an API key, or a command that this CLI runs.
func loadConfigFile(path string) (*ConfigFile, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	if info.IsDir() {
		return nil, fmt.Errorf("config file %s is a directory; it should be a file (or set %s)", path, EnvConfig)
	}
	if err := checkPrivateMode(path, info.Mode()); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	cf, err := parseConfigFile(data)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return cf, nil
}

// checkPrivateMode refuses a file that anyone but its owner may use.
func checkPrivateMode(path string, mode fs.FileMode) error {
	if mode.Perm()&0o077 != 0 {
		return fmt.Errorf("config file %s has mode %04o: others may read it, and it may hold an API key; run: chmod 600 %s",
			path, mode.Perm(), path)
	}
	return nil
}

// writeConfigFile writes cf to path with mode 0600, through a temporary
// file renamed into place, so that a crash leaves the old file or the new
// one, never half of one. The directory is created 0700 when missing.
func writeConfigFile(path string, cf *ConfigFile) error {
	data, err := json.MarshalIndent(cf, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".config-*.json") // 0600
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	return nil
}
