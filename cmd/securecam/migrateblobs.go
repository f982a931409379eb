package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/securecam/securecam/store/blobs"
	"github.com/securecam/securecam/store/migrateblobs"
)

// migrateBlobs moves the recordings stored in the data directory into the S3 bucket of
// SECURECAM_S3_*, switching their rows; it may run while hubs serve, and again after an
// interruption.
func migrateBlobs(ctx context.Context, getenv func(string) string, environ []string, logOut io.Writer) error {
	cfg, logger, err := setup(getenv, environ, logOut)
	if err != nil {
		return err
	}
	if !cfg.S3.Enabled() {
		return errors.New("migrate-blobs copies the recordings of the data directory into an S3 bucket: set SECURECAM_S3_BUCKET (and the other SECURECAM_S3_* variables of docs/configuration.md) to that bucket")
	}
	st, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	dir := filepath.Join(cfg.DataDir, "recordings")
	disk, err := blobs.NewDisk(dir)
	if err != nil {
		return fmt.Errorf("recordings under SECURECAM_DATA_DIR (%s): %w", dir, err)
	}
	bucket, err := openS3(ctx, cfg.S3)
	if err != nil {
		return err
	}
	res, err := migrateblobs.Run(ctx, migrateblobs.Config{Store: st, From: disk, To: bucket, Logger: logger})
	if err != nil {
		return fmt.Errorf("migrate-blobs stopped after moving %d of %d recordings (run it again to go on): %w", res.Moved, res.Total, err)
	}
	return nil
}
