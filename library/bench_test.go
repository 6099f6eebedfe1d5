package library

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/callrec/callrec/audio"
)

// BenchmarkWorker_Job compares one whole job (claim, encode, marker, rename, directory fsyncs,
// store commit, WAV removal) with the bare encode of the same 10 s 8 kHz mono WAV, so the
// worker's own overhead per recording shows as the difference. The store runs with NoSync;
// the MP3 and directory fsyncs are real.
//
//	go test -run '^$' -bench Worker_Job -benchtime 20x ./library
func BenchmarkWorker_Job(b *testing.B) {
	const frames = 8000 * 10
	b.Run("encode only", func(b *testing.B) {
		dir := b.TempDir()
		wav := filepath.Join(dir, "in.wav")
		writeWAV(b, wav, 8000, 1, frames)
		enc := audio.NewShineEncoder(0)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := audio.EncodeFile(context.Background(), enc, wav, filepath.Join(dir, "out.mp3")); err != nil {
				b.Fatal(err)
			}
		}
		report(b, frames/8000)
	})
	b.Run("worker job", func(b *testing.B) {
		e := mustOpenEnv(b)
		for i := 0; i < b.N; i++ {
			e.queueWAV(b, 8000, 1, frames)
		}
		w := e.worker()
		c, err := w.config()
		must(b, err)
		must(b, w.recover(context.Background(), c))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if did, err := w.step(context.Background(), c); !did || err != nil {
				b.Fatalf("step %d: %v %v", i, did, err)
			}
		}
		report(b, frames/8000)
	})
}

func report(b *testing.B, audioSeconds int) {
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/job")
	b.ReportMetric(float64(audioSeconds)/per.Seconds(), "xRT")
}
