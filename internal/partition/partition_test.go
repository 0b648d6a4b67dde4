package partition

import "testing"

// Kafka's own vectors (clients/src/test/.../UtilsTest.testMurmur2).
func TestMurmur2MatchesKafka(t *testing.T) {
	for s, want := range map[string]int32{
		"21": -973932308, "foobar": -790332482, "a-little-bit-long-string": -985981536,
		"a-little-bit-longer-string": -1486304829, "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971, "abc": 479470107,
	} {
		if got := Murmur2([]byte(s)); got != want {
			t.Errorf("Murmur2(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestForStaysInRange(t *testing.T) {
	for _, n := range []int{1, 7, 12} {
		for i := range 1000 {
			if p := For([]byte{byte(i), byte(i >> 8), 0xff}, n); p < 0 || int(p) >= n {
				t.Fatalf("For(_, %d) = %d", n, p)
			}
		}
	}
	if For([]byte("x"), 0) != 0 {
		t.Fatal("For with no partitions must not panic or divide by zero")
	}
}
