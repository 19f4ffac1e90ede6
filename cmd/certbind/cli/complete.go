package cli

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/certbind/certbind/internal/validate"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

// completionTimeout bounds everything a completion asks the API: the shell
// waits for it, so an API out of reach must cost little and print nothing.
const completionTimeout = 1500 * time.Millisecond

type completionFunc = func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective)

// registerCompletions adds the dynamic completions to every command under
// root by the flags it has: certificate names and ids, deployment
// environments, environment types, states, output formats and profiles.
// Certificates and deployments come from the API with the effective URL,
// key, account and project of the command line being completed.
func registerCompletions(root *cobra.Command, getenv func(string) string) {
	c := completer{getenv: getenv}
	fixed := func(values ...string) completionFunc {
		return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return values, cobra.ShellCompDirectiveNoFileComp
		}
	}
	_ = root.RegisterFlagCompletionFunc("output", fixed(string(OutputTable), string(OutputJSON)))
	_ = root.RegisterFlagCompletionFunc("profile", c.profiles)
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		has := func(name string) bool { return cmd.Flags().Lookup(name) != nil }
		register := func(flag string, fn completionFunc) {
			if has(flag) {
				_ = cmd.RegisterFlagCompletionFunc(flag, fn) // each is registered once per command
			}
		}
		if cmd.Name() == "set-profile" {
			cmd.ValidArgsFunction = onlyFirst(c.profiles)
		}
		register("environment-type", fixed(environmentTypeNames()...))
		register("state", fixed("active", "disabled"))
		switch {
		case has("cert-id") && has("name"): // a command on one certificate
			cmd.ValidArgsFunction = onlyFirst(c.certificates(false))
			register("name", c.certificates(false))
			register("cert-id", c.certificates(true))
		case has("environment") && (has("id") || cmd.Name() == "deploy" || cmd.Name() == "list"):
			if has("id") { // a command on one deployment
				cmd.ValidArgsFunction = onlyFirst(c.environments)
			}
			register("environment", c.environments)
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func environmentTypeNames() []string {
	return []string{string(validate.Development), string(validate.Preview), string(validate.Production)}
}

// prepareCompletion runs before cobra completes the words args. Where the
// environment or a profile supplies --account and --project, it stops cobra
// from offering them as required flags ahead of the names being completed.
// It never fails: a completion prints nothing of its own.
func prepareCompletion(root *cobra.Command, getenv func(string) string, args []string) {
	probe := &cobra.Command{}
	probe.Flags().String("profile", "", "")
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--profile="); ok {
			_ = probe.Flags().Set("profile", v)
		} else if a == "--profile" && i+1 < len(args) {
			_ = probe.Flags().Set("profile", args[i+1])
		}
	}
	s, err := resolveSettings(probe, getenv)
	if err != nil {
		return
	}
	supplied := map[string]bool{"account": s.Account.Value != "", "project": s.Project.Value != ""}
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		for name, ok := range supplied {
			if f := cmd.Flags().Lookup(name); ok && f != nil {
				delete(f.Annotations, cobra.BashCompOneRequiredFlag)
			}
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// onlyFirst completes the first positional argument only.
func onlyFirst(fn completionFunc) completionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return fn(cmd, args, toComplete)
	}
}

type completer struct {
	getenv func(string) string
}

// client returns a client with the command line's effective settings and
// a context bounded by completionTimeout, or ok false when they are not
// enough to ask (no account, say); it never prints.
func (c completer) client(cmd *cobra.Command) (ctx context.Context, cancel context.CancelFunc, client *Client, s *settings, ok bool) {
	s, err := resolveSettings(cmd, c.getenv)
	if err != nil || s.Account.Value == "" || s.Project.Value == "" {
		return nil, nil, nil, nil, false
	}
	ctx, cancel = context.WithTimeout(context.Background(), completionTimeout)
	client, err = NewClient(&GlobalOptions{APIURL: s.APIURL.Value, APIKey: s.APIKey.Value, keyCommand: s.KeyCommand, Timeout: completionTimeout})
	if err != nil {
		cancel()
		return nil, nil, nil, nil, false
	}
	return ctx, cancel, client, s, true
}

// certificates completes certificate names (or ids), each described by its
// state and environment types.
func (c completer) certificates(ids bool) completionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		ctx, cancel, client, s, ok := c.client(cmd)
		if !ok {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer cancel()
		certs, err := client.ListAllCertificates(ctx, &certmgrv1.ListCertificatesRequest{Account: s.Account.Value, Project: s.Project.Value})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, cert := range certs {
			value, about := cert.GetName(), cert.GetState()+", "+strings.Join(cert.GetEnvironmentTypes(), ",")
			if ids {
				value, about = cert.GetId(), cert.GetName()+", "+about
			}
			if strings.HasPrefix(value, toComplete) {
				out = append(out, value+"\t"+about)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// environments completes the environments that have a deployment, each
// described by its environment type.
func (c completer) environments(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	ctx, cancel, client, s, ok := c.client(cmd)
	if !ok {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer cancel()
	resp, err := client.ListDeployments(ctx, &deploytrackerv1.ListDeploymentsRequest{Account: s.Account.Value, Project: s.Project.Value})
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, d := range resp.GetDeployments() {
		if strings.HasPrefix(d.GetEnvironment(), toComplete) {
			out = append(out, d.GetEnvironment()+"\t"+d.GetEnvironmentType())
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// profiles completes the profile names of the config file.
func (c completer) profiles(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	path, err := configPath(c.getenv)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	cf, err := loadConfigFile(path)
	if err != nil || cf == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return cf.profileNames(), cobra.ShellCompDirectiveNoFileComp
}
