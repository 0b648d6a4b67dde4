package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/cartstream/cartstream/cart"
)

func TestParsePeerStats(t *testing.T) {
	at := time.Unix(10, 0)
	s, ok := parsePeerStats("PEER STATS commits=12 accepted=900 rejected=100 duplicates=1 stale=0 malformed=2", at)
	if !ok {
		t.Fatal("a well-formed line did not parse")
	}
	want := peerStats{at: at, Commits: 12, Accepted: 900, Rejected: 100, Duplicates: 1, Malformed: 2}
	if s != want {
		t.Fatalf("got %+v, want %+v", s, want)
	}
	for _, bad := range []string{"PEER RUNNING", "PEER STATS commits=x", "PEER STATS bogus=1", "PEER STATS commits"} {
		if _, ok := parsePeerStats(bad, at); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestEventDigestIgnoresDecisionTime(t *testing.T) {
	ev := cart.AddItemValidatedRequest{CartID: "c1", RequestID: "r1", Version: 1, DecidedAt: time.Unix(1, 0),
		CustomerID: "u", SKU: "S", Name: "n", UnitPrice: cart.Money{Amount: 5, Currency: "EUR"}, Quantity: 2}
	later := ev
	later.DecidedAt = time.Unix(2, 0)
	if eventDigest(ev) != eventDigest(later) {
		t.Error("two decisions of the same event at different times differ")
	}
	other := ev
	other.Version = 2
	if eventDigest(ev) == eventDigest(other) {
		t.Error("events of different versions have the same digest")
	}
}

func TestCompareOutcomes(t *testing.T) {
	acc := outcome{Accepted: true, EventType: "AddItemValidatedRequest", Detail: "e", Count: 1}
	rej := func(r cart.Reason) outcome {
		return outcome{Reason: r, EventType: "AddItemInvalidRequest", Detail: "cart c kind AddItem", Count: 1}
	}
	manager := map[string]outcome{"a": acc, "b": rej(cart.ReasonUnknownSKU), "c": acc, "d": acc}
	peer := map[string]outcome{"a": acc, "b": rej(cart.ReasonInactiveSKU), "c": {Accepted: true, EventType: acc.EventType, Detail: "e", Count: 2}, "e": acc}
	a := compareOutcomes(manager, peer)
	if a.Requests != 5 || a.Mismatches != 4 {
		t.Fatalf("requests %d, mismatches %d; want 5, 4 (%v)", a.Requests, a.Mismatches, a.Examples)
	}
	for i, want := range []string{"request b: manager: rejected UNKNOWN_SKU", "request c: outcome records: manager 1, peer 2", "request d: ", "request e: manager: none"} {
		if !strings.HasPrefix(a.Examples[i], want) {
			t.Errorf("example %d: %q, want prefix %q", i, a.Examples[i], want)
		}
	}
	if a.ManagerAccepted != 3 || a.ManagerRejected != 1 || a.PeerAccepted != 3 || a.PeerRejected != 1 {
		t.Errorf("counts %+v", a)
	}
	if same := compareOutcomes(manager, manager); same.Mismatches != 0 {
		t.Errorf("a side disagrees with itself: %v", same.Examples)
	}
}

func TestPeerVerdicts(t *testing.T) {
	lat := func(system string, ms int, p99 float64) PeerLatency {
		return PeerLatency{System: system, CommitIntervalMs: ms, Outcome: Percentiles{P99: p99}}
	}
	r := &PeerResult{RatioTarget: PeerDrainTarget, P99ShareTarget: PeerP99ShareTarget,
		Manager: DrainRun{Rate: 3000, SteadyRate: 4000},
		Peers:   []PeerDrain{{CommitIntervalMs: 100, Run: DrainRun{Rate: 1500, SteadyRate: 2000}}, {CommitIntervalMs: 10, Run: DrainRun{Rate: 1000}}},
		Latency: []PeerLatency{lat("manager", 0, 20), lat("peer", 100, 150), lat("peer", 10, 19)},
	}
	r.verdicts()
	if r.Ratio != 2 || !r.RatioPass || r.SteadyRatio != 2 {
		t.Errorf("ratio %v (steady %v) pass %t: want 2 against the faster peer", r.Ratio, r.SteadyRatio, r.RatioPass)
	}
	if !r.DefaultP99Pass {
		t.Error("20 ms against 150 ms is within a fifth")
	}
	if r.FastP99Pass {
		t.Error("20 ms is not below 19 ms")
	}
	r.Latency[1].Missing = 1
	r.DefaultP99Pass = false
	r.verdicts()
	if r.DefaultP99Pass {
		t.Error("a run with missing outcomes passed")
	}
}

func TestCompareSnapshots(t *testing.T) {
	var a PeerAgreement
	compareSnapshots(&a, map[string]string{"c1": "s", "c2": "s"}, map[string]string{"c1": "s", "c2": "t", "c3": "s"})
	if a.Carts != 3 || a.CartMismatches != 2 || len(a.Examples) != 2 {
		t.Fatalf("carts %d, mismatches %d, examples %v; want 3, 2, 2", a.Carts, a.CartMismatches, a.Examples)
	}
	if !strings.HasPrefix(a.Examples[1], "cart c3: manager's snapshot none") {
		t.Errorf("example %q", a.Examples[1])
	}
}
