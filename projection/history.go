package projection

import (
	"context"
	"fmt"

	"github.com/cartstream/cartstream/cart"
	cartv1 "github.com/cartstream/cartstream/proto/cartstream/cart/v1"
)

// GetCartHistory's path: the index picks the page (history_index.go,
// history_merge.go), the fetcher reads its records back from Kafka
// (history_fetch.go), each record becomes an entry (history_pb.go). Page
// tokens are in history_cursor.go.

// HistoryPage is one page of a cart's history.
type HistoryPage struct {
	// Entries, oldest first.
	Entries []*cartv1.HistoryEntry
	// NextToken is the next page's token; "" when there is nothing more now.
	NextToken string
	// Truncated: entries before this page (after the previous one, for a
	// page asked for with a token) were evicted from the index
	// (Config.MaxHistoryPerCart) and are not returned.
	Truncated bool
}

// History returns one page of the cart's history, oldest first. It costs
// O(size) in memory and index work, whatever the history's length.
func (p *Projection) History(ctx context.Context, id cart.CartID, size int, pageToken string) (HistoryPage, error) {
	if err := id.Validate(); err != nil {
		return HistoryPage{}, err
	}
	cur, err := parseHistToken(pageToken, id)
	if err != nil {
		return HistoryPage{}, err
	}
	if !isReady(p.histReady) {
		return HistoryPage{}, fmt.Errorf("%w: the history index is loading", ErrNotReady)
	}
	_, _, sh, err := p.shardOf(id)
	if err != nil {
		return HistoryPage{}, err
	}
	pg, snap, err := pickPage(sh, id, cur, size)
	if err != nil {
		return HistoryPage{}, err
	}
	entries, err := p.readPage(ctx, sh.partition, pg.picks, snap)
	if err != nil {
		return HistoryPage{}, err
	}
	out := HistoryPage{Entries: entries, Truncated: pg.truncated}
	if pg.more {
		out.NextToken = pg.next.token(id)
	}
	return out, nil
}

// pickPage picks the page under the shard's read lock, with the snapshot
// whose window gives the entries' request positions.
func pickPage(sh *shard, id cart.CartID, cur histCursor, size int) (histPage, cart.Snapshot, error) {
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	e := sh.carts[id]
	if e == nil || (!e.has && e.hist.len() == 0 && !e.hist.truncated()) {
		return histPage{}, cart.Snapshot{}, fmt.Errorf("%w: cart %s", ErrNotFound, id)
	}
	h := e.hist
	if h == nil {
		h = &histIndex{} // a cart with a snapshot and no history yet
	}
	pg, ok := h.page(cur, size)
	if !ok {
		return histPage{}, cart.Snapshot{}, errBadHistToken()
	}
	return pg, e.snap, nil
}

// readPage reads the picked records back from Kafka and maps them.
func (p *Projection) readPage(ctx context.Context, partition int32, picks []histPick, snap cart.Snapshot) ([]*cartv1.HistoryEntry, error) {
	wants := make([]fetchPos, len(picks))
	for k, pk := range picks {
		topic := p.cfg.Topics.Validated
		if pk.ref.rejected() {
			topic = p.cfg.Topics.Invalid
		}
		wants[k] = fetchPos{topic: topic, partition: partition, offset: pk.ref.offset}
	}
	msgs, err := p.fetch.fetch(ctx, wants)
	if err != nil {
		return nil, err
	}
	out := make([]*cartv1.HistoryEntry, 0, len(picks))
	for k, pk := range picks {
		w := wants[k]
		m := msgs[w]
		if m == nil {
			return nil, fmt.Errorf("%w: %s/%d@%d not found", ErrFetch, w.topic, w.partition, w.offset)
		}
		he, err := p.historyEntry(m, pk, snap)
		if err != nil {
			return nil, fmt.Errorf("%w: %s/%d@%d: %w", ErrFetch, w.topic, w.partition, w.offset, err)
		}
		out = append(out, he)
	}
	return out, nil
}
