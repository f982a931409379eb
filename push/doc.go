// Package push sends SecureCam's push notifications: wake-ups that make an offline phone
// connect (data/background pushes) and motion-event alerts for viewers.
//
// [NewProvider] builds one [Provider] from [Config]: Apple Push Notification service
// (token auth with a .p8 key, through github.com/sideshow/apns2) for "ios" devices and
// Firebase Cloud Messaging (HTTP v1 with a service account, through
// firebase.google.com/go/v4/messaging) for "android" devices. With neither configured every
// push goes to a log provider that logs it and succeeds, so the delivery flow still runs
// and is visible. The payloads are those of the "Push payloads" section of the wire
// contract; [Message] documents the exact encodings.
//
// A provider makes one attempt per Send and never sleeps or retries on its own (the FCM
// client library retries a 503 or a network error inside the call, within the send
// deadline). The delivery worker decides what happens next with [Classify] (retry, clear
// the device's push token, or give up) and [Backoff] (when to retry).
//
// Concurrency: a Provider is safe for concurrent use by any number of goroutines. Send
// blocks until the push service answered, the context ended, or the per-send deadline
// (10 s) passed, whichever comes first; it starts no goroutine that outlives the call. The
// APNs provider keeps its HTTP/2 connection and its signed provider token (refreshed every
// 50 minutes) across sends; the FCM provider keeps its HTTP connections and OAuth2 access
// token. Message is a plain value.
package push
