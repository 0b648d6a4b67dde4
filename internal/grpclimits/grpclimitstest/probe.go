// Package grpclimitstest checks a gRPC server's connection limits from
// the wire: a raw HTTP/2 client reads what the server announces (SETTINGS),
// sees its keepalive pings and its GOAWAY. Tests only.
package grpclimitstest

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// Conn is a raw HTTP/2 client connection to a gRPC server. It opens no
// stream; every read is bounded by a deadline.
type Conn struct {
	tb testing.TB
	c  net.Conn
	fr *http2.Framer
	// settings is the server's first SETTINGS frame, once read.
	settings map[http2.SettingID]uint32
}

// Dial connects to addr and sends the client preface and empty SETTINGS.
// The connection is closed when the test ends.
func Dial(tb testing.TB, addr string) *Conn {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	fr := http2.NewFramer(c, c)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		tb.Fatalf("preface: %v", err)
	}
	if err := fr.WriteSettings(); err != nil {
		tb.Fatalf("settings: %v", err)
	}
	return &Conn{tb: tb, c: c, fr: fr}
}

// next reads one frame before deadline; nil when the deadline passed.
// It acknowledges the server's SETTINGS and remembers the first.
func (c *Conn) next(deadline time.Time) http2.Frame {
	c.tb.Helper()
	_ = c.c.SetReadDeadline(deadline)
	f, err := c.fr.ReadFrame()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	if err != nil {
		c.tb.Fatalf("read frame: %v", err)
	}
	if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
		if c.settings == nil {
			c.settings = map[http2.SettingID]uint32{}
			_ = s.ForeachSetting(func(s http2.Setting) error { c.settings[s.ID] = s.Val; return nil })
		}
		if err := c.fr.WriteSettingsAck(); err != nil {
			c.tb.Fatalf("settings ack: %v", err)
		}
	}
	return f
}

// MaxConcurrentStreams is what the server's SETTINGS announce; ok is false
// when they do not name it (grpc-go's default: unlimited).
func (c *Conn) MaxConcurrentStreams() (n uint32, ok bool) {
	c.tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for c.settings == nil {
		if c.next(deadline) == nil {
			c.tb.Fatal("no SETTINGS from the server within 5s")
		}
	}
	n, ok = c.settings[http2.SettingMaxConcurrentStreams]
	return n, ok
}

// AwaitServerPing reports whether the server sends a PING (not an ACK)
// within d.
func (c *Conn) AwaitServerPing(d time.Duration) bool {
	c.tb.Helper()
	deadline := time.Now().Add(d)
	for {
		switch f := c.next(deadline).(type) {
		case nil:
			return false
		case *http2.PingFrame:
			if !f.IsAck() {
				return true
			}
		case *http2.GoAwayFrame:
			c.tb.Fatalf("GOAWAY %v %q while waiting for a ping", f.ErrCode, f.DebugData())
		}
	}
}

// PingFlood sends n PINGs back to back and returns the GOAWAY the server
// answers with within d, or nil.
func (c *Conn) PingFlood(n int, d time.Duration) *http2.GoAwayFrame {
	c.tb.Helper()
	for i := range n {
		if err := c.fr.WritePing(false, [8]byte{byte(i)}); err != nil {
			break // the server may have closed already; read its GOAWAY
		}
	}
	deadline := time.Now().Add(d)
	for {
		switch f := c.next(deadline).(type) {
		case nil:
			return nil
		case *http2.GoAwayFrame:
			return f
		}
	}
}
