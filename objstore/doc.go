// Package objstore stores callrec's finished recordings (and other library files: archives,
// manifests) behind one interface, Store, with two backends: Dir, a local directory (the
// default), and S3, a bucket on any S3-compatible server (AWS S3, MinIO, Ceph RGW, versitygw).
// Keys are slash-separated relative names that ValidKey checks on every call, so a bad key is
// an error (ErrInvalidKey), never a path outside the library. A missing object is ErrNotExist on
// both; every error wraps its cause.
//
// What each backend guarantees:
//
// Durability. Dir.Put writes a temp file under Root/.tmp, fsyncs it, renames it into place
// (creating and fsyncing missing parent directories) and fsyncs the directory: once Put returns
// the object survives a crash or power loss of this host. S3.Put returns after the PUT, or the
// CompleteMultipartUpload, has been acknowledged: the object is then as durable as the server
// makes it (AWS S3 stores it redundantly before acknowledging; a self-hosted server only as much
// as its own disks and replication). A failed or cancelled Put leaves no temp file and no
// multipart upload (it is aborted), and an object already under the key stays as it was.
//
// Consistency. Both are read-after-write consistent for Put, Delete and List (AWS S3 has been
// strongly consistent since December 2020; MinIO, Ceph RGW and versitygw are too). A Put
// replaces an object atomically: readers see the old one or the whole new one. An open Object
// keeps reading what it opened on Dir (the old file's inode); on S3 every read is a GET
// conditional on the ETag seen at Open, so it fails with ErrChanged rather than mix versions.
//
// What reads cost. Dir reads are local file reads. On S3, Open is one HEAD (the size and ETag),
// and reads are ranged GETs through one cached window: a read at a new position fetches exactly
// the bytes asked for (an HTTP Range request of 100 bytes is a 100-byte GET, whatever the
// object's size); reads that continue sequentially double the window up to S3Config.ReadAhead
// (1 MiB by default), so streaming a whole object costs about size/ReadAhead GETs plus a few.
// Each GET is one round trip to the server; S3 providers bill per request.
//
// Pre-signed URLs. S3.PresignGet signs a GET for a TTL, locally (no request), so a browser can
// fetch the object from the server directly; Dir returns ErrNotSupported.
//
// Multipart. S3.Put holds up to S3Config.MultipartThreshold bytes (16 MiB) in memory and sends
// them as one PUT; a larger object goes as a multipart upload of S3Config.PartSize parts, one
// part in memory at a time, each with a CRC32 the server checks (unless ChecksumWhenRequired).
//
// Package objstore/s3test starts a real versitygw on loopback for tests.
package objstore
