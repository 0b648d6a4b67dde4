//go:build !linux || !cgo

package memrelease

// trimC: only glibc's arenas are trimmed (trim_linux.go).
func trimC() {}
