package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/vigilhq/vigil/internal/serve"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("c", "", "config file (vigil.yaml); without one, the defaults apply")
	var ruleFiles listFlag
	fs.Var(&ruleFiles, "rules", "rules file or directory, overriding the config (repeatable)")
	listen := fs.String("listen", "", "HTTP listen address, overriding the config (default 127.0.0.1:8080)")
	dataDir := fs.String("data", "", "data directory, overriding the config (default ./data)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vigil serve [-c vigil.yaml] [--rules DIR] [--listen ADDR] [--data DIR]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := serve.LoadConfig(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "vigil serve: config: %v\n", err)
		return 1
	}
	if len(ruleFiles) > 0 {
		cfg.Rules = ruleFiles
	}
	if *listen != "" {
		cfg.HTTP.Listen = *listen
	}
	if *dataDir != "" {
		if cfg.Store.Path == filepath.Join(cfg.DataDir, "alerts.db") { // derived: follow --data
			cfg.Store.Path = filepath.Join(*dataDir, "alerts.db")
		}
		if cfg.Checkpoint.Dir == filepath.Join(cfg.DataDir, "checkpoints") {
			cfg.Checkpoint.Dir = filepath.Join(*dataDir, "checkpoints")
		}
		cfg.DataDir = *dataDir
	}
	logger := newLogger(stderr, cfg.Logging)
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

func newLogger(w io.Writer, cfg serve.LoggingConfig) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
