//go:build linux && cgo

package memrelease

// #include <malloc.h>
import "C"

// trimC hands the C heap's free memory back to the OS: librdkafka's
// buffers of a burst (fetched and produced records) are freed into glibc's
// arenas, which keep them mapped (malloc_trim(3) releases free pages in
// every arena, not only at the heap's top).
func trimC() { C.malloc_trim(0) }
