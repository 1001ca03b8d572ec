package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/vigilhq/vigil/internal/logging"
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
