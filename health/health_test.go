package health

import (
	"errors"
	"testing"
)

func TestRegistry_UpDownFatal(t *testing.T) {
	tests := []struct {
		name string
		do   func(r *Registry)
		want []Problem
	}{
		{"empty is ready", func(r *Registry) {}, []Problem{}},
		{"up", func(r *Registry) { r.Up(HTTP) }, []Problem{}},
		{"down names the part and the reason", func(r *Registry) {
			r.Up(HTTP)
			r.Down(ESLListener, errors.New("accept: too many open files"))
		}, []Problem{{ESLListener, "accept: too many open files"}}},
		{"down then up", func(r *Registry) { r.Down(Node("a:1"), nil); r.Up(Node("a:1")) }, []Problem{}},
		{"sorted", func(r *Registry) { r.Down(Node("b:1"), nil); r.Down(AudioWorker, nil) },
			[]Problem{{AudioWorker, "down"}, {Node("b:1"), "down"}}},
		{"removed", func(r *Registry) { r.Down(Node("b:1"), nil); r.Remove(Node("b:1")) }, []Problem{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New()
			tt.do(r)
			got := r.Problems()
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestRegistry_FatalDeliveredOnce(t *testing.T) {
	r := New()
	r.Fatal(AudioWorker, errors.New("library read-only"))
	r.Fatal(HTTP, errors.New("second"))
	err := <-r.Failed()
	if err == nil || err.Error() != "audio_worker: library read-only" {
		t.Fatalf("got %v", err)
	}
	select {
	case err := <-r.Failed():
		t.Fatalf("second fatal delivered: %v", err)
	default:
	}
	if p := r.Problems(); len(p) != 2 {
		t.Fatalf("problems %v", p)
	}
}
