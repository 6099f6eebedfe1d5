// Package health is the readiness registry: the parts of callrec (the ESL listener, the HTTP side,
// each inbound node connection, the audio worker) report whether they work, /readyz reads it, and
// a part that cannot be restored tells serve to end the process. It depends on no other package of
// callrec.
package health

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Part names used by callrec; a node's part is Node(addr).
const (
	ESLListener = "esl_listener"
	HTTP        = "http"
	AudioWorker = "audio_worker"
	// Store is a shared store's connection state (PostgreSQL: the rule-change listener and this
	// instance's liveness lock).
	Store = "store"
)

// Node is the part name of the inbound connection to the FreeSWITCH node at addr.
func Node(addr string) string { return "node " + addr }

// Problem is one part that is down, and why.
type Problem struct {
	Part   string `json:"part"`
	Reason string `json:"reason"`
}

// Registry holds the state of each part. The zero value is not usable: call New. It is safe for
// concurrent use by any number of reporters and readers.
type Registry struct {
	mu    sync.Mutex
	down  map[string]string // part → reason; a part is up when it is known and not here
	known map[string]bool
	fatal chan error
	once  sync.Once
}

// New returns an empty registry: ready until a part reports Down.
func New() *Registry {
	return &Registry{down: map[string]string{}, known: map[string]bool{}, fatal: make(chan error, 1)}
}

// Up reports that part works (again). Any goroutine may call it.
func (r *Registry) Up(part string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.known[part] = true
	delete(r.down, part)
}

// Down reports that part does not work now, because of err (nil: "down"). The part is expected
// to recover and report Up; /readyz answers 503 meanwhile.
func (r *Registry) Down(part string, err error) {
	reason := "down"
	if err != nil {
		reason = err.Error()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.known[part] = true
	r.down[part] = reason
}

// Fatal reports that part is down and cannot be restored: the first such report is delivered on
// Failed, so the process ends and its supervisor restarts it.
func (r *Registry) Fatal(part string, err error) {
	if err == nil {
		err = errors.New("stopped")
	}
	r.Down(part, err)
	r.once.Do(func() { r.fatal <- fmt.Errorf("%s: %w", part, err) })
}

// Failed delivers the first Fatal report (once).
func (r *Registry) Failed() <-chan error { return r.fatal }

// Remove forgets part (a node taken out of the configuration).
func (r *Registry) Remove(part string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.known, part)
	delete(r.down, part)
}

// Problems lists the parts that are down, sorted by name; empty when every part is up.
func (r *Registry) Problems() []Problem {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Problem, 0, len(r.down))
	for p, why := range r.down {
		out = append(out, Problem{Part: p, Reason: why})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Part < out[j].Part })
	return out
}
