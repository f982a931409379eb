// Command securecam is the SecureCam Hub server: one binary for the embedded single-node
// mode (SQLite, in-process bus) and the cluster mode (PostgreSQL, Redis), configured by
// SECURECAM_* environment variables and an optional YAML file (see config.go and
// docs/configuration.md).
//
// main only loads configuration and wires packages together; it holds no logic of its own.
// It is the only place that sets the default slog logger.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

const usage = `usage: securecam [command]

commands:
  serve     run the hub (the default when no command is given)
  migrate   apply the database schema migrations and exit
  migrate-blobs
            move the recordings of the data directory into the S3 bucket of SECURECAM_S3_*
            (resumable; hubs may keep running)
  sim       run a simulated camera or viewer against a hub (securecam sim camera|viewer -h)
  bench     measure connections, routing, commands and live-view setup (securecam bench -h)
  healthcheck
            exit 0 if the hub on this machine is ready (GET /readyz on SECURECAM_HTTP_ADDR),
            else 1: for container health checks
  version   print the version and exit

Configuration comes from SECURECAM_* environment variables, optionally backed by the
YAML file named in SECURECAM_CONFIG; see docs/configuration.md.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one subcommand and returns the process exit code: 0 on success, 1 when the
// command failed, 2 for a usage error.
func run(ctx context.Context, args []string, getenv func(string) string, environ []string, stdout, stderr io.Writer) int {
	name := "serve"
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	var cmd func(context.Context, func(string) string, []string, io.Writer) error
	switch name {
	case "serve":
		cmd = serve
	case "migrate":
		cmd = migrate
	case "migrate-blobs":
		cmd = migrateBlobs
	case "healthcheck":
		cmd = healthcheck
	case "sim":
		return simCmd(ctx, args, getenv, stdout, stderr)
	case "bench":
		return benchCmd(ctx, args, stdout, stderr)
	case "version":
		cmd = func(context.Context, func(string) string, []string, io.Writer) error {
			_, err := fmt.Fprintf(stdout, "securecam %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		}
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "securecam: unknown command %q\n\n%s", name, usage)
		return 2
	}
	if len(args) == 1 && isHelp(args[0]) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if len(args) > 0 {
		fmt.Fprintf(stderr, "securecam %s: unexpected arguments %q\n\n%s", name, args, usage)
		return 2
	}
	if err := cmd(ctx, getenv, environ, stderr); err != nil {
		fmt.Fprintf(stderr, "securecam: %v\n", err)
		return 1
	}
	return 0
}

// setup loads the configuration and installs the process logger (writing to logOut) as
// the default, warning about SECURECAM_* variables that configure nothing.
func setup(getenv func(string) string, environ []string, logOut io.Writer) (Config, *slog.Logger, error) {
	cfg, err := Load(getenv)
	if err != nil {
		return Config{}, nil, err
	}
	logger := newLogger(logOut, cfg)
	slog.SetDefault(logger)
	for _, name := range unknownEnv(environ) {
		logger.Warn("unknown configuration variable ignored", "name", name)
	}
	return cfg, logger, nil
}

func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help":
		return true
	}
	return false
}
