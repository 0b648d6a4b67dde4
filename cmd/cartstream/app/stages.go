package app

import (
	"errors"
	"net"
)

// stages is Run's stop runner: each step that starts something adds its
// stop, and stopAll runs them in reverse order, joining their errors.
type stages struct{ stops []func() error }

func (s *stages) add(stop func() error) { s.stops = append(s.stops, stop) }

func (s *stages) stopAll() error {
	var err error
	for i := len(s.stops) - 1; i >= 0; i-- {
		err = errors.Join(err, s.stops[i]())
	}
	s.stops = nil
	return err
}

// listeners are the ports New bound that no server owns yet; a step that
// hands one to its server sets it to nil.
type listeners struct{ grpc, http net.Listener }

// closeUnowned closes what Run never handed over (a failed start).
func (l *listeners) closeUnowned() {
	for _, lis := range []net.Listener{l.grpc, l.http} {
		if lis != nil {
			_ = lis.Close()
		}
	}
}
