package esl

import (
	"testing"
	"time"

	"github.com/callrec/callrec/dialplan"
	"github.com/callrec/callrec/store"
)

// BenchmarkSessionPublish is what every handled event costs a followed call for GET /calls: one
// snapshot of a call with two legs (one a user's) and one running recording.
func BenchmarkSessionPublish(b *testing.B) {
	s := &Session{
		info:    callInfo{UUID: "7c987d17-f093-4882-8b55-5f81cb3d49d9", Direction: dialplan.DirectionInbound},
		company: &store.Company{ID: "01JNB00000000000000C0MPANY"},
		ddi:     &store.DDI{ID: "01JNB000000000000000000DD1"},
		legs: map[string]*legInfo{
			"a": {uuid: "a"},
			"b": {uuid: "b", user: &store.User{ID: "01JNB0000000000000000PH0NE"}},
		},
		recs:      map[string]*activeRec{"/spool/x.wav": {id: "01JNB000000000000000000REC", typ: store.TypeDDI, trigger: store.TriggerDDI, startedAt: time.Now()}},
		startedAt: time.Now(),
	}
	b.ReportAllocs()
	for b.Loop() {
		s.publish()
	}
}
