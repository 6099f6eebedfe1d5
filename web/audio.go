package web

import (
	"archive/zip"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/callrec/callrec/envelope"
	"github.com/callrec/callrec/library"
	"github.com/callrec/callrec/store"
)

// maxArchiveIDs is the default bound of one archive (Server.ArchiveLimit).
const maxArchiveIDs = 500

// openAudio opens the MP3 of a ready recording (clear or sealed at rest: library.OpenMP3). A
// recording in another state is ECONFLICT on "state"; one whose file is known not to match its
// SHA-256 (and still does not: recheck), or whose sealed file does not authenticate, is a 409
// integrity_mismatch; a ready row whose file vanished is ENOTFOUND (logged: the library lost a
// file).
func (s *Server) openAudio(ctx context.Context, r *store.Recording, where string) (*library.MP3, error) {
	if r.State != store.StateReady || r.MP3Path == "" {
		return nil, store.Conflict("state", "The recording is %s, not ready.", r.State)
	}
	if r.Integrity == store.IntegrityMismatch {
		if err := s.recheck(ctx, r); err != nil {
			return nil, err
		}
	}
	m, err := library.OpenMP3(ctx, s.mp3Source(), r)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.Logger.Error().Str("recording_id", r.ID).Str("path", r.MP3Path).Msg("MP3 of a ready recording is missing")
		return nil, store.NotFound("The recording's audio is missing.")
	case errors.Is(err, envelope.ErrCorrupt), errors.Is(err, envelope.ErrNotSealed):
		return nil, s.mismatch(r, "", err.Error(), where)
	case err != nil:
		return nil, err
	}
	return m, nil
}

// audioETag is a strong validator of the MP3: the recording id and the MP3's size and file
// modification time (a re-encoded file gets a new one).
func audioETag(id string, m *library.MP3) string {
	return fmt.Sprintf(`"%s-%x-%x"`, id, m.Size, m.ModTime.UnixNano())
}

// etagMatches reports whether an If-None-Match / If-Range header value lists etag
// ("*" matches anything; weak comparison, as RFC 9110 §13.1.2 asks for If-None-Match).
func etagMatches(header, etag string) bool {
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimSpace(v)
		if v == "*" || strings.TrimPrefix(v, "W/") == etag {
			return true
		}
	}
	return false
}

// parseRange parses a single-range `Range: bytes=…` header against a file of size bytes.
// ok=false means "ignore the header and send the whole file" (absent, another unit, or several
// ranges: RFC 9110 §14.2 lets a server ignore Range). A syntactically valid range that lies
// wholly beyond the end is errRange (416).
func parseRange(h string, size int64) (start, end int64, ok bool, err error) {
	unit, spec, found := strings.Cut(strings.TrimSpace(h), "=")
	if !found || strings.TrimSpace(unit) != "bytes" || strings.Contains(spec, ",") {
		return 0, 0, false, nil
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, errRange(size)
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	switch {
	case first == "": // suffix: the last N bytes
		n, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || n <= 0 || size == 0 {
			return 0, 0, false, errRange(size)
		}
		return max(size-n, 0), size - 1, true, nil
	default:
		a, perr := strconv.ParseInt(first, 10, 64)
		if perr != nil || a < 0 || a >= size {
			return 0, 0, false, errRange(size)
		}
		b := size - 1
		if last != "" {
			b, perr = strconv.ParseInt(last, 10, 64)
			if perr != nil || b < a {
				return 0, 0, false, errRange(size)
			}
			b = min(b, size-1)
		}
		return a, b, true, nil
	}
}

func errRange(size int64) error {
	return &httpError{status: fiber.StatusRequestedRangeNotSatisfiable, code: codeRange,
		message: fmt.Sprintf("The range is not satisfiable (the file has %d bytes).", size)}
}

// contentDisposition builds an inline or attachment disposition carrying the download name
// (RFC 6266, with the RFC 5987 form for non-ASCII names).
func contentDisposition(kind, name string) string {
	return mime.FormatMediaType(kind, map[string]string{"filename": name})
}

// audio streams a recording's MP3: Range/206 for seeking, ETag with If-None-Match (304) and
// If-Range, Content-Disposition inline, or attachment with file_name when ?download=1. The file
// is checked against its SHA-256 (integrity.go: while streaming a full body, once per ETag
// before a range) and its Repr-Digest (RFC 9530) sent when the row has one.
func (s *Server) audio(c *fiber.Ctx) error {
	r, err := s.scopedRecording(c, caller(c), c.Params("id"))
	if err != nil {
		return err
	}
	if done, err := s.presignedAudio(c, r); done || err != nil {
		return err
	}
	f, err := s.openAudio(c.UserContext(), r, "audio")
	if err != nil {
		return err
	}
	size, etag := f.Size, audioETag(r.ID, f)
	c.Set(fiber.HeaderETag, etag)
	c.Set(fiber.HeaderAcceptRanges, "bytes")
	c.Set(fiber.HeaderCacheControl, "private, no-cache")
	c.Set(fiber.HeaderLastModified, f.ModTime.UTC().Format(http.TimeFormat))
	if d := reprDigest(r.SHA256); d != "" {
		c.Set("Repr-Digest", d) // of the whole representation, on 206 too (RFC 9530 §3)
	}
	name := r.FileName
	if name == "" {
		name = r.DownloadName()
	}
	kind := "inline"
	if v := c.Query("download"); v == "1" || v == "true" {
		kind = "attachment"
	}
	c.Set(fiber.HeaderContentDisposition, contentDisposition(kind, name))
	mt := r.MIME
	if mt == "" {
		mt = "audio/mpeg"
	}
	if inm := c.Get(fiber.HeaderIfNoneMatch); inm != "" && etagMatches(inm, etag) {
		f.Close()
		return c.SendStatus(fiber.StatusNotModified)
	}
	if auditPlayback(c.Get(fiber.HeaderRange)) {
		action := store.AuditPlay
		if kind == "attachment" {
			action = store.AuditDownload
		}
		if err := s.audit(c, auditEntry(c, store.AuditEntry{Action: action, CompanyID: r.CompanyID, RecordingID: r.ID})); err != nil {
			f.Close()
			return err // not served unaudited
		}
	}
	start, end, partial := int64(0), size-1, false
	if h := c.Get(fiber.HeaderRange); h != "" {
		if ir := c.Get(fiber.HeaderIfRange); ir == "" || ir == etag {
			a, b, ok, err := parseRange(h, size)
			if err != nil {
				f.Close()
				c.Set(fiber.HeaderContentRange, fmt.Sprintf("bytes */%d", size))
				return err
			}
			if ok {
				start, end, partial = a, b, true
			}
		}
	}
	if partial {
		if err := s.verifyOnce(r, f, size, etag); err != nil {
			f.Close()
			return err
		}
	}
	c.Set(fiber.HeaderContentType, mt)
	n := end - start + 1
	if partial {
		c.Status(fiber.StatusPartialContent)
		c.Set(fiber.HeaderContentRange, fmt.Sprintf("bytes %d-%d/%d", start, end, size))
	}
	if size == 0 {
		f.Close()
		return c.Send(nil)
	}
	if partial {
		c.Context().SetBodyStream(&sectionFile{SectionReader: io.NewSectionReader(f, start, n), f: f}, int(n))
		return nil
	}
	c.Context().SetBodyStream(&hashingBody{r: io.NewSectionReader(f, 0, size), c: f, h: sha256.New(), left: size,
		check:   func(sum string) error { return s.checked(r, sum, etag, "audio") },
		corrupt: func(err error) error { return s.mismatch(r, "", err.Error(), "audio") }}, int(n))
	return nil
}

// presignedAudio answers an inline playback of r with a 302 to a pre-signed URL of its object
// when the server is configured for it (PresignAudio) and r qualifies: ready, kept in the object
// store, not sealed (the object is not the MP3 then) and not flagged by the integrity check. The
// playback is audited first, as a streamed one is. done reports that the request was answered.
// A download (?download=1) is streamed, so it keeps its file name.
func (s *Server) presignedAudio(c *fiber.Ctx, r *store.Recording) (done bool, err error) {
	key, inStore := library.ObjectKey(r.MP3Path)
	if s.PresignAudio <= 0 || s.Objects == nil || !inStore || r.State != store.StateReady || r.EncryptionKeyID != "" ||
		r.Integrity != "" || c.Query("download") == "1" || c.Query("download") == "true" {
		return false, nil
	}
	url, err := s.Objects.PresignGet(c.UserContext(), key, s.PresignAudio)
	if err != nil {
		s.Logger.Warn().Err(err).Str("recording_id", r.ID).Msg("audio: no pre-signed URL; streamed instead")
		return false, nil
	}
	if auditPlayback(c.Get(fiber.HeaderRange)) {
		if err := s.audit(c, auditEntry(c, store.AuditEntry{Action: store.AuditPlay, CompanyID: r.CompanyID, RecordingID: r.ID})); err != nil {
			return true, err // not served unaudited
		}
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return true, c.Redirect(url, fiber.StatusFound)
}

// initMediaOrigin learns the origin of the pre-signed audio URLs (one signed locally, no
// request), for the page's Content-Security-Policy.
func (s *Server) initMediaOrigin() error {
	if s.PresignAudio <= 0 || s.Objects == nil {
		return nil
	}
	raw, err := s.Objects.PresignGet(context.Background(), "origin-probe.mp3", s.PresignAudio)
	if err != nil {
		return fmt.Errorf("web: pre-signed audio: %w", err)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("web: pre-signed audio URL %q has no origin", raw)
	}
	s.mediaOrigin = " " + u.Scheme + "://" + u.Host
	return nil
}

// sectionFile is a byte range of an open MP3 that closes it when fasthttp is done with the
// body stream.
type sectionFile struct {
	*io.SectionReader
	f io.Closer
}

func (s *sectionFile) Close() error { return s.f.Close() }

// archive streams a ZIP of several ready recordings (`ids` comma-separated, repeated allowed).
// A query string has a size limit (fasthttp's header buffer: ~150 ids answered 431); POST
// /recordings/archive takes the ids in its body, or a filter (archiveByBody).
func (s *Server) archive(c *fiber.Ctx) error {
	var ids []string
	for _, raw := range c.Context().QueryArgs().PeekMulti("ids") {
		ids = append(ids, strings.Split(string(raw), ",")...)
	}
	return s.archiveIDs(c, ids)
}

// archiveRequest is the body of POST /recordings/archive: exactly one of ids and filter.
type archiveRequest struct {
	IDs []string `json:"ids"`
	// Filter holds the listing's query parameters (GET /recordings) by name, with their
	// values as strings or, for min_duration_ms, a number; every match is archived (a whole
	// listing, not a page), at most ArchiveLimit of them.
	Filter map[string]any `json:"filter"`
}

// archiveFilterKeys are the listing's filter parameters a body filter may name.
var archiveFilterKeys = []string{"from", "to", "type", "trigger", "state", "caller", "callee", "number", "ddi_id", "user_id", "company_id", "min_duration_ms"}

// archiveByBody is POST /recordings/archive: ids or a filter in a JSON body.
func (s *Server) archiveByBody(c *fiber.Ctx) error {
	var req archiveRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	switch {
	case len(req.IDs) == 0 && req.Filter == nil:
		return store.Invalid("body", "give ids (recording ids) or filter (the listing's filters)")
	case len(req.IDs) > 0 && req.Filter != nil:
		return store.Invalid("body", "give ids or filter, not both")
	case req.Filter != nil:
		return s.archiveFilter(c, req.Filter)
	}
	return s.archiveIDs(c, req.IDs)
}

// archiveFilter archives every ready recording the filter matches in the caller's tenancy.
func (s *Server) archiveFilter(c *fiber.Ctx, raw map[string]any) error {
	recs, err := s.filterRecordings(c, caller(c), raw, true)
	if err != nil {
		return err
	}
	return s.streamArchive(c, "filter", recs)
}

// filterRecordings lists every recording a body filter (archiveRequest.Filter) matches in the
// caller's tenancy, newest first: the whole listing, not a page. onlyReady narrows it to ready
// recordings (a state other than ready is then EINVALID on filter.state). More than ArchiveLimit
// matches is EINVALID on "filter"; a bad filter value is EINVALID on "filter.<name>". Callers:
// the archive, its signed link and the bulk delete.
func (s *Server) filterRecordings(c *fiber.Ctx, p *principal, raw map[string]any, onlyReady bool) ([]*store.Recording, error) {
	params := map[string]string{}
	for k, v := range raw {
		if !slices.Contains(archiveFilterKeys, k) {
			return nil, store.Invalid("filter."+k, "unknown filter %q", k)
		}
		switch v := v.(type) {
		case string:
			params[k] = v
		case float64:
			params[k] = strconv.FormatFloat(v, 'f', -1, 64)
		case nil:
		default:
			return nil, store.Invalid("filter."+k, "filter.%s must be a string or a number", k)
		}
	}
	if onlyReady {
		if st := params["state"]; st != "" && st != store.StateReady {
			return nil, store.Invalid("filter.state", "only ready recordings are archived: leave state out or give ready")
		}
		params["state"] = store.StateReady
	}
	f, ok, err := recordingFilter(func(k string) string { return params[k] }, p)
	if err != nil {
		var se *store.Error
		if errors.As(err, &se) && se.Field != "" {
			se.Field = "filter." + se.Field
		}
		return nil, err
	}
	limit := orDefault(s.ArchiveLimit, maxArchiveIDs)
	var recs []*store.Recording
	f.Limit = store.MaxListLimit
	for ok {
		page, next, err := s.DB.ListRecordings(c.UserContext(), f)
		if err != nil {
			return nil, err
		}
		for _, r := range page {
			if s.recordingVisible(p, r) {
				recs = append(recs, r)
			}
		}
		if len(recs) > limit {
			return nil, store.Invalid("filter", "the filter matches more than %d recordings: narrow it (from, to)", limit)
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	return recs, nil
}

// uniqueIDs trims raw and drops blank and repeated ids, keeping the order. None left is
// EINVALID on "ids", and so is more than ArchiveLimit.
func (s *Server) uniqueIDs(raw []string) ([]string, error) {
	var ids []string
	seen := map[string]bool{}
	for _, id := range raw {
		if id = strings.TrimSpace(id); id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, store.Invalid("ids", "ids is required (comma-separated recording ids)")
	}
	if limit := orDefault(s.ArchiveLimit, maxArchiveIDs); len(ids) > limit {
		return nil, store.Invalid("ids", "at most %d recordings per request", limit)
	}
	return ids, nil
}

// archiveIDs archives the recordings named by ids (blank and repeated ids are ignored); every
// one must be the caller's and ready.
func (s *Server) archiveIDs(c *fiber.Ctx, raw []string) error {
	p := caller(c)
	ids, err := s.uniqueIDs(raw)
	if err != nil {
		return err
	}
	recs := make([]*store.Recording, 0, len(ids))
	for _, id := range ids {
		r, err := s.scopedRecording(c, p, id)
		if err != nil {
			return err
		}
		if r.State != store.StateReady || r.MP3Path == "" {
			return store.Conflict("ids", "Recording %s is %s, not ready.", r.ID, r.State)
		}
		recs = append(recs, r)
	}
	return s.streamArchive(c, "ids", recs)
}

// streamArchive checks that every recording's MP3 is there, then streams the ZIP. field names
// the request part an error refers to.
func (s *Server) streamArchive(c *fiber.Ctx, field string, recs []*store.Recording) error {
	type entry struct {
		name string
		rec  *store.Recording
	}
	entries := make([]entry, 0, len(recs))
	names := map[string]int{}
	for _, r := range recs {
		// Opened before the first byte (and closed: the stream opens it again): once
		// streaming, an error can only truncate the ZIP.
		m, err := s.openAudio(c.UserContext(), r, "archive")
		if store.ErrorCode(err) == store.ENOTFOUND {
			return store.Conflict(field, "The audio of recording %s is missing.", r.ID)
		}
		if err != nil {
			return err
		}
		m.Close()
		name := r.FileName
		if name == "" {
			name = r.DownloadName()
		}
		if k := names[name]; k > 0 {
			names[name] = k + 1
			name = fmt.Sprintf("%s_%d.mp3", strings.TrimSuffix(name, ".mp3"), k+1)
		} else {
			names[name] = 1
		}
		entries = append(entries, entry{name: name, rec: r})
	}
	audits := make([]*store.AuditEntry, 0, len(entries))
	for _, e := range entries {
		audits = append(audits, auditEntry(c, store.AuditEntry{Action: store.AuditArchive, CompanyID: e.rec.CompanyID, RecordingID: e.rec.ID}))
	}
	if err := s.audit(c, audits...); err != nil {
		return err // not archived unaudited
	}
	c.Set(fiber.HeaderContentType, "application/zip")
	c.Set(fiber.HeaderContentDisposition, contentDisposition("attachment",
		"recordings-"+time.Now().UTC().Format("20060102T150405Z")+".zip"))
	c.Set(fiber.HeaderCacheControl, "no-store")
	log := s.Logger
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		zw := zip.NewWriter(w)
		files := make([]ManifestFile, 0, len(entries))
		for _, e := range entries {
			size, sum, err := s.addFile(zw, e.name, e.rec, func(sum string) error {
				return s.checked(e.rec, sum, "", "archive") // a mismatch cuts the ZIP short
			})
			if err != nil {
				// Headers are gone already: the client sees a truncated ZIP; the log says why.
				log.Error().Err(err).Str("recording_id", e.rec.ID).Str("file", e.rec.MP3Path).Msg("archive stream aborted")
				return
			}
			files = append(files, ManifestFile{Name: e.name, RecordingID: e.rec.ID, CompanyID: e.rec.CompanyID,
				StartedAt: e.rec.StartedAt, Size: size, SHA256: sum})
			if err := w.Flush(); err != nil {
				return // client went away
			}
		}
		if err := s.addManifest(zw, files); err != nil {
			log.Error().Err(err).Msg("archive stream aborted")
			return
		}
		if err := zw.Close(); err != nil {
			log.Error().Err(err).Msg("archive close failed")
		}
		_ = w.Flush()
	})
	return nil
}

// addFile copies the MP3 of r into zw as an uncompressed entry called name and returns its
// size and hex SHA-256, hashed as it is copied and given to check before the last chunk is
// written (an error from check leaves the entry short and is returned).
func (s *Server) addFile(zw *zip.Writer, name string, r *store.Recording, check func(sum string) error) (int64, string, error) {
	m, err := library.OpenMP3(context.Background(), s.mp3Source(), r)
	if err != nil {
		return 0, "", fmt.Errorf("archive: %w", err)
	}
	defer m.Close()
	hdr := &zip.FileHeader{Name: name, Method: zip.Store, Modified: m.ModTime}
	hdr.SetMode(0o644)
	dst, err := zw.CreateHeader(hdr)
	if err != nil {
		return 0, "", fmt.Errorf("archive: %w", err)
	}
	var sum string
	src := &hashingBody{r: io.NewSectionReader(m, 0, m.Size), c: m, h: sha256.New(), left: m.Size, check: func(s string) error { sum = s; return check(s) },
		corrupt: func(err error) error { return s.mismatch(r, "", err.Error(), "archive") }}
	n, err := io.Copy(dst, src)
	if err != nil {
		return 0, "", fmt.Errorf("archive %s: %w", name, err)
	}
	if sum == "" { // an empty file: nothing was read to hash
		sum = hex.EncodeToString(src.h.Sum(nil))
		if err := check(sum); err != nil {
			return 0, "", err
		}
	}
	return n, sum, nil
}
