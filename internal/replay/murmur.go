package replay

import "github.com/cartstream/cartstream/cart"

// PartitionOf is the partition of cart id in topics of n partitions: the
// Java client's default partitioner (toPositive(murmur2(key)) % n), which is
// librdkafka's murmur2_random for a non-empty key and what every cartstream
// producer is configured with.
func PartitionOf(id cart.CartID, n int) int32 {
	if n <= 0 {
		return -1
	}
	return int32((uint32(murmur2([]byte(id))) & 0x7fffffff) % uint32(n))
}

// murmur2 is org.apache.kafka.common.utils.Utils.murmur2 in unsigned
// arithmetic (Java's >>> is a logical shift).
func murmur2(data []byte) int32 {
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
