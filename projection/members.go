package projection

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// A projection group's replicas say where they are through Kafka itself:
// each writes a Member record, keyed by its id, to a compacted topic
// (DefaultMembersTopic) on every change of what it serves and every
// heartbeat, and a tombstone when it stops gracefully. Routers (the
// gateway, cartctl) and the replicas themselves read the topic whole into
// a Routes table. docs/decisions/0015-read-side-routing.md says why a topic
// rather than the group's own description.

// DefaultMembersTopic is the membership topic's name (before any prefix).
const DefaultMembersTopic = "cart.projection.members"

// Member is one replica's record in the membership topic.
type Member struct {
	// ID names the replica (the record's key); unique in the group.
	ID string `json:"id"`
	// Endpoint is the replica's gRPC address, as clients dial it.
	Endpoint string `json:"endpoint"`
	// Partitions is the cart topics' partition count the replica saw.
	Partitions int `json:"partitions"`
	// Owned are the cart.state partitions the group assigned it.
	Owned []int32 `json:"owned"`
	// Standby are partitions it follows without owning them, for failover
	// reads.
	Standby []int32 `json:"standby,omitempty"`
	// Ready are the owned and standby partitions it has caught up: it
	// answers queries for them.
	Ready []int32 `json:"ready,omitempty"`
	// Incarnation changes with every start of the replica; Seq grows with
	// every record of one incarnation.
	Incarnation string `json:"incarnation"`
	Seq         int64  `json:"seq"`
}

// encodeMember is a Member's record value. JSON: the topic is operational
// and small, read by people with kcat as much as by code.
func encodeMember(m Member) ([]byte, error) { return json.Marshal(m) }

func decodeMember(b []byte) (Member, error) {
	var m Member
	if err := json.Unmarshal(b, &m); err != nil {
		return Member{}, fmt.Errorf("projection: member record: %w", err)
	}
	if m.ID == "" || m.Endpoint == "" {
		return Member{}, fmt.Errorf("projection: member record without id or endpoint")
	}
	return m, nil
}

// seenMember is a Member with when its latest record was read here.
// Liveness is judged by this reader's clock (never the writer's), so clock
// skew between hosts does not matter.
type seenMember struct {
	Member
	seen time.Time
}

// Routes is a snapshot of the membership topic: which replica serves which
// partition. It is immutable; Candidates and Standbys are pure.
type Routes struct {
	members []seenMember // sorted by id
	ttl     time.Duration
}

// newRoutes builds a table of ms; a member not heard of for ttl is
// presumed dead (a replica killed without its tombstone).
func newRoutes(ms []seenMember, ttl time.Duration) Routes {
	ms = slices.Clone(ms)
	slices.SortFunc(ms, func(a, b seenMember) int { return cmp.Compare(a.ID, b.ID) })
	return Routes{members: ms, ttl: ttl}
}

func (r Routes) alive(m seenMember, now time.Time) bool {
	return r.ttl <= 0 || now.Sub(m.seen) <= r.ttl
}

// Partitions is the partition count the live members report (the highest,
// should they disagree during a repartition); 0 if none does.
func (r Routes) Partitions(now time.Time) int {
	n := 0
	for _, m := range r.members {
		if r.alive(m, now) {
			n = max(n, m.Partitions)
		}
	}
	return n
}

// Members returns the live members, sorted by id.
func (r Routes) Members(now time.Time) []Member {
	var out []Member
	for _, m := range r.members {
		if r.alive(m, now) {
			out = append(out, m.Member)
		}
	}
	return out
}

// rank orders the replicas that may answer for a partition: the owner that
// has caught up, then a caught-up standby, then an owner or standby still
// catching up (it answers UNAVAILABLE until it is there, so it is tried
// last). Replicas that claim nothing of the partition are not candidates.
func rank(m Member, part int32) (int, bool) {
	owned, standby, ready := slices.Contains(m.Owned, part), slices.Contains(m.Standby, part), slices.Contains(m.Ready, part)
	switch {
	case owned && ready:
		return 0, true
	case standby && ready:
		return 1, true
	case owned:
		return 2, true
	case standby:
		return 3, true
	}
	return 0, false
}

// Candidates returns the endpoints to ask for partition part, best first:
// see rank; within a rank the member heard of most recently first (during
// a handover two live members may claim a partition; the newer claim is
// the group's latest word).
func (r Routes) Candidates(part int32, now time.Time) []string {
	type cand struct {
		rank int
		m    seenMember
	}
	var cs []cand
	for _, m := range r.members {
		if !r.alive(m, now) {
			continue
		}
		if k, ok := rank(m.Member, part); ok {
			cs = append(cs, cand{k, m})
		}
	}
	slices.SortStableFunc(cs, func(a, b cand) int {
		if c := cmp.Compare(a.rank, b.rank); c != 0 {
			return c
		}
		return b.m.seen.Compare(a.m.seen)
	})
	var out []string
	for _, c := range cs {
		if !slices.Contains(out, c.m.Endpoint) {
			out = append(out, c.m.Endpoint)
		}
	}
	return out
}

// Owner returns the endpoint of the live member that owns part, if any.
func (r Routes) Owner(part int32, now time.Time) (string, bool) {
	for _, ep := range r.Candidates(part, now) {
		for _, m := range r.members {
			if m.Endpoint == ep && slices.Contains(m.Owned, part) {
				return ep, true
			}
		}
	}
	return "", false
}

// Standbys returns the partitions replica id should follow as a standby
// when each partition is to have n standbys: the n live members after the
// partition's owner in id order (a ring), skipping the owner; for a
// partition nobody owns now, the ring starts at partition % members. Every
// replica computes the same answer from the same table, so standbys need
// no coordination beyond the membership topic. id itself counts as live.
func (r Routes) Standbys(id string, n, partitions int, now time.Time) []int32 {
	if n <= 0 || partitions <= 0 {
		return nil
	}
	ids := []string{id}
	owner := map[int32]string{}
	for _, m := range r.members {
		if !r.alive(m, now) {
			continue
		}
		if m.ID != id {
			ids = append(ids, m.ID)
		}
		for _, p := range m.Owned {
			if prev, ok := owner[p]; !ok || m.ID < prev {
				owner[p] = m.ID
			}
		}
	}
	slices.Sort(ids)
	var out []int32
	for p := range int32(partitions) {
		start := int(p) % len(ids)
		o, owned := owner[p]
		if owned {
			start = slices.Index(ids, o) + 1
			if start == 0 { // the owner is no live member: its record expired
				start = int(p) % len(ids)
			}
		}
		picked := 0
		for i := 0; i < len(ids) && picked < n; i++ {
			c := ids[(start+i)%len(ids)]
			if owned && c == o {
				continue
			}
			picked++
			if c == id {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// ReadyElsewhere reports whether a live member other than id has caught up
// partition part (as owner or standby).
func (r Routes) ReadyElsewhere(part int32, id string, now time.Time) bool {
	for _, m := range r.members {
		if m.ID != id && r.alive(m, now) && slices.Contains(m.Ready, part) {
			return true
		}
	}
	return false
}
