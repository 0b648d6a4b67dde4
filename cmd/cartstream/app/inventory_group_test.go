package app

import (
	"testing"

	"github.com/cartstream/cartstream/inventory/processor"
	"github.com/cartstream/cartstream/validation"
)

// Regression: every one-process backend joined the inventory group
// cartstream-inventory, so a second deployment on the same broker (another
// topic prefix, another manager group) was handed the first one's
// inventory.requests partitions and its checkouts never decided.
func TestInventoryGroupFollowsTheManagerGroup(t *testing.T) {
	if g := inventoryGroup(validation.DefaultGroupID); g != processor.DefaultGroupID {
		t.Errorf("default deployment: inventory group %q, want %q", g, processor.DefaultGroupID)
	}
	if a, b := inventoryGroup("shop1-manager"), inventoryGroup("shop2-manager"); a == b || a == processor.DefaultGroupID {
		t.Errorf("two deployments share the inventory group %q / %q", a, b)
	}
}
