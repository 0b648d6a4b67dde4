package validation

import (
	"fmt"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
)

// EventTypeOrderPlaced is the event-type header of an orders record.
const EventTypeOrderPlaced = "OrderPlaced"

// placeOrder adds the OrderPlaced of an accepted checkout to the batch: in
// the same transaction as its CartCheckedOut, so a downstream service sees
// the order exactly when the checkout is committed, once, and never for a
// checkout that was aborted or rejected. It is keyed by order id and
// partitioned by the producer (murmur2, like the Java client), not
// co-partitioned with carts: an order service scales on its own key.
func (w *worker) placeOrder(b *batchTxn, ev cart.CartCheckedOut, trace string, requestOffset kafka.Offset) error {
	o := cart.OrderOf(ev)
	value, err := w.m.cfg.Records.EncodeOrder(o)
	if err != nil {
		return fmt.Errorf("%w: encode order of cart %s: %w", errSessionFatal, ev.CartID, err)
	}
	hdrs := outcomeHeaders(string(ev.RequestID), EventTypeOrderPlaced, trace, requestOffset)
	b.add(w.m.cfg.Topics.Orders, kafka.PartitionAny, []byte(o.OrderID), value, hdrs)
	b.tally.orders++
	return nil
}
