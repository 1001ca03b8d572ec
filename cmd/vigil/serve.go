package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/vigilhq/vigil/internal/logging"
	"github.com/vigilhq/vigil/internal/serve"
)

func init() { addCommand(newServeCmd) }

type serveFlags struct {
	config, listen, dataDir string
	rules                   []string
	allowEmpty              bool
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve [--rules DIR] [-c vigil.yaml]",
		Short: "run the service: HTTP/Kafka in, alerts to sinks and the embedded store",
		Long: `serve runs vigil as a service: events in over HTTP (POST /v1/events) and
Kafka, alerts out to stdout, the embedded store and the configured sinks,
alert history at GET /v1/alerts. Without a config file the defaults apply:
HTTP on 127.0.0.1:8080, rules from ./rules, data under ./data.`,
		Example: `  vigil serve --rules examples/rules
  vigil serve -c examples/vigil.yaml --listen :8181`,
		Args: noArgs("name rules files with --rules and a config with -c"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return exitCode(runServe(cmd.Context(), f, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&f.config, "config", "c", "", "config file (vigil.yaml); without one, the defaults apply")
	listFlag(fs, &f.rules, "rules", "r", "rules file or directory, overriding the config (repeatable)")
	fs.StringVar(&f.listen, "listen", "", "HTTP listen address, overriding the config (default 127.0.0.1:8080)")
	fs.StringVar(&f.dataDir, "data", "", "data directory, overriding the config (default ./data)")
	fs.BoolVar(&f.allowEmpty, "allow-empty", false, "start even when no rule is loaded (otherwise an error: the rules path is nearly always wrong)")
	return cmd
}

func runServe(ctx context.Context, f serveFlags, stdout, stderr io.Writer) int {
	cfg, err := serve.LoadConfig(f.config)
	if err != nil {
		fmt.Fprintf(stderr, "vigil serve: config: %v\n", err)
		return 1
	}
	if len(f.rules) > 0 {
		cfg.Rules = f.rules
	}
	if f.allowEmpty {
		cfg.AllowEmptyRules = true
	}
	if f.listen != "" {
		cfg.HTTP.Listen = f.listen
	}
	if f.dataDir != "" {
		if cfg.Store.Path == filepath.Join(cfg.DataDir, "alerts.db") { // derived: follow --data
			cfg.Store.Path = filepath.Join(f.dataDir, "alerts.db")
		}
		if cfg.Checkpoint.Dir == filepath.Join(cfg.DataDir, "checkpoints") {
			cfg.Checkpoint.Dir = filepath.Join(f.dataDir, "checkpoints")
		}
		cfg.DataDir = f.dataDir
	}
	logger, err := logging.New(stderr, logging.Options{Level: cfg.Logging.Level, Format: cfg.Logging.Format})
	if err != nil {
		fmt.Fprintf(stderr, "vigil serve: config: %v\n", err)
		return 1
	}
	svc, err := serve.New(cfg, logger, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "vigil serve: %v\n", err)
		return 1
	}
	fmt.Fprint(stderr, svc.Describe())
	if err := svc.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "vigil serve: %v\n", err)
		return 1
	}
	return 0
}
