// Package web is SecureCam's HTTP surface: the REST API under /api/v1 (accounts,
// sessions, devices, device links, WebSocket tickets, commands, events, recordings and
// their clips, notifications, audit logs), Better Auth's email and password routes under
// /api/auth (an adapter over the same account logic, betterauth*.go), /healthz, /readyz,
// /metrics, and the mount point of the hub's /ws handler. [SocketAuth] is the hub's
// authenticator of /ws; built from the same Config and store as the [Server], it checks
// tokens, tickets and origins as the REST API does, so cmd builds it, then the hub on
// it, then the Server that mounts the hub.
//
// Every error a client sees is an RFC 9457 problem document built in one place
// (problem.go) from a typed [*Error] or a store sentinel; under /api/auth it is Better
// Auth's {message, code}, built in one place too (writeBAError). Passwords are hashed in Better
// Auth's scrypt format in a bounded pool; session, device, verification and ticket
// tokens are random and stored only as SHA-256 hashes (sessions also raw while a Better
// Auth server shares the database, Config.BetterAuthShared).
//
// Request bodies are paced (a stalled body is answered 408 and its connection closed),
// and requests on connections that web/connlimit accepted over a cap are answered 429
// or 503 (health checks excepted).
//
// Concurrency: a [Server] is an http.Handler safe for concurrent use by any number of
// requests, and a [SocketAuth] is safe for concurrent use. The Server owns one kind of
// goroutine, the bounded background jobs started by requests (mail sends, and the
// whole of a password-reset request, which is answered before its work);
// [Server.Shutdown] waits for them. Limiters and mailers are safe for concurrent use.
package web
