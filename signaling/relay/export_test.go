package relay

// SetPanicHook makes every goroutine of r's sessions call hook on each turn of
// its loop: a hook that panics injects a panic there. Call it before the first
// session.
func SetPanicHook(r *Relay, hook func(goroutine string, s *Session)) { r.panicHook = hook }
