package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"google.golang.org/grpc"

	"github.com/cartstream/cartstream/cart"
	keyhash "github.com/cartstream/cartstream/internal/partition"
	"github.com/cartstream/cartstream/inventory"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// StockCodec encodes stock changes for inventory.requests and decodes
// levels of inventory.stock (records.Codec implements it).
type StockCodec interface {
	EncodeInventoryRequest(r inventory.Request) ([]byte, error)
	DecodeStockLevel(value []byte) (inventory.Level, error)
}

// InventoryAdmin serves InventoryAdminService (decision 12): a stock change
// is a SetStock or AdjustStock request on inventory.requests, keyed by SKU,
// which the inventory processor applies in order with the reservations.
// GetStock reads the SKU's partition of inventory.stock (read_committed):
// an operator's call, not a hot path.
type InventoryAdmin struct {
	cartv1.UnimplementedInventoryAdminServiceServer
	Requests, Stock string // topic names
	Producer        Producer
	Codec           StockCodec
	// Client configures GetStock's reader (bootstrap.servers, security).
	Client kafka.ConfigMap
	// Now stamps the requests; default time.Now.
	Now func() time.Time
}

// Register registers the service on reg.
func (a *InventoryAdmin) Register(reg grpc.ServiceRegistrar) {
	cartv1.RegisterInventoryAdminServiceServer(reg, a)
}

// SetStock implements InventoryAdminService.
func (a *InventoryAdmin) SetStock(ctx context.Context, req *cartv1.SetStockRequest) (*cartv1.SetStockResponse, error) {
	pos, err := a.write(ctx, inventory.KindSet, req.GetSku(), req.GetRequestId(), req.GetAvailable(), "available", "")
	if err != nil {
		return nil, statusOf(err)
	}
	return &cartv1.SetStockResponse{Partition: pos.Partition, Offset: pos.Offset}, nil
}

// AdjustStock implements InventoryAdminService. The adjustment id is what
// makes a retry safe (the processor applies an id once per SKU); a call
// without one gets a fresh id here, so each such call is an adjustment of
// its own.
func (a *InventoryAdmin) AdjustStock(ctx context.Context, req *cartv1.AdjustStockRequest) (*cartv1.AdjustStockResponse, error) {
	id := inventory.AdjustmentID(req.GetAdjustmentId())
	if id == "" {
		var err error
		if id, err = newAdjustmentID(); err != nil {
			return nil, statusOf(fmt.Errorf("%w: %w", ErrUnavailable, err))
		}
	}
	pos, err := a.write(ctx, inventory.KindAdjust, req.GetSku(), req.GetRequestId(), req.GetDelta(), "delta", id)
	if err != nil {
		return nil, statusOf(err)
	}
	return &cartv1.AdjustStockResponse{Partition: pos.Partition, Offset: pos.Offset, AdjustmentId: string(id)}, nil
}

// newAdjustmentID makes the id of an adjustment whose client sent none.
func newAdjustmentID() (inventory.AdjustmentID, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("adjustment id: %w", err)
	}
	return inventory.AdjustmentID("gw-" + hex.EncodeToString(b[:])), nil
}

func (a *InventoryAdmin) write(ctx context.Context, kind inventory.Kind, sku, requestID string, units int64, field string, adjustmentID inventory.AdjustmentID) (Position, error) {
	if err := requireOperator(ctx); err != nil {
		return Position{}, err
	}
	var vs []cart.FieldViolation
	if cart.SKU(sku).Validate() != nil {
		vs = append(vs, cart.FieldViolation{Field: "sku", Description: "must be 1 to 64 characters of A-Z a-z 0-9 . _ -"})
	}
	if cart.RequestID(requestID).Validate() != nil {
		vs = append(vs, cart.FieldViolation{Field: "request_id", Description: "must be 1 to 64 characters of A-Z a-z 0-9 . _ -"})
	}
	if adjustmentID != "" && adjustmentID.Validate() != nil {
		vs = append(vs, cart.FieldViolation{Field: "adjustment_id", Description: "must be 1 to 64 characters of A-Z a-z 0-9 . _ -"})
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	r := inventory.Request{Kind: kind, RequestID: cart.RequestID(requestID), SKU: cart.SKU(sku), RequestedAt: now(), Units: units, AdjustmentID: adjustmentID}
	if len(vs) == 0 && r.Validate() != nil {
		vs = append(vs, cart.FieldViolation{Field: field, Description: fmt.Sprintf("out of range (at most %d in size; a stock count is never negative)", int64(inventory.MaxUnits))})
	}
	if len(vs) > 0 {
		return Position{}, &cart.ValidationError{Violations: vs}
	}
	value, err := a.Codec.EncodeInventoryRequest(r)
	if err != nil {
		return Position{}, fmt.Errorf("encode %v of %s: %w", kind, sku, err)
	}
	pos, err := a.Producer.Produce(ctx, Record{Topic: a.Requests, Key: []byte(sku), Value: value, Headers: []Header{
		{Key: "request-id", Value: []byte(requestID)}, {Key: "event-type", Value: []byte(stockEventType(kind))},
	}})
	if err != nil {
		return Position{}, fmt.Errorf("write %v of %s: %w", kind, sku, err)
	}
	return pos, nil
}

func stockEventType(k inventory.Kind) string {
	if k == inventory.KindSet {
		return "SetStock"
	}
	return "AdjustStock"
}

// ErrNoStock is a SKU without a stock level: not tracked.
var ErrNoStock = fmt.Errorf("%w: the sku has no stock level (not tracked)", ErrNotFound)

// GetStock implements InventoryAdminService.
func (a *InventoryAdmin) GetStock(ctx context.Context, req *cartv1.GetStockRequest) (*cartv1.GetStockResponse, error) {
	if err := requireOperator(ctx); err != nil {
		return nil, statusOf(err)
	}
	sku := cart.SKU(req.GetSku())
	if err := sku.Validate(); err != nil {
		return nil, statusOf(err)
	}
	l, ok, err := a.readLevel(ctx, sku)
	if err != nil {
		return nil, statusOf(fmt.Errorf("%w: read %s: %w", ErrUnavailable, a.Stock, err))
	}
	if !ok {
		return nil, statusOf(ErrNoStock)
	}
	return &cartv1.GetStockResponse{Stock: &cartv1.StockLevel{Sku: string(l.SKU), Available: l.Available, Reserved: l.Reserved, Version: l.Version}}, nil
}

// readLevel reads the SKU's partition of the stock topic to its end.
func (a *InventoryAdmin) readLevel(ctx context.Context, sku cart.SKU) (inventory.Level, bool, error) {
	cm := maps.Clone(a.Client)
	maps.Copy(cm, kafka.ConfigMap{"group.id": "cartstream-gateway-stock", "enable.auto.commit": false, "isolation.level": "read_committed", "enable.partition.eof": true})
	cons, err := kafka.NewConsumer(&cm)
	if err != nil {
		return inventory.Level{}, false, err
	}
	defer cons.Close()
	md, err := cons.GetMetadata(&a.Stock, false, 5000)
	if err != nil {
		return inventory.Level{}, false, err
	}
	n := len(md.Topics[a.Stock].Partitions)
	if n == 0 {
		return inventory.Level{}, false, errors.New("topic has no partitions")
	}
	if err := cons.Assign([]kafka.TopicPartition{{Topic: &a.Stock, Partition: keyhash.For([]byte(sku), n), Offset: kafka.OffsetBeginning}}); err != nil {
		return inventory.Level{}, false, err
	}
	var l inventory.Level
	found := false
	for ctx.Err() == nil {
		switch e := cons.Poll(100).(type) {
		case *kafka.Message:
			if string(e.Key) != string(sku) {
				continue
			}
			if e.Value == nil {
				found = false
				continue
			}
			if v, err := a.Codec.DecodeStockLevel(e.Value); err == nil {
				l, found = v, true
			}
		case kafka.PartitionEOF:
			return l, found, nil
		case kafka.Error:
			if e.IsFatal() {
				return inventory.Level{}, false, e
			}
		}
	}
	return inventory.Level{}, false, ctx.Err()
}
