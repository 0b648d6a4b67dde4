package projection

// The two-topic merge: a cart's history is its events (cart.validated) and
// its rejections (cart.invalid), each list in its topic's order, merged by
// histRef.before. A page is picked straight from the cursor, so it costs
// O(page size) whatever the history's length.

// histPick is one entry of a page before its record is read.
type histPick struct {
	ref     histRef
	version int64 // the cart's version after this entry
}

// histPage is a page picked from the index.
type histPage struct {
	picks []histPick
	// next is the cursor after the page; more says whether anything is
	// there now.
	next histCursor
	more bool
	// truncated: evicted entries lie between the cursor asked for (or the
	// history's start) and the page.
	truncated bool
}

// page picks up to size entries from cur. A cursor behind what the index
// keeps (its entries were evicted) starts at the oldest kept entry and the
// page says truncated. ok is false for a cursor past the index's end: not
// a token of this cart's history.
func (h *histIndex) page(cur histCursor, size int) (pg histPage, ok bool) {
	if cur.events > h.events.end() || cur.rejections > h.rejections.end() {
		return histPage{}, false
	}
	if old := h.oldest(); cur.events < old.events || cur.rejections < old.rejections {
		cur = histCursor{events: max(cur.events, old.events), rejections: max(cur.rejections, old.rejections), version: max(cur.version, old.version)}
		pg.truncated = true
	}
	e, r := &h.events, &h.rejections
	i, j, ver := cur.events, cur.rejections, cur.version
	pg.picks = make([]histPick, 0, min(size, e.end()-i+r.end()-j))
	for len(pg.picks) < size && (i < e.end() || j < r.end()) {
		if j >= r.end() || (i < e.end() && !r.at(j).before(e.at(i))) {
			ver = e.at(i).version
			pg.picks = append(pg.picks, histPick{ref: e.at(i), version: ver})
			i++
		} else {
			pg.picks = append(pg.picks, histPick{ref: r.at(j), version: ver})
			j++
		}
	}
	pg.next = histCursor{events: i, rejections: j, version: ver}
	pg.more = i < e.end() || j < r.end()
	return pg, true
}
