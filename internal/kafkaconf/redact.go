package kafkaconf

import (
	"context"
	"fmt"
	"log/slog"
)

// RedactHandler wraps h so that no record it handles carries a secret of
// c: the message and every string, error or Stringer attribute (groups
// included) go through c.Redact. A service wraps its logger with it as soon
// as the file is loaded, so an error that quotes a configuration (from
// librdkafka, or from a wrapped error anywhere) cannot leak a password.
func RedactHandler(h slog.Handler, c Config) slog.Handler {
	if len(c.secrets()) == 0 {
		return h
	}
	return &redactHandler{h: h, c: c}
}

type redactHandler struct {
	h slog.Handler
	c Config
}

func (r *redactHandler) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

func (r *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, r.c.Redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(r.attr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

func (r *redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = r.attr(a)
	}
	return &redactHandler{h: r.h.WithAttrs(red), c: r.c}
}

func (r *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{h: r.h.WithGroup(name), c: r.c}
}

func (r *redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, r.c.Redact(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, x := range g {
			red[i] = r.attr(x)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, r.c.Redact(x.Error()))
		case fmt.Stringer:
			return slog.String(a.Key, r.c.Redact(x.String()))
		default:
			return slog.String(a.Key, r.c.Redact(fmt.Sprint(x)))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
