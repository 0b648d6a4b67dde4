package projection

import (
	"slices"
	"testing"
	"time"
)

func seen(m Member, at time.Time) seenMember { return seenMember{Member: m, seen: at} }

func TestRoutesCandidatesPreferReadyOwnerThenStandby(t *testing.T) {
	now := time.Unix(1000, 0)
	r := newRoutes([]seenMember{
		seen(Member{ID: "a", Endpoint: "a:1", Partitions: 4, Owned: []int32{0, 1}, Standby: []int32{2}, Ready: []int32{0, 1, 2}}, now),
		seen(Member{ID: "b", Endpoint: "b:1", Partitions: 4, Owned: []int32{2, 3}, Standby: []int32{0}, Ready: []int32{3, 0}}, now),
		seen(Member{ID: "c", Endpoint: "c:1", Partitions: 4, Standby: []int32{1}}, now),
	}, 10*time.Second)
	cases := []struct {
		part int32
		want []string
	}{
		{0, []string{"a:1", "b:1"}}, // ready owner, ready standby
		{1, []string{"a:1", "c:1"}}, // ready owner, standby still catching up
		{2, []string{"a:1", "b:1"}}, // ready standby before an owner catching up
		{3, []string{"b:1"}},
	}
	for _, c := range cases {
		if got := r.Candidates(c.part, now); !slices.Equal(got, c.want) {
			t.Errorf("partition %d: candidates %v, want %v", c.part, got, c.want)
		}
	}
	if n := r.Partitions(now); n != 4 {
		t.Errorf("partitions %d, want 4", n)
	}
}

// A replica killed with SIGKILL leaves its record behind: once it is not
// heard of for the TTL, it is no candidate, and while two claim a
// partition the newer claim goes first.
func TestRoutesExpireSilentMembersAndPreferTheNewerClaim(t *testing.T) {
	now := time.Unix(1000, 0)
	r := newRoutes([]seenMember{
		seen(Member{ID: "dead", Endpoint: "d:1", Partitions: 2, Owned: []int32{0}, Ready: []int32{0}}, now.Add(-5*time.Second)),
		seen(Member{ID: "new", Endpoint: "n:1", Partitions: 2, Owned: []int32{0, 1}, Ready: []int32{0, 1}}, now),
	}, 10*time.Second)
	if got := r.Candidates(0, now); !slices.Equal(got, []string{"n:1", "d:1"}) {
		t.Errorf("during the handover: %v, want the newer claim first", got)
	}
	later := now.Add(8 * time.Second)
	if got := r.Candidates(0, later); !slices.Equal(got, []string{"n:1"}) {
		t.Errorf("after the TTL: %v, want the silent member gone", got)
	}
	if ep, ok := r.Owner(0, later); !ok || ep != "n:1" {
		t.Errorf("owner %q %v", ep, ok)
	}
	if !r.ReadyElsewhere(0, "dead", later) || r.ReadyElsewhere(0, "new", later) {
		t.Errorf("ready elsewhere: only the live other member counts")
	}
	if got := r.Members(later); len(got) != 1 || got[0].ID != "new" {
		t.Errorf("members %v", got)
	}
}

func TestRoutesStandbysFollowTheOwnerOnTheRing(t *testing.T) {
	now := time.Unix(1000, 0)
	r := newRoutes([]seenMember{
		seen(Member{ID: "a", Endpoint: "a:1", Partitions: 6, Owned: []int32{0, 1}}, now),
		seen(Member{ID: "b", Endpoint: "b:1", Partitions: 6, Owned: []int32{2, 3}}, now),
		seen(Member{ID: "c", Endpoint: "c:1", Partitions: 6, Owned: []int32{4}}, now),
	}, 10*time.Second)
	// Partition 5 has no owner now: its ring starts at 5 % 3, at c.
	want := map[string][]int32{"a": {4}, "b": {0, 1}, "c": {2, 3, 5}}
	all := map[int32]int{}
	for id, w := range want {
		got := r.Standbys(id, 1, 6, now)
		if !slices.Equal(got, w) {
			t.Errorf("%s: standbys %v, want %v", id, got, w)
		}
		for _, p := range got {
			all[p]++
		}
	}
	for p := range int32(6) {
		if all[p] != 1 {
			t.Errorf("partition %d has %d standbys, want 1", p, all[p])
		}
	}
	// Two standbys each: every member but the owner.
	if got := r.Standbys("a", 2, 6, now); !slices.Equal(got, []int32{2, 3, 4, 5}) {
		t.Errorf("a with 2 standbys: %v", got)
	}
	if got := r.Standbys("a", 0, 6, now); got != nil {
		t.Errorf("no standbys asked: %v", got)
	}
}

func TestMemberRecordRoundTrip(t *testing.T) {
	m := Member{ID: "r1", Endpoint: "127.0.0.1:1", Partitions: 3, Owned: []int32{1}, Ready: []int32{1}, Incarnation: "x", Seq: 2}
	b, err := encodeMember(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeMember(b)
	if err != nil || got.ID != m.ID || !slices.Equal(got.Owned, m.Owned) || got.Seq != 2 {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, bad := range []string{"", "{", `{"id":"x"}`, `{"endpoint":"e"}`} {
		if _, err := decodeMember([]byte(bad)); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}
