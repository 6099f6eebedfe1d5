// Package audio turns the WAV files FreeSWITCH's uuid_record writes into MP3s
// and measures them exactly.
//
// It reads PCM16 WAV at any FreeSWITCH sample rate, mono or stereo, including
// files whose RIFF/data sizes were never patched because FreeSWITCH died
// (REFERENCE.md §2; SPEC.md §3.3), encodes them with the pure-Go shine encoder
// (the default; see DECISION.md) or with the `lame` program (a measurement
// reference only), and reports the exact duration (WAV frames / sample rate)
// and size of the result.
//
// The package does no file management beyond reading the WAV and writing the
// MP3 path it is given: atomic renames, queueing and retries belong to the
// worker that calls it.
package audio
