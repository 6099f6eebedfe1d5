// Package library is the recording library: it turns the WAVs FreeSWITCH leaves in the spool
// into MP3s under library_dir, and keeps each company's library within its retention_days and
// quota_mb (SPEC.md §3.3).
//
// Worker drains the store's durable queue. For each job it encodes the WAV with an
// audio.Encoder into library_dir/.tmp, renames the complete file to
// library_dir/<company>/<yyyy>/<mm>/<recording-id>.mp3, fsyncs the directory, marks the row
// ready and acks the job in one store transaction (store.DB.CompleteRecording), and only then
// removes the WAV. Sweeper removes recordings past retention and, above the quota, the oldest
// first.
//
// # Crash safety
//
// A SIGKILL at any point loses nothing:
//   - the MP3 gets its final name only when complete and fsynced, and the row becomes ready only
//     after that rename, so a ready row always has its whole MP3 and a half-written file is
//     never served (partial files live only in library_dir/.tmp, emptied at start-up);
//   - the job leaves the queue in the same transaction that makes the row ready, so an
//     interrupted job is claimed again and redone (re-encoding overwrites an MP3 left by the
//     dead attempt); Run also clears the leases a dead process held, so redoing starts at once;
//   - between the rename and the WAV's removal a small marker file in library_dir/.inflight
//     names the job's WAV and MP3. At start-up Run settles every marker: a ready row gets its
//     WAV removed, a row that vanished or ended failed/discarded gets its orphan MP3 removed.
//
// # Missing WAVs
//
// FreeSWITCH deletes a recording shorter than RECORD_MIN_SEC, and an empty one, before it
// fires RECORD_STOP (REFERENCE.md "RECORD_MIN_SEC"), so a job may point at a WAV that never
// arrives. On the same host the file is complete before RECORD_STOP; on a shared mount (the
// bigger set-ups of SPEC.md §3.3) another host may see it late — NFS caches directory
// attributes for up to 60 s by default (acdirmax). The worker therefore waits
// Worker.MissingWAVGrace (default 2 minutes) from the moment the job was queued, retrying with
// back-off without spending attempts. A WAV still absent then ends the row "failed" (visible
// to admins) with an error naming the path callrec looked at: FreeSWITCH's own discards are
// booked from its RECORD_STOP (RECORD_DISCARDED) and never reach the worker, so an absent file
// means FreeSWITCH wrote it elsewhere or not at all. A WAV that exists but holds no audio frame
// (the header-only file FreeSWITCH leaves when it dies) ends "discarded" (hidden from default
// listings), saying so, and is removed.
package library
