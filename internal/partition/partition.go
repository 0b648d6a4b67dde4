// Package partition computes which partition a keyed record lands in, the
// way Apache Kafka's Java client does (and librdkafka with
// partitioner=murmur2_random, which every cartstream producer sets). Readers
// use it to go straight to a cart's partition: the projection checks a
// consistency token against it, replay reads one cart's partition only.
package partition

// Murmur2 is org.apache.kafka.common.utils.Utils.murmur2, in unsigned
// arithmetic (Java's >>> is a logical shift).
func Murmur2(data []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	n := len(data)
	h := seed ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := n &^ 3
	switch n % 4 {
	case 3:
		h ^= uint32(data[tail+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[tail+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[tail])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// For returns the partition of key among n partitions:
// toPositive(murmur2(key)) % n, as the Java client's default partitioner.
// n must be positive.
func For(key []byte, n int) int32 {
	if n <= 0 {
		return 0
	}
	return int32((uint32(Murmur2(key)) & 0x7fffffff) % uint32(n))
}
