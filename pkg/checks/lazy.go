package checks

import (
	"context"
	"sync"
	"sync/atomic"
)

// lazy holds a value fetched on first use. Concurrent callers wait for the
// one fetch; a failed fetch is not remembered, so the next caller tries
// again.
type lazy[T any] struct {
	mu   sync.Mutex
	done bool
	val  T
}

func (l *lazy[T]) get(ctx context.Context, fetch func(context.Context) (T, error)) (T, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return l.val, nil
	}
	v, err := fetch(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	l.val, l.done = v, true
	return v, nil
}

// current returns the value if it has been fetched, without fetching it.
func (l *lazy[T]) current() (T, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.val, l.done
}

// reset forgets the value, so that a retried check sees the cluster anew.
func (l *lazy[T]) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	var zero T
	l.val, l.done = zero, false
}

type resetter interface{ reset() }

// fresh makes every attempt of run after the first forget the values in
// uses first: a retried check must see the cluster as it is now, not as an
// earlier attempt (or another check) found it.
func fresh(run func(context.Context) error, uses ...resetter) func(context.Context) error {
	var calls atomic.Int32
	return func(ctx context.Context) error {
		if calls.Add(1) > 1 {
			for _, u := range uses {
				u.reset()
			}
		}
		return run(ctx)
	}
}

// resetFunc lets fresh run a function to forget state.
type resetFunc func()

func (f resetFunc) reset() { f() }
