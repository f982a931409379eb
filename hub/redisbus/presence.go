package redisbus

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/securecam/securecam/hub"
)

// PresenceConfig configures a [Presence] registry.
type PresenceConfig struct {
	// Prefix is put before every key name. Default "securecam:".
	Prefix string
	// TTL: an entry not refreshed for this long is expired. Default 30 s. The hub's
	// PresenceRefreshInterval must be well below it.
	TTL time.Duration
	// LeaseTTL is how long the sweep lease lasts without renewal. Default: TTL.
	LeaseTTL time.Duration
	// SweepBatch bounds the entries one sweep removes. Default 1000.
	SweepBatch int
}

// Presence is a [hub.Presence] registry in Redis: a hash (device → node) and a sorted
// set (device → last refresh), timed with the Redis server's clock so replicas' clocks
// do not matter.
type Presence struct {
	rdb   redis.UniversalClient
	cfg   PresenceConfig
	keys  []string // node hash, seen zset, lease
	ttlMS string
}

// NewPresence returns a registry on rdb.
func NewPresence(rdb redis.UniversalClient, cfg PresenceConfig) *Presence {
	if cfg.Prefix == "" {
		cfg.Prefix = "securecam:"
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 30 * time.Second
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = cfg.TTL
	}
	if cfg.SweepBatch <= 0 {
		cfg.SweepBatch = 1000
	}
	return &Presence{
		rdb:   rdb,
		cfg:   cfg,
		keys:  []string{cfg.Prefix + "presence:node", cfg.Prefix + "presence:seen", cfg.Prefix + "presence:lease"},
		ttlMS: strconv.FormatInt(cfg.TTL.Milliseconds(), 10),
	}
}

const luaNow = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// KEYS: node hash, seen zset. ARGV: device, node.
var addScript = redis.NewScript(luaNow + `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
return 1`)

// KEYS: node hash, seen zset. ARGV: device, node.
var removeScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1`)

// KEYS: node hash, seen zset. ARGV: node, devices…
var refreshScript = redis.NewScript(luaNow + `
for i = 2, #ARGV do
  local owner = redis.call('HGET', KEYS[1], ARGV[i])
  if not owner or owner == ARGV[1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[1])
    redis.call('ZADD', KEYS[2], now, ARGV[i])
  end
end
return 1`)

// KEYS: seen zset. ARGV: ttl ms, devices… Returns 1/0 per device.
var onlineScript = redis.NewScript(luaNow + `
local cutoff = now - tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if s and tonumber(s) > cutoff then out[i-1] = 1 else out[i-1] = 0 end
end
return out`)

// KEYS: node hash, seen zset, lease. ARGV: node, lease ms, ttl ms, batch.
// Returns {device, score, device, score, …} of the removed entries, or {} when another
// node holds the lease.
var sweepScript = redis.NewScript(luaNow + `
local holder = redis.call('GET', KEYS[3])
if not holder then
  redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2])
elseif holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
else
  return {}
end
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[3]), 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[4]))
for i = 1, #ids, 2 do
  redis.call('ZREM', KEYS[2], ids[i])
  redis.call('HDEL', KEYS[1], ids[i])
end
return ids`)

// Add implements [hub.Presence].
func (p *Presence) Add(ctx context.Context, deviceID, node string) error {
	if err := addScript.Run(ctx, p.rdb, p.keys[:2], deviceID, node).Err(); err != nil {
		return fmt.Errorf("redisbus: presence add: %w", err)
	}
	return nil
}

// Remove implements [hub.Presence].
func (p *Presence) Remove(ctx context.Context, deviceID, node string) (bool, error) {
	n, err := removeScript.Run(ctx, p.rdb, p.keys[:2], deviceID, node).Int()
	if err != nil {
		return false, fmt.Errorf("redisbus: presence remove: %w", err)
	}
	return n == 1, nil
}

const refreshBatch = 500

// Refresh implements [hub.Presence].
func (p *Presence) Refresh(ctx context.Context, node string, deviceIDs []string) error {
	for len(deviceIDs) > 0 {
		n := min(len(deviceIDs), refreshBatch)
		args := make([]any, 0, 1+n)
		args = append(args, node)
		for _, id := range deviceIDs[:n] {
			args = append(args, id)
		}
		if err := refreshScript.Run(ctx, p.rdb, p.keys[:2], args...).Err(); err != nil {
			return fmt.Errorf("redisbus: presence refresh: %w", err)
		}
		deviceIDs = deviceIDs[n:]
	}
	return nil
}

// Online implements [hub.Presence].
func (p *Presence) Online(ctx context.Context, deviceIDs []string) ([]bool, error) {
	out := make([]bool, 0, len(deviceIDs))
	for len(deviceIDs) > 0 {
		n := min(len(deviceIDs), refreshBatch)
		args := make([]any, 0, 1+n)
		args = append(args, p.ttlMS)
		for _, id := range deviceIDs[:n] {
			args = append(args, id)
		}
		res, err := onlineScript.Run(ctx, p.rdb, p.keys[1:2], args...).Int64Slice()
		if err != nil {
			return nil, fmt.Errorf("redisbus: presence online: %w", err)
		}
		for _, v := range res {
			out = append(out, v == 1)
		}
		deviceIDs = deviceIDs[n:]
	}
	return out, nil
}

// Sweep implements [hub.Presence]: when node holds (or takes) the lease, it removes up
// to SweepBatch expired entries.
func (p *Presence) Sweep(ctx context.Context, node string) ([]hub.Expired, error) {
	res, err := sweepScript.Run(ctx, p.rdb, p.keys, node,
		p.cfg.LeaseTTL.Milliseconds(), p.ttlMS, p.cfg.SweepBatch).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redisbus: presence sweep: %w", err)
	}
	var out []hub.Expired
	for i := 0; i+1 < len(res); i += 2 {
		ms, err := strconv.ParseFloat(res[i+1], 64)
		if err != nil {
			return out, fmt.Errorf("redisbus: presence sweep: score %q: %w", res[i+1], err)
		}
		out = append(out, hub.Expired{DeviceID: res[i], LastSeen: time.UnixMilli(int64(ms)).UTC()})
	}
	return out, nil
}

// Ready implements [hub.Presence].
func (p *Presence) Ready(ctx context.Context) error {
	if err := p.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisbus: presence: %w", err)
	}
	return nil
}

// Close implements [hub.Presence]; the Redis client stays open.
func (p *Presence) Close() error { return nil }
