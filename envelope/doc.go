// Package envelope encrypts recordings at rest with envelope keys (issue 15 item 6).
//
// Three layers:
//
//   - A master key ring (MasterRing): 32-byte AES-256 keys in one file next to the store
//     (DATA/master.key, mode 0600), the newest one current. The ring only ever wraps data
//     keys; no recording is encrypted with it. Rotation adds a key to the ring and rewraps every
//     data key with it (cheap: no recording is rewritten); an older master key stays in the
//     file until no data key needs it.
//   - Data keys (DEKs): one current 32-byte key per company, kept in the store only wrapped
//     (AES-256-GCM under a master key, bound to the company and the key id as additional data,
//     so a wrapped key moved to another company or id does not unwrap). A company's rotation
//     makes a new current key; files written before keep theirs, which stays readable.
//   - Sealed files (NewWriter, OpenReader): an MP3 encrypted with a key derived per file
//     from the data key and a random 32-byte salt (HKDF-SHA-256), in chunks of 64 KiB, each
//     sealed with AES-256-GCM under a nonce made of the chunk's index and a flag marking the
//     last chunk (the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár, 2015).
//     A chunk read out of place, a file cut short at a chunk boundary, a changed header and a
//     flipped bit all fail to open. A Range request decrypts only the chunks it touches.
//
// The layout of a sealed file:
//
//	magic   "CRAE" (4 bytes) and version 1 (1 byte)
//	key id  length (1 byte, 1 to 64) and the data key's id (ASCII)
//	salt    32 random bytes
//	chunks  each min(64 KiB, rest) bytes of MP3 sealed (+16 bytes of tag); the last one may
//	        be shorter, even empty, and is sealed with the last flag
//
// The header is the additional data of every chunk. Its size and the file's size give the
// plaintext's size without reading the chunks; OpenReader authenticates the last chunk at
// once, so a size it reports is never the size of a truncated file.
//
// Callers: package library (the worker writes sealed files, Keys holds the ring and caches
// unwrapped data keys) and, through it, the web server and the hash backfill when they read.
package envelope
