package replay

import (
	"github.com/cartstream/cartstream/cart"
	"github.com/cartstream/cartstream/internal/partition"
)

// PartitionOf is the partition of cart id in topics of n partitions, as
// every cartstream producer places it (internal/partition); -1 for n <= 0.
func PartitionOf(id cart.CartID, n int) int32 {
	if n <= 0 {
		return -1
	}
	return partition.For([]byte(id), n)
}
