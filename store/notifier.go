package store

import "sync"

// Notifier fans a "something changed" signal out to any number of subscribers without ever
// blocking the one that signals: each subscriber has a one-slot channel, and signals that find
// it full coalesce. The zero value is ready to use; safe for concurrent use. Both store backends
// announce rule changes with it (DB.Subscribe here, postgres.DB.Subscribe).
type Notifier struct {
	mu   sync.Mutex
	subs map[int]chan struct{}
	next int
}

// Subscribe returns a channel that receives a value after each Notify (coalesced) and the
// function that ends the subscription.
func (n *Notifier) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	if n.subs == nil {
		n.subs = map[int]chan struct{}{}
	}
	id := n.next
	n.next++
	n.subs[id] = ch
	n.mu.Unlock()
	return ch, func() {
		n.mu.Lock()
		delete(n.subs, id)
		n.mu.Unlock()
	}
}

// Notify wakes every subscriber; it never blocks.
func (n *Notifier) Notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ch := range n.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
