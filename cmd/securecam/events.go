package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/securecam/securecam/push"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/blobs"
	"github.com/securecam/securecam/store/reconcile"
	"github.com/securecam/securecam/store/retention"
)

// eventParts are what events, recordings and push need beside signaling: the push
// queue (signaling's Waker and Alerter) and the worker sending its jobs, the recordings
// storage, and the retention and reconcile jobs.
type eventParts struct {
	queue      *push.Queue
	worker     *push.Worker
	recordings *blobs.Set
	// freeSpace reads the free bytes of the data directory's volume, where clips go
	// without S3; reserve is the part of them uploads leave alone.
	freeSpace func() (int64, error)
	reserve   int64
	// vapidPublicKey is the Web Push application server key browsers subscribe with.
	vapidPublicKey string
	retention      *retention.Job
	reconcile      *reconcile.Job
}

// newEventParts builds them from the configuration: APNs and FCM from SECURECAM_APNS_*
// and SECURECAM_FCM_* (the log provider when neither is set), Web Push with the VAPID
// pair of SECURECAM_VAPID_* or the hub's own (made once, kept in the store), clips in the S3 bucket of
// SECURECAM_S3_* (probed now) or under <SECURECAM_DATA_DIR>/recordings, retention of
// SECURECAM_RETENTION_DAYS, and the free-space reserve of SECURECAM_STORAGE_RESERVE_BYTES
// on the data directory's volume.
func newEventParts(ctx context.Context, cfg Config, st store.Store, reg prometheus.Registerer, logger *slog.Logger) (eventParts, error) {
	log := logger.With("component", "push")
	vapid, generated, err := push.LoadVAPID(ctx, st, push.WebPushConfig{PublicKey: cfg.VAPID.PublicKey,
		PrivateKey: cfg.VAPID.PrivateKey, Subject: cfg.VAPID.Subject})
	if err != nil {
		return eventParts{}, fmt.Errorf("web push (SECURECAM_VAPID_*): %w", err)
	}
	if generated {
		log.Info("web push: made this hub's VAPID key pair (kept in the database)", "public_key", vapid.PublicKey)
	}
	provider, err := push.NewProvider(push.Config{
		APNs: push.APNsConfig{KeyFile: cfg.APNs.KeyFile, KeyID: cfg.APNs.KeyID, TeamID: cfg.APNs.TeamID,
			Topic: cfg.APNs.Topic, Endpoint: cfg.APNs.Endpoint},
		FCM: push.FCMConfig{CredentialsFile: cfg.FCM.CredentialsFile, ProjectID: cfg.FCM.ProjectID,
			Endpoint: cfg.FCM.Endpoint},
		WebPush: vapid,
	}, log)
	if err != nil {
		return eventParts{}, fmt.Errorf("push (SECURECAM_APNS_*, SECURECAM_FCM_*, SECURECAM_VAPID_*): %w", err)
	}
	log.Info("push services", "apns", cfg.APNs.Enabled(), "fcm", cfg.FCM.Enabled(), "web_push", true)
	var p eventParts
	p.vapidPublicKey = vapid.PublicKey
	p.worker, err = push.NewWorker(push.WorkerConfig{Store: st, Provider: provider, Logger: log, ID: cfg.NodeID, Registerer: reg})
	if err != nil {
		return eventParts{}, err
	}
	p.queue, err = push.NewQueue(push.QueueConfig{Store: st, WakeInterval: cfg.WakeInterval, Notify: p.worker.Notify, Logger: log})
	if err != nil {
		return eventParts{}, err
	}
	if p.recordings, err = openRecordings(ctx, cfg, logger); err != nil {
		return eventParts{}, err
	}
	dir := recordingsDir(cfg)
	p.freeSpace = func() (int64, error) {
		free, _, err := blobs.FreeSpace(dir)
		return free, err
	}
	p.reserve = cfg.StorageReserveBytes
	if cfg.StorageReservePercent > 0 {
		_, total, err := blobs.FreeSpace(dir)
		if err != nil {
			return eventParts{}, fmt.Errorf("SECURECAM_STORAGE_RESERVE_BYTES: the size of the data directory's volume: %w", err)
		}
		p.reserve = max(int64(float64(total)*cfg.StorageReservePercent/100), 1)
	}
	p.retention, err = retention.New(retention.Config{
		Store:      st,
		Blobs:      p.recordings,
		Recordings: time.Duration(cfg.RetentionDays) * 24 * time.Hour,
		FreeSpace:  p.freeSpace,
		Reserve:    p.reserve,
		Holder:     cfg.NodeID,
		Logger:     logger.With("component", "retention"),
	})
	if err != nil {
		return eventParts{}, err
	}
	p.reconcile, err = reconcile.New(reconcile.Config{
		Store: st,
		Blobs: p.recordings,
		// A data directory is every replica's only in embedded mode (or on a shared
		// volume, which the hub cannot tell apart from a local one).
		MarkMissing: cfg.S3.Enabled() || mode(cfg) == "embedded",
		Holder:      cfg.NodeID,
		Logger:      logger.With("component", "reconcile"),
	})
	if err != nil {
		return eventParts{}, err
	}
	return p, nil
}

// recordingsDir is where clips are stored without S3 (and were before it).
func recordingsDir(cfg Config) string { return filepath.Join(cfg.DataDir, "recordings") }

// probeTimeout bounds the check of the S3 bucket at start.
const probeTimeout = 30 * time.Second

// openRecordings returns where recordings are stored: the S3 bucket when SECURECAM_S3_*
// configures one (checked with a write and a delete), with the data directory still
// serving the clips stored there before; else the data directory alone.
func openRecordings(ctx context.Context, cfg Config, logger *slog.Logger) (*blobs.Set, error) {
	dir := recordingsDir(cfg)
	disk, err := blobs.NewDisk(dir)
	if err != nil {
		return nil, fmt.Errorf("recordings storage under SECURECAM_DATA_DIR (%s): %w", dir, err)
	}
	if !cfg.S3.Enabled() {
		logger.Info("recordings storage", "bucket", disk.Bucket(), "dir", dir)
		return blobs.NewSet(disk)
	}
	bucket, err := openS3(ctx, cfg.S3)
	if err != nil {
		return nil, err
	}
	logger.Info("recordings storage", "bucket", bucket.Bucket(), "endpoint", cfg.S3.Endpoint, "legacy_dir", dir)
	return blobs.NewSet(bucket, disk)
}

// openS3 returns the configured bucket after checking it can be used.
func openS3(ctx context.Context, c S3Config) (*blobs.S3, error) {
	bucket, err := blobs.NewS3(ctx, blobs.S3Config{Endpoint: c.Endpoint, PublicEndpoint: c.PublicEndpoint, Bucket: c.Bucket,
		Region: c.Region, AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, PathStyle: c.PathStyle})
	if err != nil {
		return nil, fmt.Errorf("recordings storage (SECURECAM_S3_*): %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if err := bucket.Probe(pctx); err != nil {
		return nil, fmt.Errorf("recordings storage (SECURECAM_S3_*): %w", err)
	}
	return bucket, nil
}
