package kafkatest

import (
	"errors"
	"testing"
)

func TestOptionsNodes(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		env     map[string]string
		want    int
		wantErr bool
	}{
		{name: "default is one node", want: 1},
		{name: "from the environment", env: map[string]string{EnvNodes: " 3 "}, want: 3},
		{name: "the option wins over the environment", opts: Options{Nodes: 1}, env: map[string]string{EnvNodes: "3"}, want: 1},
		{name: "not a number", env: map[string]string{EnvNodes: "three"}, wantErr: true},
		{name: "zero from the environment", env: map[string]string{EnvNodes: "0"}, wantErr: true},
		{name: "more than the scripts number", opts: Options{Nodes: 10}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Getenv = envOf(tt.env)
			got, err := tt.opts.withDefaults()
			if tt.wantErr {
				if err == nil {
					t.Fatalf("withDefaults = %d nodes, want an error", got.Nodes)
				}
				return
			}
			if err != nil || got.Nodes != tt.want {
				t.Fatalf("withDefaults = %d nodes, %v; want %d", got.Nodes, err, tt.want)
			}
		})
	}
}

// The lifecycle methods answer ErrUnsupported on brokers the harness did not
// start from the jars, and reject nodes outside the cluster.
func TestLifecycleUnsupported(t *testing.T) {
	c := &Cluster{Source: SourceExternal, addrs: []string{"h:1", "h:2"}}
	for name, err := range map[string]error{
		"kill":  c.KillBroker(0),
		"stop":  c.StopBroker(1),
		"start": c.StartBroker(0),
	} {
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s on an external cluster: %v, want ErrUnsupported", name, err)
		}
	}
	c.nodes = &jarNodes{}
	if err := c.KillBroker(2); err == nil || errors.Is(err, ErrUnsupported) {
		t.Errorf("KillBroker(2) on two nodes: %v, want an out-of-range error", err)
	}
	if i, err := c.NodeOf(2); err != nil || i != 1 || c.BrokerID(i) != 2 {
		t.Errorf("NodeOf(2) = %d, %v; want node 1 (broker id 2)", i, err)
	}
}

func TestOptionsSecure(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts Options
		env  map[string]string
		want bool
	}{
		{name: "plaintext by default", want: false},
		{name: "from the environment", env: map[string]string{EnvSecure: "1"}, want: true},
		{name: "anything but 1 is plaintext", env: map[string]string{EnvSecure: "yes"}, want: false},
		{name: "the option", opts: Options{Secure: true}, want: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Getenv = envOf(tt.env)
			got, err := tt.opts.withDefaults()
			if err != nil || got.Secure != tt.want {
				t.Fatalf("withDefaults: Secure = %v, %v; want %v", got.Secure, err, tt.want)
			}
		})
	}
}
