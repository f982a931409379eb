// Package push sends SecureCam's push notifications: wake-ups that make an offline phone
// connect (data/background pushes) and motion-event alerts for viewers.
//
// [NewProvider] builds one [Provider] from [Config]: Apple Push Notification service
// (token auth with a .p8 key, through github.com/sideshow/apns2) for "ios" devices and
// Firebase Cloud Messaging (HTTP v1 with a service account, through
// firebase.google.com/go/v4/messaging) for "android" devices, and Web Push with VAPID
// (RFC 8030, 8291, 8292, through github.com/SherClockHolmes/webpush-go) for "web" devices,
// whose push token is the browser's push subscription. [LoadVAPID] gives the hub its VAPID
// key pair: configured, or generated once and kept in the store for every replica. With
// neither APNs nor FCM configured every phone push goes to a log provider that logs it
// and succeeds, so the delivery flow still runs and is visible. The payloads are those of the "Push payloads" section of the wire
// contract; [Message] documents the exact encodings.
//
// A provider makes one attempt per Send and never sleeps or retries on its own (the FCM
// client library retries a 503 or a network error inside the call, within the send
// deadline). The delivery worker decides what happens next with [Classify] (retry, clear
// the device's push token, or give up) and [Backoff] (when to retry).
//
// Pushes go out through a durable queue, the notification_deliveries table. A [Queue]
// puts jobs in it: wake-ups for offline devices (at most one per device per wake
// interval, across replicas) and event alerts for offline viewers. A [Worker] claims due
// jobs (any number of workers on any number of replicas share the queue; each attempt is
// made by one of them), sends them, and records every attempt: sent, retried later with
// backoff, failed (a dead token is also cleared from its device), or expired.
//
// Concurrency: a Provider is safe for concurrent use by any number of goroutines. Send
// blocks until the push service answered, the context ended, or the per-send deadline
// (10 s) passed, whichever comes first; it starts no goroutine that outlives the call. The
// APNs provider keeps its HTTP/2 connection and its signed provider token (refreshed every
// 50 minutes) across sends; the FCM provider keeps its HTTP connections and OAuth2 access
// token. Message is a plain value. A Queue is safe for concurrent use. A Worker's Run
// owns the worker's goroutines (at most Concurrency sends at a time) and waits for them
// before it returns; Notify may be called from any goroutine.
package push
