package projection

import (
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/cartstream/cartstream/cart"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// The proto mapping of history: one outcome record read back from Kafka
// becomes one cartv1.HistoryEntry.

// historyEntry maps one outcome record. The command's position comes from
// the cart's request window while the command is still in it.
func (p *Projection) historyEntry(m *kafka.Message, pk histPick, snap cart.Snapshot) (*cartv1.HistoryEntry, error) {
	tp := m.TopicPartition
	he := &cartv1.HistoryEntry{
		EventType:      header(m, "event-type"),
		RecordPosition: &cartv1.RecordPosition{Topic: *tp.Topic, Partition: tp.Partition, Offset: int64(tp.Offset)},
		RecordTime:     timestampPB(m.Timestamp),
		CartVersion:    pk.version,
	}
	position := func(match func(cart.RequestOutcome) bool, id cart.RequestID) {
		if o, ok := snap.Lookup(id); ok && match(o) {
			he.RequestPosition = &cartv1.ConsistencyToken{Partition: tp.Partition, Offset: o.Offset}
		}
	}
	if !pk.ref.rejected() {
		ev, err := p.cfg.Records.DecodeValidated(m.Value)
		if err != nil {
			return nil, err
		}
		meta := ev.Meta()
		he.RequestId, he.RequestTime = string(meta.RequestID), timestampPB(meta.RequestedAt)
		if he.EventType == "" {
			he.EventType = ev.EventType().String()
		}
		position(func(o cart.RequestOutcome) bool { return o.Accepted && o.CartVersion == meta.Version }, meta.RequestID)
		switch e := ev.(type) {
		case cart.AddItemValidatedRequest:
			he.Detail = &cartv1.HistoryEntry_ItemAdded{ItemAdded: &cartv1.ItemAdded{
				Sku: string(e.SKU), Name: e.Name, Quantity: e.Quantity, UnitPrice: moneyPB(e.UnitPrice), CustomerId: string(e.CustomerID),
			}}
		case cart.RemoveItemValidatedRequest:
			he.Detail = &cartv1.HistoryEntry_ItemRemoved{ItemRemoved: &cartv1.ItemRemoved{Sku: string(e.SKU)}}
		case cart.ChangeQuantityValidatedRequest:
			he.Detail = &cartv1.HistoryEntry_QuantityChanged{QuantityChanged: &cartv1.QuantityChanged{Sku: string(e.SKU), Quantity: e.Quantity}}
		case cart.CartCheckedOut:
			he.Detail = &cartv1.HistoryEntry_CheckedOut{CheckedOut: &cartv1.CheckedOut{
				CustomerId: string(e.CustomerID), Subtotal: moneyPB(e.Subtotal), ItemCount: int32(min(e.ItemCount, 1<<31-1)),
			}}
		default:
			setLifecycleDetail(he, ev)
		}
		return he, nil
	}
	inv, err := p.cfg.Records.DecodeInvalid(m.Value)
	if err != nil {
		return nil, err
	}
	he.RequestId, he.RequestTime = string(inv.RequestID), timestampPB(inv.RequestedAt)
	if he.EventType == "" {
		he.EventType = inv.EventType().String()
	}
	if inv.RequestID != "" && inv.Rejection.Reason != cart.ReasonDuplicateRequest {
		position(func(o cart.RequestOutcome) bool {
			return !o.Accepted && o.Reason == inv.Rejection.Reason && o.Kind == inv.Kind
		}, inv.RequestID)
	}
	he.Detail = &cartv1.HistoryEntry_Rejected{Rejected: rejectionPB(inv.Rejection)}
	return he, nil
}

func header(m *kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// setLifecycleDetail maps the cart lifecycle's events; any other leaves
// the detail unset.
func setLifecycleDetail(he *cartv1.HistoryEntry, ev cart.Event) {
	switch e := ev.(type) {
	case cart.CartCleared:
		he.Detail = &cartv1.HistoryEntry_CartCleared{CartCleared: &cartv1.CartCleared{}}
	case cart.CartExpired:
		he.Detail = &cartv1.HistoryEntry_CartExpired{CartExpired: &cartv1.CartExpired{IdleSince: timestampPB(e.IdleSince)}}
	case cart.CartMerged:
		var n int64
		for _, l := range e.Lines {
			n += int64(l.Quantity)
		}
		he.Detail = &cartv1.HistoryEntry_CartMerged{CartMerged: &cartv1.CartMerged{
			TargetCartId: string(e.TargetCartID), CustomerId: string(e.CustomerID), ItemCount: int32(min(n, 1<<31-1)),
		}}
	case cart.CartMergeReturned:
		he.Detail = &cartv1.HistoryEntry_MergeReturned{MergeReturned: &cartv1.MergeReturned{
			TargetCartId: string(e.TargetCartID), Reason: reasonPB(e.Reason), Lines: linesPB(e.Lines),
		}}
	case cart.CartMergedInto:
		dropped := make([]string, len(e.Dropped))
		for i, s := range e.Dropped {
			dropped[i] = string(s)
		}
		he.Detail = &cartv1.HistoryEntry_MergedInto{MergedInto: &cartv1.MergedInto{
			SourceCartId: string(e.SourceCartID), Lines: linesPB(e.Lines), DroppedSkus: dropped,
		}}
	}
}
