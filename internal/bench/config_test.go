package bench

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaultsValidate(t *testing.T) {
	c := Config{Brokers: "127.0.0.1:9092"}.withDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if !slices.Equal(c.Scenarios, ScenarioNames) {
		t.Errorf("scenarios %v, want all of %v", c.Scenarios, ScenarioNames)
	}
	for _, name := range []string{"drain", "e2e", "rebuild", "getcart", "wait", "replay", "recovery", "memory"} {
		if !c.runs(name) {
			t.Errorf("default run skips %s", name)
		}
		if scenarioTimeout[name] <= 0 {
			t.Errorf("scenario %s has no time bound", name)
		}
	}
}

func TestConfigRejectsUnknownScenarioAndNegatives(t *testing.T) {
	c := Config{Brokers: "b:9092", Scenarios: []string{"rebuild", "nope"}, ReplayEvents: -1, WaitDuration: -time.Second}.withDefaults()
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted an unknown scenario and negative sizes")
	}
	for _, want := range []string{`scenario "nope"`, "replay events -1", "durations must not be negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not report %q", err, want)
		}
	}
}

func TestShrinkKeepsEveryScenarioSmall(t *testing.T) {
	q := Defaults().Shrink()
	if !q.Quick || q.RebuildCarts > 10_000 || q.ReplayEvents > 20_000 || q.GetCartDuration > 3*time.Second || q.WaitDuration > 5*time.Second {
		t.Errorf("quick config too large: %+v", q)
	}
}
