package main

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/securecam/securecam/push"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/blobs"
	"github.com/securecam/securecam/store/retention"
)

// eventParts are what events, recordings and push need beside signaling: the push
// queue (signaling's Waker and Alerter) and the worker sending its jobs, the recordings
// storage and the retention job.
type eventParts struct {
	queue      *push.Queue
	worker     *push.Worker
	recordings *blobs.Disk
	retention  *retention.Job
}

// newEventParts builds them from the configuration: APNs and FCM from SECURECAM_APNS_*
// and SECURECAM_FCM_* (the log provider when neither is set), clips under
// <SECURECAM_DATA_DIR>/recordings, retention of SECURECAM_RETENTION_DAYS.
func newEventParts(cfg Config, st store.Store, reg prometheus.Registerer, logger *slog.Logger) (eventParts, error) {
	log := logger.With("component", "push")
	provider, err := push.NewProvider(push.Config{
		APNs: push.APNsConfig{KeyFile: cfg.APNs.KeyFile, KeyID: cfg.APNs.KeyID, TeamID: cfg.APNs.TeamID,
			Topic: cfg.APNs.Topic, Endpoint: cfg.APNs.Endpoint},
		FCM: push.FCMConfig{CredentialsFile: cfg.FCM.CredentialsFile, ProjectID: cfg.FCM.ProjectID,
			Endpoint: cfg.FCM.Endpoint},
	}, log)
	if err != nil {
		return eventParts{}, fmt.Errorf("push (SECURECAM_APNS_*, SECURECAM_FCM_*): %w", err)
	}
	log.Info("push services", "apns", cfg.APNs.Enabled(), "fcm", cfg.FCM.Enabled())
	var p eventParts
	p.worker, err = push.NewWorker(push.WorkerConfig{Store: st, Provider: provider, Logger: log, ID: cfg.NodeID, Registerer: reg})
	if err != nil {
		return eventParts{}, err
	}
	p.queue, err = push.NewQueue(push.QueueConfig{Store: st, WakeInterval: cfg.WakeInterval, Notify: p.worker.Notify, Logger: log})
	if err != nil {
		return eventParts{}, err
	}
	dir := filepath.Join(cfg.DataDir, "recordings")
	if p.recordings, err = blobs.NewDisk(dir); err != nil {
		return eventParts{}, fmt.Errorf("recordings storage under SECURECAM_DATA_DIR (%s): %w", dir, err)
	}
	p.retention, err = retention.New(retention.Config{
		Store:      st,
		Blobs:      p.recordings,
		Recordings: time.Duration(cfg.RetentionDays) * 24 * time.Hour,
		Holder:     cfg.NodeID,
		Logger:     logger.With("component", "retention"),
	})
	if err != nil {
		return eventParts{}, err
	}
	return p, nil
}
