// Package memrelease gives a process's free memory back to the operating
// system: the Go heap's (a forced collection, then the free spans) and the
// C heap's, where librdkafka's freed fetch and produce buffers stay mapped
// in glibc's arenas. A service calls it once a burst is over (a rebuild, a
// drained backlog), never per request: each call is a full collection.
package memrelease

import "runtime/debug"

// Release collects garbage and returns free memory of both heaps to the
// OS.
func Release() {
	debug.FreeOSMemory()
	trimC()
}
