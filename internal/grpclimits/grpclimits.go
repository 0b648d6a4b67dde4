// Package grpclimits holds the limits every cartstream gRPC server sets on
// its connections: how many streams one connection may hold open at once
// (HTTP/2 MAX_CONCURRENT_STREAMS), how the server probes a silent peer
// (keepalive pings), and how often a client may ping (keepalive
// enforcement; a client pinging more often is sent GOAWAY
// ENHANCE_YOUR_CALM "too_many_pings" and disconnected).
//
// grpc-go's own defaults are unbounded streams and no server pings for two
// hours: one client could hold any number of WatchCart streams, and a
// peer that vanished without a FIN would keep its streams until the
// kernel gives up on the socket.
package grpclimits

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Defaults of Limits.
const (
	// DefaultMaxConcurrentStreams is per connection. A browser or a
	// storefront server holds a few calls and watches at once; a client
	// that multiplexes many users on one connection (a proxy, a gateway in
	// front of a projection) needs a higher limit or more connections: the
	// calls beyond it wait for a free stream, they are not refused.
	DefaultMaxConcurrentStreams = 1024
	// DefaultKeepaliveTime: the server pings a connection silent this long.
	DefaultKeepaliveTime = time.Minute
	// DefaultKeepaliveTimeout: a ping unanswered this long closes the
	// connection and ends its calls.
	DefaultKeepaliveTimeout = 20 * time.Second
	// DefaultMinPingInterval is the shortest interval at which a client may
	// ping, with or without calls in flight; grpc-go clients cannot ping
	// more often than every 10 s anyway.
	DefaultMinPingInterval = 10 * time.Second
	// ServerStreamWindow and ServerConnWindow are the static HTTP/2
	// flow-control windows (a stream's, a connection's) in which a
	// cartstream server receives requests (see ServerOptions): above the
	// servers' 64 KiB request cap, and no more unread data per connection
	// than a few requests in flight could need.
	ServerStreamWindow = 128 << 10
	ServerConnWindow   = 1 << 20
	// ClientStreamWindow and ClientConnWindow are the windows in which the
	// gateway receives the projections' answers (ClientWindows): on a LAN
	// 1 MiB a stream is a full link at any realistic round trip.
	ClientStreamWindow = 1 << 20
	ClientConnWindow   = 4 << 20
)

// Limits of a gRPC server's connections. The zero value means the
// defaults.
type Limits struct {
	// MaxConcurrentStreams per connection; default
	// DefaultMaxConcurrentStreams.
	MaxConcurrentStreams uint32
	// KeepaliveTime and KeepaliveTimeout: see DefaultKeepaliveTime and
	// DefaultKeepaliveTimeout.
	KeepaliveTime    time.Duration
	KeepaliveTimeout time.Duration
	// MinPingInterval: see DefaultMinPingInterval.
	MinPingInterval time.Duration
}

// WithDefaults fills the zero fields.
func (l Limits) WithDefaults() Limits {
	if l.MaxConcurrentStreams == 0 {
		l.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if l.KeepaliveTime == 0 {
		l.KeepaliveTime = DefaultKeepaliveTime
	}
	if l.KeepaliveTimeout == 0 {
		l.KeepaliveTimeout = DefaultKeepaliveTimeout
	}
	if l.MinPingInterval == 0 {
		l.MinPingInterval = DefaultMinPingInterval
	}
	return l
}

// Validate reports every problem at once.
func (l Limits) Validate() error {
	var errs []error
	if l.KeepaliveTime < 0 || l.KeepaliveTimeout < 0 || l.MinPingInterval < 0 {
		errs = append(errs, errors.New("grpc limits: keepalive durations must not be negative"))
	}
	if l.KeepaliveTime > 0 && l.KeepaliveTime < time.Second {
		errs = append(errs, fmt.Errorf("grpc limits: keepalive time %v: grpc-go pings at most every second", l.KeepaliveTime))
	}
	return errors.Join(errs...)
}

// ServerOptions are the grpc.ServerOptions that apply l (after defaults).
func (l Limits) ServerOptions() []grpc.ServerOption {
	l = l.WithDefaults()
	return []grpc.ServerOption{
		grpc.MaxConcurrentStreams(l.MaxConcurrentStreams),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: l.KeepaliveTime, Timeout: l.KeepaliveTimeout}),
		// Clients may keep an idle connection alive (a gateway's connection
		// to its projection often is), but not ping faster than allowed.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: l.MinPingInterval, PermitWithoutStream: true}),
		// Static windows turn off grpc-go's bandwidth-delay estimator,
		// which answers a DATA frame received with a PING (and its peer
		// with the ACK) whenever no probe is in flight: with small
		// sequential calls that is a ping and a pong, two more writes
		// and wake-ups, per call. The estimator's window only ever grows
		// for transfers far larger than a request.
		grpc.InitialWindowSize(ServerStreamWindow),
		grpc.InitialConnWindowSize(ServerConnWindow),
	}
}

// ClientWindows are the dial options of a cartstream client of a
// cartstream server (the gateway's connections to the projections):
// static windows for the answers it receives, so no PING per answer
// either (see ServerOptions).
func ClientWindows() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithInitialWindowSize(ClientStreamWindow), grpc.WithInitialConnWindowSize(ClientConnWindow)}
}

// ClientKeepalive is what a cartstream client of a cartstream server (a
// gateway calling its projection) sends: pings often enough to notice a
// dead server within about a minute, never faster than the server allows.
func ClientKeepalive() keepalive.ClientParameters {
	return keepalive.ClientParameters{Time: 3 * DefaultMinPingInterval, Timeout: DefaultKeepaliveTimeout, PermitWithoutStream: true}
}
