package service

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"
)

// EnvFlags registers flags whose defaults come from environment variables
// (the flag wins over the variable), and collects every malformed variable
// so a command can report them all at once instead of silently using the
// default.
type EnvFlags struct {
	FS *flag.FlagSet
	// Lookup reads the environment; nil means os.LookupEnv.
	Lookup func(string) (string, bool)
	errs   []error
}

func (e *EnvFlags) lookup(name string) (string, bool) {
	if e.Lookup == nil {
		return os.LookupEnv(name)
	}
	return e.Lookup(name)
}

// String registers a string flag.
func (e *EnvFlags) String(p *string, name, env, def, usage string) {
	if v, ok := e.lookup(env); ok {
		def = v
	}
	e.FS.StringVar(p, name, def, usage+" (env "+env+")")
}

// Int registers an integer flag.
func (e *EnvFlags) Int(p *int, name, env string, def int, usage string) {
	if v, ok := e.lookup(env); ok && v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s=%q: not an integer", env, v))
		} else {
			def = n
		}
	}
	e.FS.IntVar(p, name, def, usage+" (env "+env+")")
}

// Bool registers a boolean flag.
func (e *EnvFlags) Bool(p *bool, name, env string, def bool, usage string) {
	if v, ok := e.lookup(env); ok && v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s=%q: not a boolean", env, v))
		} else {
			def = b
		}
	}
	e.FS.BoolVar(p, name, def, usage+" (env "+env+")")
}

// Float64 registers a floating-point flag.
func (e *EnvFlags) Float64(p *float64, name, env string, def float64, usage string) {
	if v, ok := e.lookup(env); ok && v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s=%q: not a number", env, v))
		} else {
			def = f
		}
	}
	e.FS.Float64Var(p, name, def, usage+" (env "+env+")")
}

// Duration registers a duration flag.
func (e *EnvFlags) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	if v, ok := e.lookup(env); ok && v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s=%q: not a duration (e.g. 15s)", env, v))
		} else {
			def = d
		}
	}
	e.FS.DurationVar(p, name, def, usage+" (env "+env+")")
}

// Err reports every malformed environment variable seen so far.
func (e *EnvFlags) Err() error { return errors.Join(e.errs...) }
