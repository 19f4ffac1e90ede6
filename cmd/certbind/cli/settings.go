package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Environment variables of the defaults, besides EnvAPIURL and EnvAPIKey.
const (
	EnvAccount = "CERTBIND_ACCOUNT"
	EnvProject = "CERTBIND_PROJECT"
	EnvProfile = "CERTBIND_PROFILE"
	EnvConfig  = "CERTBIND_CONFIG"
)

// setting is one effective value and where it came from, as "certbind
// config view" shows it.
type setting struct {
	Value  string `json:"value,omitempty"`
	Source string `json:"source"`
}

// settings are the effective API URL, key, account and project of a
// command: each from its flag, else its environment variable, else the
// profile, else the built-in default (only the URL has one).
type settings struct {
	ConfigPath string
	Config     *ConfigFile // nil when there is no config file
	Profile    setting     // the profile's name, empty when none applies
	APIURL     setting
	APIKey     setting
	// KeyCommand, when set, prints the key (the profile's
	// api-key-command); it runs only when a command needs the key.
	KeyCommand string
	Account    setting
	Project    setting
}

// resolveSettings works out the settings of cmd from its flags, getenv and
// the config file.
func resolveSettings(cmd *cobra.Command, getenv func(string) string) (*settings, error) {
	s := &settings{}
	var err error
	if s.ConfigPath, err = configPath(getenv); err != nil {
		return nil, err
	}
	if s.Config, err = loadConfigFile(s.ConfigPath); err != nil {
		return nil, err
	}

	s.Profile = pick(cmd.Flag("profile"), getenv(EnvProfile), EnvProfile)
	if s.Profile.Value == "" && s.Config != nil && s.Config.DefaultProfile != "" {
		s.Profile = setting{Value: s.Config.DefaultProfile, Source: "default-profile in " + s.ConfigPath}
	}
	var p Profile
	if name := s.Profile.Value; name != "" {
		if s.Config == nil {
			return nil, fmt.Errorf("profile %q (from %s): there is no config file at %s; create the profile with: certbind config set-profile %s --account A --project P",
				name, s.Profile.Source, s.ConfigPath, name)
		}
		var ok bool
		if p, ok = s.Config.Profiles[name]; !ok {
			return nil, fmt.Errorf("profile %q (from %s) is not in %s (profiles: %s)", name, s.Profile.Source, s.ConfigPath, s.Config.namesList())
		}
	}
	fromProfile := fmt.Sprintf("profile %q", s.Profile.Value)

	s.APIURL = pick(cmd.Flag("api-url"), getenv(EnvAPIURL), EnvAPIURL)
	if s.APIURL.Value == "" {
		s.APIURL = setting{Value: p.APIURL, Source: fromProfile}
		if p.APIURL == "" {
			s.APIURL = setting{Value: DefaultAPIURL, Source: "default"}
		}
	}
	s.APIKey = pick(cmd.Flag("api-key"), getenv(EnvAPIKey), EnvAPIKey)
	if s.APIKey.Value == "" {
		switch {
		case p.APIKey != "":
			s.APIKey = setting{Value: p.APIKey, Source: fromProfile}
		case p.APIKeyCommand != "":
			s.KeyCommand = p.APIKeyCommand
			s.APIKey = setting{Source: fromProfile + " (api-key-command)"}
		default:
			s.APIKey = setting{Source: "not set"}
		}
	}
	s.Account = pickOr(pick(cmd.Flag("account"), getenv(EnvAccount), EnvAccount), p.Account, fromProfile)
	s.Project = pickOr(pick(cmd.Flag("project"), getenv(EnvProject), EnvProject), p.Project, fromProfile)
	return s, nil
}

// pick is the flag's value when it was given, else env's when not empty,
// else an empty setting.
func pick(flag *pflag.Flag, env, envName string) setting {
	if flag != nil && flag.Changed {
		return setting{Value: flag.Value.String(), Source: "flag --" + flag.Name}
	}
	if env != "" {
		return setting{Value: env, Source: "env " + envName}
	}
	return setting{}
}

func pickOr(s setting, profileValue, fromProfile string) setting {
	if s.Value != "" {
		return s
	}
	if profileValue != "" {
		return setting{Value: profileValue, Source: fromProfile}
	}
	return setting{Source: "not set"}
}

// applySettings makes the settings the values cmd runs with: the global
// options, and --account and --project where cmd requires them and they
// were not given (so the required-flag check counts them as given).
func applySettings(cmd *cobra.Command, g *GlobalOptions, s *settings) error {
	g.APIURL = s.APIURL.Value
	g.APIKey = s.APIKey.Value
	g.keyCommand = s.KeyCommand
	for name, v := range map[string]setting{"account": s.Account, "project": s.Project} {
		f := cmd.Flags().Lookup(name)
		if f == nil || f.Changed || !isRequired(f) || v.Value == "" {
			continue
		}
		if err := cmd.Flags().Set(name, v.Value); err != nil {
			return fmt.Errorf("--%s from %s: %w", name, v.Source, err)
		}
	}
	return nil
}

// keyCommandTimeout bounds an api-key-command; a password manager that asks
// for a passphrase gets that long to have it typed.
const keyCommandTimeout = 2 * time.Minute

// runKeyCommand runs a profile's api-key-command and returns the key it
// printed. Its stderr and stdin are the terminal's, so a password manager
// can ask for a passphrase. What it printed is never shown in an error.
func runKeyCommand(ctx context.Context, command string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, keyCommandTimeout)
	defer cancel()
	var cmd *exec.Cmd
	if runtime.GOOS == "windows" {
		cmd = exec.CommandContext(ctx, "cmd", "/C", command)
	} else {
		cmd = exec.CommandContext(ctx, "sh", "-c", command)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &out, os.Stderr, os.Stdin
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("the profile's api-key-command %q failed (%v); run it yourself to see why", command, err)
	}
	key := strings.TrimSpace(out.String())
	switch {
	case key == "":
		return "", fmt.Errorf("the profile's api-key-command %q printed nothing; it should print the API key", command)
	case strings.ContainsAny(key, " \t\r\n"):
		return "", errors.New("the profile's api-key-command printed more than one word; it should print the API key alone")
	}
	return key, nil
}
