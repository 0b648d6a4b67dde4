//go:build !linux || !cgo

package service

// trimC: only glibc's arenas are trimmed (trim_linux.go).
func trimC() {}
