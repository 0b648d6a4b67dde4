package projection

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// tasks are goroutines that live and end together: the first to fail
// (other than by the stop) cancels the others; wait joins every failure.
type tasks struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
}

func newTasks(ctx context.Context) *tasks {
	ctx, cancel := context.WithCancel(ctx)
	return &tasks{ctx: ctx, cancel: cancel}
}

// run starts f, named in its error.
func (g *tasks) run(name string, f func(context.Context) error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := f(g.ctx); err != nil && g.ctx.Err() == nil {
			g.mu.Lock()
			g.errs = append(g.errs, fmt.Errorf("projection: %s: %w", name, err))
			g.mu.Unlock()
			g.cancel()
		}
	}()
}

// wait waits for every task and returns their failures; the tasks'
// context is cancelled then.
func (g *tasks) wait() error {
	g.wg.Wait()
	g.cancel()
	return errors.Join(g.errs...)
}
